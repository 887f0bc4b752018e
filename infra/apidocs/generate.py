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

A route that reads its body itself (a signed integration, the loyalty API without validation, a
provider's push) declares it with ``request_body=`` (shared.web): a model becomes a body parameter
of the replayed signature, an OpenAPI Request Body Object is used as given; a route that reads query
parameters itself declares them with ``query=`` (a model: each field becomes a ``Query()`` parameter).
Every operation lists the errors it can answer (:func:`error_responses`): the ``Error`` envelope our
functions send, and ``GatewayError`` for what API Gateway answers itself (infra/apidocs/errors.py);
the codes its code raises (infra/apidocs/raises.py) go in each response's ``x-error-codes`` and
description. Its 2xx are the statuses its code answers (``raises.success_statuses``). Every operation
has its ``security``: the gateway's authorizer, the signature its function checks (``SIGNED_BY``), or
none (a login).

`--check` writes nothing and exits 1 when the committed `openapi.json` differs from what the code
generates (the drift test runs it).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import json
import re
import sys
import tomllib
import typing
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.event_handler.openapi import params as powertools_params
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

from infra.apidocs import errors, raises
from infra.apidocs.errors import Error, GatewayError, error_content, response_ref
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
    'Errors are `{"error": {"code", "message", "fields"}}` (schema `Error`), except what API Gateway '
    'answers itself: `401 {"message":"Unauthorized"}` and `403 {"message":"Forbidden"}` from an '
    "authorizer, and its 5xx when a function or an authorizer fails (schema `GatewayError`)."
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
QUERY = "query"  # a route's query= model: the parameters it reads by hand (document only)
BODY_PARAMETER = "body"  # the signature parameter a route's request_body= model becomes (document only)
# Signed by their source: no gateway authorizer, the function answers 401 to a bad signature.
INTEGRATIONS_PREFIX = "/v1/integrations/"
CODES = "x-error-codes"  # an error response's codes (ErrorDetail.code), for clients and the tests
# Routes without a gateway authorizer that their function authenticates by a signature: the scheme
# each is documented with. A `/v1/integrations/` operation missing here stops the generation.
_SIGNED = "Checked by the function (no gateway authorizer): 401 when missing, invalid, stale or replayed."
SIGNATURE_SCHEMES: dict[str, dict[str, Any]] = {
    "IntegrationSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-MallCRM-Signature",
        "description": "Hex HMAC-SHA256 under the source system's secret over the method, path, "
        "X-MallCRM-Timestamp, X-MallCRM-Nonce and the body's SHA-256, with X-MallCRM-Source naming the "
        f"source (services/loyalty/README.md). {_SIGNED}",
    },
    "WeChatPaySignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Wechatpay-Signature",
        "description": "WeChat Pay API v3: base64 RSA-SHA256 of Wechatpay-Timestamp, Wechatpay-Nonce and "
        f"the body under the platform key named by Wechatpay-Serial. {_SIGNED}",
    },
    "WeChatPushSignature": {
        "type": "apiKey",
        "in": "query",
        "name": "signature",
        "description": "WeChat's message push: SHA-1 of the push Token, `timestamp` and `nonce`, sorted. "
        f"{_SIGNED}",
    },
}
SIGNED_BY = {
    "/v1/integrations/purchases": "IntegrationSignature",
    "/v1/integrations/refunds": "IntegrationSignature",
    "/v1/integrations/parking-sessions": "IntegrationSignature",
    "/v1/integrations/wechatpay/notifications": "WeChatPaySignature",
    "/v1/integrations/wechat/message-push": "WeChatPushSignature",
}
_RULE_PARAM = re.compile(r"<(\w+)>")
_POWERTOOLS_VALIDATION = "#/components/schemas/HTTPValidationError"
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")
# "409 reward_unavailable, reward_out_of_stock; 404 reward_not_found": a status a route's summary or
# description names, and the error codes written after it (snake_case, up to the next status or the
# end of the sentence).
_STATUS_IN_TEXT = re.compile(r"(?<![\w/.-])([45]\d\d)(?![\w/-])")
_ERROR_CODE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?![=(])")
_SENTENCE_END = re.compile(r";|\.(?:\s|$)")


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


