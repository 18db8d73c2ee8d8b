"""The web pages' routers, one module per audience."""
