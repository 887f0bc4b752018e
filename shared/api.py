"""The HTTP side of every service: a Powertools resolver whose errors all speak DESIGN §9.

``make_resolver()`` returns an ``APIGatewayHttpResolver`` (HTTP API, payload v2) with request
validation on (OpenAPI generated from the route signatures) and one mapping from failures to
``{"error": {"code", "message", "fields"}}``:

=============================================  ======  ======================
failure                                        status  code
=============================================  ======  ======================
:class:`shared.errors.MallCrmError`            its own its own
body is not JSON                               400     ``malformed_json``
request fails validation                       422     ``validation_failed``
unsupported ``Content-Type``                   415     ``unsupported_media_type``
no route for the path                          404     ``route_not_found``
path exists, method does not                   405     ``method_not_allowed``
Powertools ``ServiceError`` (``BadRequestError``…) its own by status
anything else                                  5xx     logged, then re-raised
=============================================  ======  ======================

Validation messages never echo the input (it may be a phone number); unhandled exceptions are
re-raised, never turned into a 200 or a stack trace: the gateway answers 500 without detail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.errors import MallCrmError, error_body
from shared.observability import get_logger, redact_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
    from aws_lambda_powertools.event_handler.api_gateway import CORSConfig
    from aws_lambda_powertools.event_handler.openapi.exceptions import (
        RequestUnsupportedContentType,
        RequestValidationError,
    )

__all__ = [
    "DEFAULT_CORS_ALLOW_HEADERS",
    "json_response",
    "make_resolver",
    "validation_fields",
]

DEFAULT_CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id"]

_LONG_DIGITS = re.compile(r"\d{6,}")

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    """A JSON ``Response`` with ``status`` (for 201s, 202s and error bodies built by hand)."""
    from aws_lambda_powertools.event_handler import Response, content_types  # noqa: PLC0415

    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str),
        headers=dict(headers or {}),
    )


def _error_response(
    status: int,
    code: str,
    message: str,
    fields: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    return json_response(status, error_body(code, message, fields), headers)


def _dotted(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_fields(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic/Powertools validation errors → ``[{"field": "items.0.sku", "message": ...}]``.

    Only ``loc`` and ``msg`` are used: ``input`` and ``ctx`` may contain what the client sent
    (personal data). Messages are scrubbed too (PII patterns, runs of 6+ digits), for messages of
    custom validators that quote the value; still, write validator messages that do not.
    """
    fields: list[dict[str, str]] = []
    for err in errors:
        message = _LONG_DIGITS.sub("****", redact_text(str(err.get("msg") or "Invalid value.")))
        fields.append({"field": _dotted(err.get("loc", ())), "message": message})
    return fields


def _routes(app: APIGatewayHttpResolver) -> list[Any]:
    # Powertools has no public route table; it is pinned and tests cover this use.
    return [*app._static_routes, *app._dynamic_routes]


def _route_exists(app: APIGatewayHttpResolver, method: str, path: str) -> bool:
    return any(r.method == method and r.rule.match(path) for r in _routes(app))


def _allowed_methods(app: APIGatewayHttpResolver, method: str, path: str) -> list[str]:
    """Other methods registered for ``path`` (empty when the path itself is unknown)."""
    return sorted({r.method for r in _routes(app) if r.method != method and r.rule.match(path)})


def default_cors() -> CORSConfig:
    """CORS for the staff console: any origin (tokens are bearer headers, not cookies)."""
    from aws_lambda_powertools.event_handler.api_gateway import CORSConfig  # noqa: PLC0415

    return CORSConfig(allow_origin="*", allow_headers=DEFAULT_CORS_ALLOW_HEADERS, max_age=600)


def make_resolver(
    *,
    cors: CORSConfig | None = None,
    strip_prefixes: list[str] | None = None,
    validation: bool = True,
) -> APIGatewayHttpResolver:
    """An ``APIGatewayHttpResolver`` with MallCRM's error mapping and CORS.

    ``validation`` turns on Powertools' request validation, which injects typed path, query and
    body parameters into routes and answers 422 for bad ones. It costs ~90 ms of every cold start
    (the OpenAPI/pydantic machinery), so an API whose routes take no injected parameters — a route
    that must read the raw body, like a signed integration request — passes ``validation=False``
    and validates with its own model.

    ``debug`` is forced off: Powertools' debug mode (``POWERTOOLS_DEV``) answers 500 with the
    stack trace, which must never reach a client.
    """
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver  # noqa: PLC0415
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError  # noqa: PLC0415

    app = APIGatewayHttpResolver(
        cors=cors or default_cors(),
        debug=False,
        strip_prefixes=list(strip_prefixes) if strip_prefixes else None,
        enable_validation=validation,
    )

    def _on_mallcrm_error(exc: MallCrmError) -> Response[str]:
        return _error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)

    def _on_validation_error(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error_response(400, "malformed_json", "The request body is not valid JSON.")
        return _error_response(
            422, "validation_failed", "The request did not pass validation.", validation_fields(errors)
        )

    def _on_json_error(exc: json.JSONDecodeError) -> Response[str]:
        # A route without a typed body that reads app.current_event.json_body itself.
        return _error_response(400, "malformed_json", "The request body is not valid JSON.")

    def _on_content_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return _error_response(415, "unsupported_media_type", "Send the body as application/json.")

    def _on_service_error(exc: ServiceError) -> Response[str]:
        status = int(exc.status_code)
        code = _CODES_BY_STATUS.get(status, "error" if status < 500 else "internal_error")
        message = str(exc.msg) if status < 500 else "Internal error."
        return _error_response(status, code, message)

    def _on_not_found(exc: NotFoundError) -> Response[str]:
        method = app.current_event.http_method.upper()
        path = app._remove_prefix(app.current_event.path)
        if _route_exists(app, method, path):
            # A route raised Powertools' NotFoundError itself: a missing resource, not a missing route.
            return _error_response(404, "not_found", str(exc.msg) if exc.msg else "Not found.")
        allowed = _allowed_methods(app, method, path)
        if allowed:
            return _error_response(
                405,
                "method_not_allowed",
                f"{method} is not allowed on this path.",
                headers={"Allow": ", ".join(allowed)},
            )
        return _error_response(404, "route_not_found", "No such route.")

    def _on_unhandled(exc: Exception) -> Response[str]:
        # Logged with our (redacting) logger, then re-raised: the invocation fails and API Gateway
        # answers a bare 500. Never a 200, never a stack trace in the response.
        get_logger().exception("unhandled error in API handler", extra={"error_type": type(exc).__name__})
        raise exc

    # Registered by call rather than decorator: Powertools' decorators are untyped.
    # Lookup walks the exception's MRO, so the most specific handler wins over Exception.
    app.exception_handler(MallCrmError)(_on_mallcrm_error)
    app.exception_handler(json.JSONDecodeError)(_on_json_error)
    if validation:
        from aws_lambda_powertools.event_handler.openapi import exceptions as openapi_errors  # noqa: PLC0415

        app.exception_handler(openapi_errors.RequestValidationError)(_on_validation_error)
        app.exception_handler(openapi_errors.RequestUnsupportedContentType)(_on_content_type)
    app.exception_handler(ServiceError)(_on_service_error)
    app.not_found(_on_not_found)
    app.exception_handler(Exception)(_on_unhandled)
    return app
