"""The HTTP side of every service: a ``shared.web`` resolver whose errors all speak DESIGN §9.

``make_resolver()`` returns a :class:`shared.web.Resolver` (HTTP API, payload 2.0) with request
validation on (path, query and body parameters injected by signature; the OpenAPI document is
generated from the same declarations by ``infra/apidocs/generate.py``) and one mapping from
failures to ``{"error": {"code", "message", "fields"}}``:

=============================================  ======  ======================
failure                                        status  code
=============================================  ======  ======================
:class:`shared.errors.MallCrmError`            its own its own
body is not JSON                               400     ``malformed_json``
request fails validation                       422     ``validation_failed``
unsupported ``Content-Type``                   415     ``unsupported_media_type``
no route for the path                          404     ``route_not_found``
path exists, method does not                   405     ``method_not_allowed``
anything else                                  5xx     logged, then re-raised
=============================================  ======  ======================

Validation messages never echo the input (it may be a phone number); unhandled exceptions are
re-raised, never turned into a 200 or a stack trace: the invocation fails and API Gateway answers
502 with its own ``{"message": "Internal Server Error"}``, no detail (the local front door: 502 with
the code ``bad_gateway``). ``infra/apidocs`` publishes these bodies as the ``Error`` and ``GatewayError``
schemas of the OpenAPI document.

The request path no longer goes through Powertools' event handler (its import cost 70-110 ms of
every API cold start; docs/decisions.md, 2026-11-23); ``shared.web`` keeps the same responses,
error ``loc`` format and CORS headers. Powertools' own ``ServiceError``s are not mapped: raise a
:class:`shared.errors.MallCrmError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import MallCrmError, error_body
from shared.observability import get_logger, redact_text
from shared.web import (
    APPLICATION_JSON,
    CORSConfig,
    RequestValidationError,
    Resolver,
    Response,
    RouteNotFound,
    UnsupportedContentType,
)

__all__ = [
    "DEFAULT_CORS_ALLOW_HEADERS",
    "json_response",
    "make_resolver",
    "validation_fields",
]

DEFAULT_CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id"]

_LONG_DIGITS = re.compile(r"\d{6,}")


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    """A JSON ``Response`` with ``status`` (for 201s, 202s and error bodies built by hand)."""
    return Response(
        status_code=status,
        content_type=APPLICATION_JSON,
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


def default_cors() -> CORSConfig:
    """CORS for the staff console: any origin (tokens are bearer headers, not cookies)."""
    return CORSConfig(allow_origin="*", allow_headers=DEFAULT_CORS_ALLOW_HEADERS, max_age=600)


def make_resolver(
    *,
    cors: CORSConfig | None = None,
    strip_prefixes: list[str] | None = None,
    validation: bool = True,
) -> Resolver:
    """A :class:`shared.web.Resolver` with MallCRM's error mapping and CORS.

    ``validation`` turns on parameter injection: typed path, query and body parameters are
    validated (pydantic, compiled when a route is first called) and passed to the route, and a bad
    one answers 422; the route's return value is validated against its return annotation. An API
    whose routes must read the raw body — a signed integration request — passes
    ``validation=False``: routes then receive only their path parameters and validate with their
    own model.
    """
    app = Resolver(cors=cors or default_cors(), validation=validation, strip_prefixes=strip_prefixes)

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
        # A typed body, or a route that reads app.current_event.json_body itself.
        return _error_response(400, "malformed_json", "The request body is not valid JSON.")

    def _on_content_type(exc: UnsupportedContentType) -> Response[str]:
        return _error_response(415, "unsupported_media_type", "Send the body as application/json.")

    def _on_not_found(exc: RouteNotFound) -> Response[str]:
        if exc.allowed:
            return _error_response(
                405,
                "method_not_allowed",
                f"{exc.method} is not allowed on this path.",
                headers={"Allow": ", ".join(exc.allowed)},
            )
        return _error_response(404, "route_not_found", "No such route.")

    def _on_unhandled(exc: Exception) -> Response[str]:
        # Logged with our (redacting) logger, then re-raised: the invocation fails and API Gateway
        # answers a bare 502. Never a 200, never a stack trace in the response.
        get_logger().exception("unhandled error in API handler", extra={"error_type": type(exc).__name__})
        raise exc

    # Lookup walks the exception's MRO, so the most specific handler wins over Exception.
    app.exception_handler(MallCrmError)(_on_mallcrm_error)
    app.exception_handler(json.JSONDecodeError)(_on_json_error)
    app.exception_handler(RequestValidationError)(_on_validation_error)
    app.exception_handler(UnsupportedContentType)(_on_content_type)
    app.exception_handler(RouteNotFound)(_on_not_found)
    app.exception_handler(Exception)(_on_unhandled)
    return app
