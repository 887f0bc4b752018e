"""The query string of a loyalty route, validated with the model the route declares with ``query=``.

The loyalty API runs without the resolver's parameter validation (its signed routes read the raw
body), so a route that takes query parameters validates them itself, with the same model that
describes them in the OpenAPI document: what the document says is what the route accepts
(docs/decisions.md, session 9). ``parse_query`` is ``wallet_deps.parse_body`` for the query string.

The validators below keep what these routes accepted when they parsed their query by hand, which
is stricter than pydantic's lax mode: a page ``limit`` is ASCII digits only (lax ``int`` also takes
``+5``, `` 5``, ``1_0`` and ``1.0``), and every failure of a parameter answers one message that
names what it takes, never the value sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.api import validation_fields
from shared.errors import Unprocessable

QueryT = TypeVar("QueryT", bound=BaseModel)

CURSOR_PATTERN = r"^[A-Za-z0-9]+$"  # what the DAL's next_cursor looks like (at most 40 characters)
CURSOR_MESSAGE = "Not a cursor from this API."
MAX_PAGE = 100


def parse_query(model: type[QueryT], event: Mapping[str, Any]) -> QueryT:
    """The request's query as ``model`` (unknown parameters ignored: ``extra="ignore"``), or 422
    ``validation_failed`` whose ``fields`` name each bad parameter (``limit``, ``cursor``…).

    A parameter repeated in the URL reaches us joined by the gateway (``1,2``) and fails as one
    bad value."""
    try:
        return model.model_validate(event.get("queryStringParameters") or {})
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise Unprocessable(fields=validation_fields(errors)) from None


def empty_is_absent(data: Any) -> Any:
    """A model's ``mode="before"`` validator: ``?status=&limit=`` as if neither were sent."""
    if isinstance(data, Mapping):
        return {name: value for name, value in data.items() if value != ""}
    return data


def page_limit(value: Any, handler: ValidatorFunctionWrapHandler, maximum: int) -> Any:
    """A ``limit`` field's wrap validator: ASCII digits within the field's bounds (``ge``/``le``
    on the field, which the document shows), else "An integer from 1 to ``maximum``."."""
    message = f"An integer from 1 to {maximum}."
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("page_limit", message)
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("page_limit", message) from None


def page_cursor(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A ``cursor`` field's wrap validator: empty is the first page (``?cursor=`` always was);
    otherwise the field's ``pattern`` and ``max_length``, else :data:`CURSOR_MESSAGE`."""
    if value == "":
        return None
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("page_cursor", CURSOR_MESSAGE) from None


def one_of(value: Any, handler: ValidatorFunctionWrapHandler, allowed: tuple[str, ...]) -> Any:
    """A ``Literal`` filter's wrap validator: "One of a, b, c." whatever was sent."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("one_of", "One of " + ", ".join(allowed) + ".") from None


class PageQuery(BaseModel):
    """A page of one of the member's lists: ``limit`` (a subclass gives its own default and
    description) and ``cursor``, validated by :func:`page_limit` and :func:`page_cursor`. An empty
    value counts as absent (``?limit=&cursor=`` is the first page at the default size), on every
    list alike (docs/decisions.md, session 9)."""

    # Built by the first request that validates a query, not at cold start.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    limit: int = Field(20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        None,
        max_length=40,
        pattern=CURSOR_PATTERN,
        description="`next_cursor` of the previous page; absent for the first page.",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        return empty_is_absent(data)

    @field_validator("limit", mode="wrap")
    @classmethod
    def _limit(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return page_limit(value, handler, MAX_PAGE)

    @field_validator("cursor", mode="wrap")
    @classmethod
    def _cursor(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return page_cursor(value, handler)
