"""The shells over HTTP: the API (api/), the web pages (web/), the app and server."""
