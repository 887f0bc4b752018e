"""What the ledger's routes (points, earning rules, tiers, refunds) share: body parsing with the
API's error mapping, views, the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.loyalty.models.earning import Tier
from shared import clock
from shared.api import validation_fields
from shared.auth import event_body_bytes
from shared.errors import BadRequest, Unprocessable

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.logic.ledger import Balance, Movement

M = TypeVar("M", bound=BaseModel)
ADMIN_WRITE_ROLES = ("admin", "loyalty_ops")
ADMIN_READ_ROLES = ("admin", "loyalty_ops", "marketer", "service_agent")


def parse_json(model: type[M], raw_event: dict[str, Any]) -> M:
    """The body as ``model``: 400 ``malformed_json``, 422 ``validation_failed`` with fields."""
    return parse_bytes(model, event_body_bytes(raw_event))


def parse_bytes(model: type[M], raw: bytes) -> M:
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise BadRequest("malformed_json", "The request body is not valid JSON.") from None
        raise Unprocessable(fields=validation_fields(errors)) from None


def movement_view(m: Movement) -> dict[str, Any]:
    return {
        "movement_id": m.movement_id,
        "kind": m.kind,
        "points": m.points,
        "reason": m.reason,
        "source": {"kind": m.source.kind, "id": m.source.id},
        "actor": m.actor,
        "at": clock.to_utc_iso(m.at),
        "balance_after": m.balance_after,
        "pending_after": m.pending_after,
        "purchase_id": m.purchase_id,
        "reverses": m.reverses,
        "tier_after": m.tier_after,
    }


def balance_view(balance: Balance | None, tiers: tuple[Tier, ...] | list[Tier]) -> dict[str, Any]:
    from services.loyalty.logic.tiers import current_tier  # noqa: PLC0415 - cold start

    tier = (
        current_tier(balance, tiers)
        if balance is not None
        else (min(tiers, key=lambda t: t.rank) if tiers else None)
    )
    return {
        "available": balance.available if balance else 0,
        "pending": balance.pending if balance else 0,
        "debt": balance.debt if balance else 0,
        "lifetime_earned": balance.lifetime_earned if balance else 0,
        "tier": (
            {
                "tier_id": tier.tier_id,
                "name": tier.name,
                "since": clock.to_utc_iso(balance.tier_since) if balance and balance.tier_since else None,
                "manual_floor": balance.tier_floor if balance else None,
                "benefits": tier.benefits.model_dump(),
            }
            if tier is not None
            else None
        ),
    }