def _documented_function(func: Any, request_body: Any = None, query: Any = None) -> Any:
    """``func`` with a resolved ``__signature__`` in Powertools' terms (annotations are strings in our
    modules; Powertools would otherwise resolve them to our marker classes, which it does not know).

    ``request_body`` (a route's ``request_body=`` model, or ``Model | None``) becomes one more body
    parameter of the signature, so Powertools documents it as it documents a typed body; ``query`` (a
    route's ``query=`` model) becomes one query parameter per field. Only for the document: the
    functions are never called with them."""
    hints = typing.get_type_hints(func, include_extras=True)
    signature = inspect.signature(func)
    parameters = [
        p.replace(annotation=_translate(hints[p.name])) if p.name in hints else p
        for p in signature.parameters.values()
    ]
    if request_body is not None:
        if BODY_PARAMETER in signature.parameters:
            raise TypeError(f"{func.__qualname__}: a parameter named {BODY_PARAMETER!r} and request_body=")
        optional = type(None) in typing.get_args(request_body)
        parameters.append(
            inspect.Parameter(
                BODY_PARAMETER,
                inspect.Parameter.KEYWORD_ONLY,
                default=None if optional else inspect.Parameter.empty,
                annotation=typing.Annotated[request_body, powertools_params.Body()],
            )
        )
    if query is not None:
        parameters.extend(_query_parameters(func, query, {p.name for p in parameters}))
        parameters.sort(key=lambda p: p.kind)  # keyword-only after the rest
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


_CONSTRAINT_NAMES = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern")


def _query_parameters(func: Any, model: Any, taken: set[str]) -> list[inspect.Parameter]:
    """A route's ``query=`` model as Powertools ``Query()`` parameters: each field's type, default,
    bounds and description (a route that reads its query by hand declares it this way)."""
    out = []
    for name, field in model.model_fields.items():
        if name in taken:
            raise TypeError(f"{func.__qualname__}: query field {name!r} is also a parameter")
        kwargs: dict[str, Any] = {"description": field.description} if field.description else {}
        for item in field.metadata:
            for constraint in _CONSTRAINT_NAMES:
                value = getattr(item, constraint, None)
                if value is not None:
                    kwargs[constraint] = value
        if field.alias:
            kwargs["alias"] = field.alias
        required = field.is_required()
        out.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if required else field.default,
                annotation=typing.Annotated[field.annotation, powertools_params.Query(**kwargs)],
            )
        )
    return out


def powertools_app(
    app: web.Resolver, *, document_bodies: bool = False, **resolver_options: Any
) -> APIGatewayHttpResolver:
    """A Powertools resolver with ``app``'s routes, in registration order, for its OpenAPI generator
    (``resolver_options`` go to ``APIGatewayHttpResolver``; the parity tests add CORS).

    ``document_bodies`` adds the models routes declare with ``request_body=`` to their signatures:
    for the document only (the parity tests, which run requests through this resolver, leave it off:
    our routes read those bodies themselves)."""
    documented = APIGatewayHttpResolver(enable_validation=app.validation, **resolver_options)
    for route in app.routes:
        body = route.request_body if document_bodies and _is_model_body(route.request_body) else None
        doc = {k: v for k, v in route.doc.items() if k != QUERY}
        query = route.doc.get(QUERY) if document_bodies else None
        if document_bodies:
            responses = _success_responses(route)
            if responses is not None:
                doc["responses"] = responses
        documented.route(route.rule, route.method, **doc)(_documented_function(route.func, body, query))
    return documented


def _success_responses(route: web.Route) -> dict[int, Any] | None:
    """``route``'s ``responses=`` with every 2xx its code answers (:func:`raises.success_statuses`);
    None to keep Powertools' default (200 with the return annotation's schema). A 2xx without
    ``content`` gets the return annotation's schema from Powertools (dropped again for a 204)."""
    declared: dict[int, Any] = dict(route.doc.get("responses") or {})
    statuses = raises.success_statuses(route.func)
    if not declared and statuses == {200}:
        return None
    for status in sorted(statuses - {int(s) for s in declared}):
        phrase = "Successful Response" if status == 200 else HTTPStatus(status).phrase
        declared[status] = {"description": phrase}
    return declared


def _is_model_body(request_body: Any) -> bool:
    """A model (or ``Model | None``) rather than an OpenAPI Request Body Object."""
    return request_body is not None and not isinstance(request_body, Mapping)


