"""The member's points: ``GET /v1/members/me/points`` and ``GET /v1/members/me/points/movements``
(behind the MemberToken authorizer; the member id comes from the authorizer's context).

The ledger is kept under loyalty's pseudonym of the member id; a member never seen by loyalty has
a zero balance.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.loyalty.handlers.routes.ledger_common import balance_view, movement_view
from services.loyalty.handlers.routes.query import MAX_PAGE, PageQuery, parse_query
from services.loyalty.models.settings import LoyaltyApiSettings
from shared.api import json_response
from shared.auth import principal_from_event, require_member
from shared.settings import load
from shared.web import Router

router = Router()
DEFAULT_PAGE = 20


class MovementsQuery(PageQuery):
    """The query of ``GET /v1/members/me/points/movements``: ``my_movements`` validates it with this
    model (``parse_query``) and the OpenAPI document describes it (``query=``). Other parameters are
    ignored; an empty value counts as absent."""

    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Movements in this page.")


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
    query = parse_query(MovementsQuery, router.current_event.raw_event)
    settings = load(LoyaltyApiSettings)
    movements, next_cursor = ledger_repo(settings).movements(
        ledger_id_of(settings.pseudonym_key_secret_arn, member_id), limit=query.limit, after=query.cursor
    )
    return json_response(
        200, {"movements": [movement_view(m) for m in movements], "next_cursor": next_cursor}
    )
