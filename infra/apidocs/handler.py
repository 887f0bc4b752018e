"""ApiDocsFunction: `GET /openapi.json` and `GET /docs` (Swagger UI), no authorizer.

Import-light on purpose (json and pathlib only): the committed `openapi.json` beside this file is
read once per container and served as it is. Swagger UI's script and stylesheet are the copies that
ship inside aws-lambda-powertools (pinned in the shared layer and in the dev environment), served
from the same route as `GET /docs?asset=swagger-ui.js|css` with a long cache lifetime, so neither
the local cloud nor the deployed API depends on a CDN. Should the layer ever lack them, the page
falls back to the same Swagger UI major version on jsDelivr.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["handler"]

SPEC_PATH = Path(__file__).with_name("openapi.json")
_ASSETS = {
    "swagger-ui.js": ("swagger-ui-bundle.min.js", "application/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}
_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
_CDN_FILES = {"swagger-ui.js": "swagger-ui-bundle.js", "swagger-ui.css": "swagger-ui.css"}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>MallCRM API</title>
  <link rel="stylesheet" href="{css}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{js}"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      showExtensions: true
    }});
  </script>
</body>
</html>
"""


def _swagger_dir() -> Path | None:
    spec = importlib.util.find_spec("aws_lambda_powertools")  # locates the package, does not import it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "event_handler" / "openapi" / "swagger_ui"
    return folder if all((folder / name).is_file() for name, _ in _ASSETS.values()) else None


@cache
def _spec() -> str:
    return SPEC_PATH.read_text(encoding="utf-8")


@cache
def _page() -> str:
    if _swagger_dir() is not None:
        return _PAGE.format(js="docs?asset=swagger-ui.js", css="docs?asset=swagger-ui.css")
    return _PAGE.format(
        js=f"{_CDN}/{_CDN_FILES['swagger-ui.js']}", css=f"{_CDN}/{_CDN_FILES['swagger-ui.css']}"
    )


@cache
def _asset(name: str) -> str | None:
    folder = _swagger_dir()
    if folder is None or name not in _ASSETS:
        return None
    return (folder / _ASSETS[name][0]).read_text(encoding="utf-8")


def _response(status: int, content_type: str, body: str, cache_seconds: int = 0) -> dict[str, Any]:
    cache_control = f"public, max-age={cache_seconds}" if cache_seconds else "no-cache"
    return {
        "statusCode": status,
        "headers": {"content-type": content_type, "cache-control": cache_control},
        "body": body,
    }


def _not_found(message: str) -> dict[str, Any]:
    body = {"error": {"code": "not_found", "message": message, "fields": []}}
    return _response(404, "application/json", json.dumps(body))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route on the HTTP API event's method and path (payload format 2.0)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "")
    if method not in ("GET", "HEAD"):
        return _not_found(f"No route for {method} {path}")
    if path == "/openapi.json":
        return _response(200, "application/json", _spec())
    if path == "/docs":
        asset_name = (event.get("queryStringParameters") or {}).get("asset")
        if asset_name is None:
            return _response(200, "text/html; charset=utf-8", _page())
        asset = _asset(asset_name)
        if asset is None:
            return _not_found(f"No asset {asset_name!r}")
        return _response(200, _ASSETS[asset_name][1], asset, cache_seconds=86400)
    return _not_found(f"No route for {method} {path}")
