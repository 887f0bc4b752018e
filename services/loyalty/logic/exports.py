"""Loyalty's part of a member's data export (PIPL Art. 45; docs/contracts/export.md's contract):
points balance and tier, lots, every movement, purchases, coupons, receipt claims, reward
redemptions and points adjustments — what loyalty holds about the member, in clear to its owner.

Left out on purpose: internal keys and fingerprints (a purchase's content hash is ours, not the
member's data), staff identities on adjustments and receipt decisions (other people's personal
data; the decision and its reason are in), and pick-up codes are kept (they are the member's).
Pure: the handler reads (dal/exports.py) and writes; this module only shapes the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import clock

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.loyalty.logic.ledger import Balance, Lot, Movement
    from services.loyalty.models.adjustments import Adjustment
    from services.loyalty.models.coupons import Coupon
    from services.loyalty.models.entities import Purchase
    from services.loyalty.models.receipts import ReceiptClaim
    from services.loyalty.models.rewards import Redemption

__all__ = ["FORMAT", "SERVICE", "LoyaltyHoldings", "export_part"]

FORMAT = "mallcrm.member-export-part.v1"
SERVICE = "loyalty"


@dataclass
class LoyaltyHoldings:
    """Everything loyalty holds about one member, as read for the export."""

    balance: Balance | None = None
    lots: Sequence[Lot] = ()
    movements: Sequence[Movement] = ()
    purchases: Sequence[Purchase] = ()
    coupons: Sequence[Coupon] = ()
    receipts: Sequence[ReceiptClaim] = ()
    redemptions: Sequence[Redemption] = ()
    adjustments: Sequence[Adjustment] = field(default_factory=tuple)

    def empty(self) -> bool:
        return self.balance is None and not any(
            (self.lots, self.movements, self.purchases, self.coupons, self.receipts, self.redemptions,
             self.adjustments)
        )  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def _balance(b: Balance) -> dict[str, Any]:
    return {
        "available": b.available,
        "pending": b.pending,
        "debt": b.debt,
        "lifetime_earned": b.lifetime_earned,
        "tier": b.tier,
        "tier_since": _iso(b.tier_since),
        "tier_floor": b.tier_floor,
        "earned_by_month": dict(b.earned_by_month),
        "spend_by_month": dict(b.spend_by_month),
    }


def _lot(lot: Lot) -> dict[str, Any]:
    return {
        "lot_id": lot.lot_id,
        "points": lot.points,
        "remaining": lot.remaining,
        "status": lot.status,
        "earned_at": _iso(lot.earned_at),
        "available_at": _iso(lot.available_at),
        "expires_at": _iso(lot.expires_at),
        "source": {"kind": lot.source.kind, "id": lot.source.id},
        "purchase_id": lot.purchase_id,
    }


def _movement(m: Movement) -> dict[str, Any]:
    return {
        "movement_id": m.movement_id,
        "kind": m.kind,
        "points": m.points,
        "reason": m.reason,
        "source": {"kind": m.source.kind, "id": m.source.id},
        "at": _iso(m.at),
        "balance_after": m.balance_after,
        "pending_after": m.pending_after,
        "purchase_id": m.purchase_id,
        "reverses": m.reverses,
        "tier_after": m.tier_after,
    }


def _purchase(p: Purchase) -> dict[str, Any]:
    return {
        "purchase_id": p.purchase_id,
        "external_id": p.external_id,
        "source_system": p.source_system,
        "store_id": p.store_id,
        "tenant_id": p.tenant_id,
        "amount_cents": p.amount_cents,
        "currency": p.currency,
        "channel": p.channel,
        "items": [line.model_dump(mode="json") for line in p.items],
        "occurred_at": _iso(p.occurred_at),
        "recorded_at": _iso(p.recorded_at),
        "points_earned": p.points_earned,
        "refunded_cents": p.refunded_cents,
    }


def _coupon(c: Coupon) -> dict[str, Any]:
    return c.model_dump(mode="json", exclude={"member_id"})


def _receipt(r: ReceiptClaim) -> dict[str, Any]:
    return r.model_dump(mode="json", exclude={"member_id", "decided_by"})


def _redemption(r: Redemption) -> dict[str, Any]:
    return r.model_dump(mode="json", exclude={"member_id"})


def _adjustment(a: Adjustment) -> dict[str, Any]:
    return a.model_dump(mode="json", exclude={"member_id", "requested_by", "decided_by"})


def export_part(
    *, export_id: str, member_id: str, holdings: LoyaltyHoldings | None, now: datetime
) -> dict[str, Any]:
    """The part document. ``holdings`` None (an erased member) or empty (never seen by loyalty)
    gives ``"data": null`` with a note, so the member sees the part is complete."""
    head = {
        "format": FORMAT,
        "service": SERVICE,
        "export_id": export_id,
        "member_id": member_id,
        "generated_at": clock.to_utc_iso(now),
    }
    if holdings is None or holdings.empty():
        return {**head, "data": None, "note": "no data"}
    return {
        **head,
        "data": {
            "points": _balance(holdings.balance) if holdings.balance is not None else None,
            "lots": [_lot(lot) for lot in holdings.lots],
            "movements": [_movement(m) for m in holdings.movements],
            "purchases": [_purchase(p) for p in holdings.purchases],
            "coupons": [_coupon(c) for c in holdings.coupons],
            "receipts": [_receipt(r) for r in holdings.receipts],
            "redemptions": [_redemption(r) for r in holdings.redemptions],
            "adjustments": [_adjustment(a) for a in holdings.adjustments],
        },
    }