def openapi_path(rule: str) -> str:
    """``/v1/members/<member_id>`` → ``/v1/members/{member_id}``."""
    return _RULE_PARAM.sub(r"{\1}", rule)


def _raw_request_bodies(app: web.Resolver, doc: dict[str, Any]) -> None:
    """Routes whose ``request_body=`` is an OpenAPI Request Body Object (a provider's push): as given."""
    for route in app.routes:
        if route.request_body is not None and not _is_model_body(route.request_body):
            operation = doc["paths"][openapi_path(route.rule)][route.method.lower()]
            operation["requestBody"] = json.loads(json.dumps(route.request_body))


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
    ours: dict[tuple[str, str], tuple[web.Resolver, web.Route]] = {}
    for _, app in apps:
        if isinstance(app, web.Resolver):
            schema = json.loads(
                powertools_app(app, document_bodies=True).get_openapi_json_schema(
                    title=TITLE, version=version
                )
            )
            _raw_request_bodies(app, schema)
            ours.update({(r.method.lower(), openapi_path(r.rule)): (app, r) for r in app.routes})
        else:
            schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=version))
        merge.add_schema(schema)
    doc: dict[str, Any] = json.loads(merge.get_openapi_json_schema())

    table = RouteTable(routes)
    documented: set[str] = set()
    schemes: dict[str, dict[str, Any]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in [m for m in item if m in HTTP_METHODS]:
            found = table.match(method.upper(), path)
            item[method]["responses"] = error_responses(
                item[method], path, found[0] if found else None, ours.get((method, path))
            )
            if found is None:
                warn(f"openapi: {method.upper()} {path} is documented but the gateway has no route for it")
                continue
            route = found[0]
            documented.add(route.key)
            # Powertools lists a router's tags in set order; sorted, the document is reproducible.
            if "tags" in item[method]:
                item[method]["tags"] = sorted(item[method]["tags"])
            item[method]["security"] = _security(method, path, route, schemes)
    for route in routes:
        if route.key not in documented and route.function != "ApiDocsFunction":
            warn(f"openapi: the gateway routes {route.key} to {route.function}, which does not document it")
    components = doc.setdefault("components", {})
    if schemes:
        components.setdefault("securitySchemes", {}).update(schemes)
    _add_error_components(doc)
    return doc


# --------------------------------------------------------------------------------------------------
# Error responses: what each operation can answer besides success (docs/decisions.md, "The OpenAPI
# document declares every operation's error responses")
# --------------------------------------------------------------------------------------------------


def documented_statuses(text: str) -> dict[int, list[str]]:
    """The 4xx/5xx statuses a route's summary or description names, each with the error codes written
    after it: ``"404 reward_not_found; 409 reward_unavailable, ledger_busy."`` →
    ``{404: ["reward_not_found"], 409: ["reward_unavailable", "ledger_busy"]}``."""
    found: dict[int, list[str]] = {}
    matches = list(_STATUS_IN_TEXT.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        segment = _SENTENCE_END.split(text[match.end() : end], maxsplit=1)[0]
        codes = found.setdefault(int(match.group(1)), [])
        codes.extend(c for c in _ERROR_CODE.findall(segment) if c not in codes)
    return found


def _codes_text(codes: list[str]) -> str:
    return ", ".join(f"`{c}`" for c in codes)


def _error(description: str, *models: type[Any]) -> dict[str, Any]:
    return {"description": description, "content": error_content(*(models or (Error,)))}


def _gateway_refusals(route: Route) -> dict[int, tuple[str, bool]]:
    """401/403 of a route behind an authorizer: ``{status: (what happens, gateway may send it)}``."""
    function_401 = "or the function found no caller in the authorizer's context (Error `unauthenticated`)"
    if isinstance(route.authorizer, JwtAuthorizer):
        scoped = bool(route.scopes)
        return {
            401: (
                "No staff token, or an invalid or expired one: API Gateway's JWT authorizer answers "
                f'`{{"message":"Unauthorized"}}` (GatewayError); {function_401}.',
                True,
            ),
            403: (
                (
                    "The token has none of the route's scopes: API Gateway answers "
                    '`{"message":"Forbidden"}` (GatewayError). Or: '
                    if scoped
                    else ""
                )
                + "The staff member's groups do not allow this (Error `missing_role`, `staff_only`).",
                scoped,
            ),
        }
    return {
        401: (
            'No `Authorization` header: API Gateway answers `{"message":"Unauthorized"}` without calling '
            f"the authorizer (GatewayError); {function_401}.",
            True,
        ),
        403: (
            "The member token is invalid, expired or revoked: the members authorizer refuses it and API "
            'Gateway answers `{"message":"Forbidden"}` (GatewayError); or the function refuses the caller '
            "(Error `members_only`, `member_not_registered`, or a code the operation names).",
            True,
        ),
    }


def error_responses(
    operation: dict[str, Any],
    path: str,
    gateway: Route | None,
    ours: tuple[web.Resolver, web.Route] | None,
) -> dict[str, Any]:
    """``operation``'s responses with every error it can answer, each with its body's schema.

    Derived, not listed by hand: the 4xx/5xx the route declares (``responses=``) or names in its summary
    or description (with the codes after them); every error its code raises, with its code
    (:mod:`infra.apidocs.raises`); 400 ``malformed_json`` for a JSON body; 415 for a body
    the router validates; 422 for parameters or a body; 404 for a path parameter; 401/403 from the
    route's authorizer in template.yaml (GatewayError from the gateway, Error from the function); 401
    for a signed integration route; 500 when a Lambda authorizer fails; 502 when the function fails.
    """
    responses: dict[str, Any] = dict(operation.get("responses", {}))
    default_422 = responses.get("422", {}).get("content", {}).get(errors.JSON, {}).get("schema", {})
    if default_422.get("$ref") == _POWERTOOLS_VALIDATION:
        del responses["422"]  # Powertools' own: a body we never send
    success = {k: v for k, v in responses.items() if not k.startswith(("4", "5"))}
    if "204" in success:  # no body: Powertools gave it the return annotation's schema
        success["204"] = {k: v for k, v in success["204"].items() if k != "content"}
    found = _named_errors(operation, responses)
    _request_errors(operation, path, ours, found)
    _caller_errors(path, gateway, found)
    if ours is not None:
        _raised_errors(raises.codes_by_status(raises.route_errors(ours[1].func)), found)
    found.setdefault(502, response_ref("FunctionFailed"))
    return {**success, **{str(status): found[status] for status in sorted(found)}}


def _named_errors(operation: dict[str, Any], responses: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The errors the route declares in ``responses=`` or names in its summary or description."""
    declared = {int(k): v.get("description", "") for k, v in responses.items() if k.startswith(("4", "5"))}
    named = documented_statuses(f"{operation.get('summary', '')} {operation.get('description', '')}")
    found: dict[int, dict[str, Any]] = {}
    for status in sorted({*declared, *named}):
        codes = [c for c in named.get(status, []) if c not in declared.get(status, "")]
        if status in declared:
            text = declared[status] + (f" ({_codes_text(codes)})" if codes else "")
        else:
            text = HTTPStatus(status).phrase + (f": {_codes_text(codes)}" if codes else "")
        found[status] = _error(text.strip())
        if named.get(status):
            found[status][CODES] = sorted(named[status])
    return found


def _request_errors(
    operation: dict[str, Any],
    path: str,
    ours: tuple[web.Resolver, web.Route] | None,
    found: dict[int, dict[str, Any]],
) -> None:
    """What the request itself may get wrong: its body, its parameters, the id in its path."""
    body = operation.get("requestBody", {}).get("content", {})
    if ours is not None and isinstance(ours[1].request_body, Mapping):
        # A provider's format, read by the route's own parser: its 400s are its own codes.
        found.setdefault(400, _error("Bad Request: the body is not one this route can read."))
    elif errors.JSON in body:
        if 400 in found and "malformed_json" not in found[400]["description"]:
            text = found[400]["description"].rstrip(".")
            found[400]["description"] = f"{text}. Or `malformed_json`: the body is not valid JSON."
            found[400][CODES] = sorted({*found[400].get(CODES, []), "malformed_json"})
        found.setdefault(400, response_ref("MalformedJson"))
    # A typed body parameter (not request_body=) of a validating router: the router checks the type.
    if body and ours is not None and ours[0].validation and ours[1].request_body is None:
        found.setdefault(415, response_ref("UnsupportedMediaType"))
    if operation.get("parameters") or body:
        found.setdefault(422, response_ref("ValidationFailed"))
    path_names = re.findall(r"{(\w+)}", path)
    if path_names:
        found.setdefault(404, _error(f"Not found: nothing has this {', '.join(path_names)}."))


def _raised_errors(raised: dict[int, list[str]], found: dict[int, dict[str, Any]]) -> None:
    """The errors the route's code raises (:mod:`infra.apidocs.raises`), each status with its codes
    in ``x-error-codes`` and, those not written yet, in its description."""
    for status, codes in raised.items():
        response = found.get(status)
        if response is None:
            response = _error(HTTPStatus(status).phrase + ".")
        elif "$ref" in response:
            shared = errors.RESPONSES[response["$ref"].rsplit("/", 1)[-1]]
            if set(codes) <= set(shared.get(CODES, [])):
                continue  # the shared response already says it
            response = json.loads(json.dumps(shared))
        schema = response["content"][errors.JSON]["schema"]
        options = schema.get("oneOf", [schema])
        new = [c for c in codes if f"`{c}`" not in response["description"]]
        text = response["description"].rstrip(".")
        if errors.schema_ref(Error) not in options:  # a gateway-only response that the function also sends
            response["content"] = error_content(*(_model_of(o) for o in options), Error)
            text += ". Or the function's own Error"
        elif "`" in text:
            text += ". Also"
        else:
            text += ". Codes"
        if new:
            response["description"] = f"{text}: {_codes_text(new)}."
        response[CODES] = sorted({*response.get(CODES, []), *codes})
        found[status] = response


def _model_of(schema: dict[str, Any]) -> type[Any]:
    name = schema["$ref"].rsplit("/", 1)[-1]
    return next(m for m in errors.ERROR_MODELS if m.__name__ == name)


def _caller_errors(path: str, gateway: Route | None, found: dict[int, dict[str, Any]]) -> None:
    """Who may call: the route's authorizer in template.yaml, or a signature for an integration."""
    if gateway is not None and gateway.authorizer is not None:
        for status, (refusal, from_gateway) in _gateway_refusals(gateway).items():
            text = refusal
            if status in found and "$ref" not in found[status]:
                text = found[status]["description"].rstrip(".") + ". Also: " + refusal
            found[status] = _error(text, *((GatewayError, Error) if from_gateway else (Error,)))
        if isinstance(gateway.authorizer, LambdaAuthorizer):
            found.setdefault(500, response_ref("AuthorizerFailed"))
    elif path.startswith(INTEGRATIONS_PREFIX):
        found.setdefault(401, _error("The source's signature is missing, invalid, stale or replayed."))


def _add_error_components(doc: dict[str, Any]) -> None:
    """The error schemas and shared responses; Powertools' validation schemas go once nothing
    references them (its 422 body is not one we send)."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in errors.schemas().items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"openapi: a service model is named {name}, like an error schema")
        schemas[name] = schema
    components["responses"] = {**components.get("responses", {}), **errors.RESPONSES}
    for name in _POWERTOOLS_SCHEMAS:  # in this order: the first two reference ValidationError
        if name in schemas:
            rest = {
                **doc,
                "components": {**components, "schemas": {k: v for k, v in schemas.items() if k != name}},
            }
            if f'"#/components/schemas/{name}"' not in json.dumps(rest):
                del schemas[name]


def _security(method: str, path: str, route: Route, schemes: dict[str, dict[str, Any]]) -> list[Any]:
    """The operation's security requirement, its scheme added to ``schemes``: the gateway's
    authorizer, else the signature its function checks (SIGNED_BY), else none (a login)."""
    if route.authorizer is not None:
        schemes[route.authorizer.name] = _security_scheme(route.authorizer)
        return [{route.authorizer.name: list(route.scopes)}]
    if path in SIGNED_BY:
        schemes[SIGNED_BY[path]] = SIGNATURE_SCHEMES[SIGNED_BY[path]]
        return [{SIGNED_BY[path]: []}]
    if path.startswith(INTEGRATIONS_PREFIX):
        raise ValueError(f"openapi: {method.upper()} {path}: no authorizer, and no scheme in SIGNED_BY")
    return []  # public: a login


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
