"""ApiDocsFunction: the committed OpenAPI document and Swagger UI, without a CDN and without heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.apidocs import handler as docs


def _get(path, query=None, method="GET"):
    event = {
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}},
    }
    if query:
        event["queryStringParameters"] = query
    return docs.handler(event, None)


def test_openapi_json_is_the_committed_document():
    response = _get("/openapi.json")
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["body"] == docs.SPEC_PATH.read_text(encoding="utf-8")
    assert json.loads(response["body"])["info"]["title"] == "MallCRM API"


def test_docs_page_loads_swagger_ui_from_the_same_route():
    response = _get("/docs")
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/html")
    page = response["body"]
    assert 'src="docs?asset=swagger-ui.js"' in page
    assert 'href="docs?asset=swagger-ui.css"' in page
    assert 'url: "openapi.json"' in page
    assert "cdn" not in page.lower()


@pytest.mark.parametrize(
    ("asset", "content_type"), [("swagger-ui.js", "application/javascript"), ("swagger-ui.css", "text/css")]
)
def test_swagger_assets_come_from_the_installed_powertools(asset, content_type):
    response = _get("/docs", {"asset": asset})
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith(content_type)
    assert response["headers"]["cache-control"] == "public, max-age=86400"
    assert len(response["body"]) > 100_000


def test_unknown_paths_assets_and_methods_are_404s_in_the_error_shape():
    for response in (
        _get("/nope"),
        _get("/docs", {"asset": "../../secrets"}),
        _get("/openapi.json", method="POST"),
    ):
        assert response["statusCode"] == 404
        assert json.loads(response["body"])["error"]["code"] == "not_found"


def test_without_the_bundled_assets_the_page_falls_back_to_a_cdn(monkeypatch):
    monkeypatch.setattr(docs, "_swagger_dir", lambda: None)
    docs._page.cache_clear()
    docs._asset.cache_clear()
    try:
        assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in _get("/docs")["body"]
        assert _get("/docs", {"asset": "swagger-ui.js"})["statusCode"] == 404
    finally:
        docs._page.cache_clear()
        docs._asset.cache_clear()


def test_the_handler_module_is_import_light():
    code = (
        "import sys, infra.apidocs.handler;"
        "heavy=('aws_lambda_powertools','pydantic','boto3','botocore');"
        "heavy=[m for m in sys.modules if m.split('.')[0] in heavy];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
