"""Write the whole API's OpenAPI document: `python -m infra.apidocs.generate [--check]`.

Each service that has an HTTP API (`services/<svc>/handlers/api.py` exposing a `shared.web` resolver
`app`) generates its own document from its routes: its route table is replayed, here and only here,
into a Powertools `APIGatewayHttpResolver` (our `Path`/`Query`/`Body` markers become Powertools' with
the same keyword arguments, `Response[T]` becomes Powertools' `Response[T]`), whose OpenAPI generator
does the rest, so the document is the one Powertools made when it also served the requests.
Powertools' `OpenAPIMerge` merges the services' documents (a path and method defined by two services
is an error). The gateway's side comes from `template.yaml`:
every operation behind a JWT authorizer gets its `security` requirement (and the scheme is
declared), so Swagger UI knows where to send the staff token. Operations the gateway does not
route, and gateway routes no service documents, are reported on stderr.

`--check` writes nothing and exits 1 when the committed `openapi.json` differs from what the code
generates (the drift test runs it).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import json
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.event_handler.openapi import params as powertools_params
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

from infra.localcloud.frontdoor import JwtAuthorizer, LambdaAuthorizer, Route, RouteTable, api_from_template
from infra.localcloud.template import load_template
from shared import web

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).with_name("openapi.json")
TITLE = "MallCRM API"
DESCRIPTION = (
    "The member, staff and integration API of MallCRM. Staff calls carry a Cognito token "
    "(`Authorization: Bearer <token>`); integration calls are HMAC-signed by their source system "
    "(`X-MallCRM-Source`, `X-MallCRM-Timestamp`, `X-MallCRM-Nonce`, `X-MallCRM-Signature`). "
    'Errors are `{"error": {"code", "message", "fields"}}`.'
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def service_apps(root: Path = ROOT) -> list[tuple[str, Any]]:
    """`(service, app)` for every service folder with `handlers/api.py`, in name order."""
    apps = []
    for folder in sorted((root / "services").iterdir()):
        if (folder / "handlers" / "api.py").is_file():
            module = importlib.import_module(f"services.{folder.name}.handlers.api")
            apps.append((folder.name, module.app))
    return apps


_MARKERS: dict[type[web.Param], Any] = {
    web.Path: powertools_params.Path,
    web.Query: powertools_params.Query,
    web.Body: powertools_params.Body,
}


def _translate(annotation: Any) -> Any:
    """Our markers and ``Response`` inside an annotation → Powertools' (same keyword arguments)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        translated = [_powertools_marker(m) if isinstance(m, web.Param) else m for m in extras]
        return typing.Annotated[(_translate(base), *translated)]
    if origin is web.Response:
        return PowertoolsResponse[typing.get_args(annotation)]  # type: ignore[misc]
    if annotation is web.Response:
        return PowertoolsResponse
    return annotation


def _powertools_marker(marker: web.Param) -> Any:
    kwargs = dict(marker.kwargs)
    if marker.default is not web.UNSET:
        kwargs["default"] = marker.default
    return _MARKERS[type(marker)](**kwargs)


def _documented_function(func: Any) -> Any:
    """``func`` with a resolved ``__signature__`` in Powertools' terms (annotations are strings in our
    modules; Powertools would otherwise resolve them to our marker classes, which it does not know)."""
    hints = typing.get_type_hints(func, include_extras=True)
    signature = inspect.signature(func)
    parameters = [
        p.replace(annotation=_translate(hints[p.name])) if p.name in hints else p
        for p in signature.parameters.values()
    ]
    returns = _translate(hints["return"]) if "return" in hints else inspect.Signature.empty

    @functools.wraps(func)
    def documented(*args: Any, **kwargs: Any) -> Any:  # called only by the parity tests
        result = func(*args, **kwargs)
        if isinstance(result, web.Response):
            return PowertoolsResponse(
                status_code=result.status_code, body=result.body, headers=result.headers
            )
        return result

    documented.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=returns
    )
    return documented


def powertools_app(app: web.Resolver, **resolver_options: Any) -> APIGatewayHttpResolver:
    """A Powertools resolver with ``app``'s routes, in registration order, for its OpenAPI generator
    (``resolver_options`` go to ``APIGatewayHttpResolver``; the parity tests add CORS)."""
    documented = APIGatewayHttpResolver(enable_validation=app.validation, **resolver_options)
    for route in app.routes:
        documented.route(route.rule, route.method, **route.doc)(_documented_function(route.func))
    return documented


def _version(root: Path) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return str(project["project"]["version"])


def gateway_routes(root: Path = ROOT) -> tuple[Route, ...]:
    """The HTTP API's routes as the template declares them."""
    return api_from_template(load_template(root / "template.yaml").cfn).routes


def build_document(
    apps: list[tuple[str, Any]],
    routes: tuple[Route, ...],
    *,
    version: str,
    warn: Any = None,
) -> dict[str, Any]:
    """Merge the services' documents and add the gateway's authorizers."""
    warn = warn or (lambda message: print(message, file=sys.stderr))  # noqa: T201 - a CLI's report
    merge = OpenAPIMerge(title=TITLE, version=version, description=DESCRIPTION, on_conflict="error")
    for _, app in apps:
        resolver = powertools_app(app) if isinstance(app, web.Resolver) else app
        merge.add_schema(json.loads(resolver.get_openapi_json_schema(title=TITLE, version=version)))
    doc: dict[str, Any] = json.loads(merge.get_openapi_json_schema())

    table = RouteTable(routes)
    documented: set[str] = set()
    schemes: dict[str, dict[str, Any]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in [m for m in item if m in HTTP_METHODS]:
            found = table.match(method.upper(), path)
            if found is None:
                warn(f"openapi: {method.upper()} {path} is documented but the gateway has no route for it")
                continue
            route = found[0]
            documented.add(route.key)
            # Powertools lists a router's tags in set order; sorted, the document is reproducible.
            if "tags" in item[method]:
                item[method]["tags"] = sorted(item[method]["tags"])
            if route.authorizer is not None:
                item[method]["security"] = [{route.authorizer.name: list(route.scopes)}]
                schemes[route.authorizer.name] = _security_scheme(route.authorizer)
    for route in routes:
        if route.key not in documented and route.function != "ApiDocsFunction":
            warn(f"openapi: the gateway routes {route.key} to {route.function}, which does not document it")
    if schemes:
        doc.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
    return doc


def _security_scheme(authorizer: JwtAuthorizer | LambdaAuthorizer) -> dict[str, Any]:
    if isinstance(authorizer, JwtAuthorizer):
        description = (
            "A staff token from the Cognito user pool (POST /v1/auth/staff), "
            "verified by API Gateway's JWT authorizer."
        )
    else:
        description = (
            "A member token from POST /v1/auth/wechat (or POST /v1/members after registering), "
            "verified by the members service's Lambda authorizer."
        )
    return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": description}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def generate(root: Path = ROOT) -> str:
    return render(build_document(service_apps(root), gateway_routes(root), version=_version(root)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.apidocs.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed document is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is out of date: run `make openapi` and commit it.", file=sys.stderr)  # noqa: T201
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
