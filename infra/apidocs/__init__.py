"""The API's documentation: `GET /openapi.json` and `GET /docs` (ApiDocsFunction).

`python -m infra.apidocs.generate` merges the services' OpenAPI documents into `openapi.json`
(committed; `--check` fails when it drifts); `infra.apidocs.handler.handler` serves it.
"""
