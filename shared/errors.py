"""Typed errors that map to HTTP in one place (:mod:`shared.api`), with DESIGN §9's JSON shape.

Logic raises these (or its own subclasses); handlers never build error responses by hand and
never branch on message text — the ``code`` is the machine-readable contract with the
mini-program and the console, the ``message`` is for humans and must not carry PII.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "MallCrmError",
    "NotFound",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "error_body",
]

FieldError = dict[str, str]
"""One entry of ``error.fields``: ``{"field": "items.0.sku", "message": "..."}``."""


def _field_list(fields: Iterable[Mapping[str, str]] | None) -> list[FieldError]:
    return [{"field": str(f["field"]), "message": str(f["message"])} for f in fields or ()]


def error_body(code: str, message: str, fields: Iterable[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """``{"error": {"code": ..., "message": ..., "fields": [{"field", "message"}, ...]}}``."""
    return {"error": {"code": code, "message": message, "fields": _field_list(fields)}}


class MallCrmError(Exception):
    """An error a client caused or may act on, with the HTTP ``status`` it maps to.

    Raise the subclasses (``Conflict("purchase_already_refunded", "...")``); they fix the status and
    have a default code and message. The base class takes the status explicitly for the rare
    status without a subclass. Pass a specific ``code`` whenever the client may act on it.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Iterable[Mapping[str, str]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields = _field_list(fields)
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {message}")

    def body(self) -> dict[str, Any]:
        """The JSON error body for this error."""
        return error_body(self.code, self.message, self.fields)


class _FixedStatusError(MallCrmError):
    """A :class:`MallCrmError` whose status is fixed by the class."""

    STATUS: ClassVar[int] = 400
    CODE: ClassVar[str] = "bad_request"
    MESSAGE: ClassVar[str] = "The request is not valid."

    def __init__(
        self,
        code: str | None = None,
        message: str | None = None,
        fields: Iterable[Mapping[str, str]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(self.STATUS, code or self.CODE, message or self.MESSAGE, fields, headers=headers)


class BadRequest(_FixedStatusError):
    STATUS = 400
    CODE = "bad_request"
    MESSAGE = "The request is not valid."


class Unauthorized(_FixedStatusError):
    STATUS = 401
    CODE = "unauthorized"
    MESSAGE = "Authentication is required."


class Forbidden(_FixedStatusError):
    STATUS = 403
    CODE = "forbidden"
    MESSAGE = "You are not allowed to do this."


class NotFound(_FixedStatusError):
    STATUS = 404
    CODE = "not_found"
    MESSAGE = "Not found."


class Conflict(_FixedStatusError):
    STATUS = 409
    CODE = "conflict"
    MESSAGE = "The request conflicts with the current state."


class Unprocessable(_FixedStatusError):
    STATUS = 422
    CODE = "validation_failed"
    MESSAGE = "The request did not pass validation."


class TooManyRequests(_FixedStatusError):
    STATUS = 429
    CODE = "too_many_requests"
    MESSAGE = "Too many requests; try again later."
