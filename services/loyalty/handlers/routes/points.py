"""The member's points: ``GET /v1/members/me/points`` and ``GET /v1/members/me/points/movements``
(behind the MemberToken authorizer; the member id comes from the authorizer's context).

The ledger is kept under loyalty's pseudonym of the member id; a member never seen by loyalty has
a zero balance.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.loyalty.handlers.routes.ledger_common import balance_view, movement_view
from services.loyalty.models.settings import LoyaltyApiSettings
from shared.api import json_response
from shared.auth import principal_from_event, require_member
from shared.errors import Unprocessable
from shared.settings import load
from shared.web import Router

router = Router()
MAX_PAGE = 100
DEFAULT_PAGE = 20  # `my_movements`' default, written there as "20"
CURSOR_PATTERN = r"^[A-Za-z0-9]+$"  # as `my_movements` checks it: alphanumeric, at most 40 characters


class MovementsQuery(BaseModel):
    """The query of ``GET /v1/members/me/points/movements``, for the OpenAPI document:
    ``my_movements`` reads these by hand (the loyalty API does not validate parameters) and ignores
    any other parameter. tests/unit/apidocs checks this model accepts what the route accepts."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # built by the generator, not at cold start

    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Movements in this page.")
    cursor: str | None = Field(
        None,
        max_length=40,
        pattern=CURSOR_PATTERN,
        description="`next_cursor` of the previous page; absent for the first page.",
    )


@router.get(
    "/v1/members/me/points",
    summary="The member's points: available, pending, debt, tier and its benefits",
    tags=["points"],
)
def my_points() -> Any:
    from services.loyalty.dal.loyalty_config import cached_config  # noqa: PLC0415 - cold start
    from services.loyalty.handlers.ledger_deps import ledger_id_of, ledger_repo  # noqa: PLC0415 - cold start

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    settings = load(LoyaltyApiSettings)
    balance = ledger_repo(settings).get_balance(ledger_id_of(settings.pseudonym_key_secret_arn, member_id))
    config = cached_config(settings.table_name, settings.loyalty_config_cache_seconds)
    return json_response(200, balance_view(balance, config.tiers))


@router.get(
    "/v1/members/me/points/movements",
    summary="The member's points movements, newest first (paginated: limit, cursor)",
    tags=["points"],
    query=MovementsQuery,
)
def my_movements() -> Any:
    from services.loyalty.handlers.ledger_deps import ledger_id_of, ledger_repo  # noqa: PLC0415 - cold start

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    query = router.current_event.query_string_parameters or {}
    raw_limit = query.get("limit", "20")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise Unprocessable(fields=[{"field": "limit", "message": f"An integer from 1 to {MAX_PAGE}."}])
    cursor = query.get("cursor") or None
    if cursor is not None and (len(cursor) > 40 or not (cursor.isascii() and cursor.isalnum())):
        raise Unprocessable(fields=[{"field": "cursor", "message": "Not a cursor from this API."}])
    settings = load(LoyaltyApiSettings)
    movements, next_cursor = ledger_repo(settings).movements(
        ledger_id_of(settings.pseudonym_key_secret_arn, member_id), limit=int(raw_limit), after=cursor
    )
    return json_response(
        200, {"movements": [movement_view(m) for m in movements], "next_cursor": next_cursor}
    )
