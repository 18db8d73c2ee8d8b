"""Interactive API documentation (Swagger UI) at ``/docs``, off unless configured.

A token is pasted into this page, so no third-party script may run on it: FastAPI's own
page loads Swagger UI from a public CDN, unpinned and without integrity, and starts it
with an inline script. Here the page is ours and its assets are served by the app itself,
from the ``swagger-ui-bundle`` package (``pip install 'hitmachine[docs]'``), started by a
script file of ours; the page carries the same Content-Security-Policy and other headers
as every web page (``hitmachine.http.web.middleware``), so even an injected script could not
run or send the token elsewhere. Without ``HITMACHINE_API_DOCS`` (or without the package)
there is no ``/docs``; ``/openapi.json`` and the committed ``openapi/openapi.json`` stay.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

log = logging.getLogger("hitmachine.http.api")

ASSETS = {"swagger-ui.css": "text/css; charset=utf-8",
          "swagger-ui-bundle.js": "text/javascript; charset=utf-8"}
INIT_JS = """\
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: false,
    queryConfigEnabled: false
  });
});
"""
PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hitmachine API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"""


def assets_dir() -> Path | None:
    """Where the installed Swagger UI's files are, if the package is installed."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(swagger_ui_bundle.swagger_ui_path)
    return path if all((path / name).is_file() for name in ASSETS) else None


def install(app: FastAPI) -> bool:
    """Serve ``/docs`` from local assets; False (and a log line) when they are missing."""
    directory = assets_dir()
    if directory is None:
        log.warning("HITMACHINE_API_DOCS is set, but Swagger UI is not installed "
                    "(pip install 'hitmachine[docs]'); /docs stays off")
        return False

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> Response:
        return HTMLResponse(PAGE)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name == "init.js":
            return Response(INIT_JS, media_type="text/javascript; charset=utf-8")
        if name not in ASSETS:  # only the two files the page uses, nothing else there
            raise HTTPException(404)
        return FileResponse(directory / name, media_type=ASSETS[name])

    return True


__all__ = ["INIT_JS", "PAGE", "assets_dir", "install"]
