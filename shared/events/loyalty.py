"""The events loyalty publishes (re-exported by :mod:`shared.events.contracts`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.events.base import LOYALTY, Cents, ContractModel, Currency, EventData, Id, PurchaseChannel
from shared.events.envelope import UtcDateTime

__all__ = [
    "CouponExpiring",
    "CouponIssued",
    "CouponRedeemed",
    "ParkingSessionSettled",
    "PointsAdjusted",
    "PointsAdjustmentRejected",
    "PointsEarned",
    "PointsExpired",
    "PointsExpiring",
    "PointsRedeemed",
    "PointsReleased",
    "PurchaseItem",
    "PurchaseRecorded",
    "PurchaseRefunded",
    "RewardRedeemed",
    "TierChanged",
]


class PurchaseItem(ContractModel):
    sku: Id
    category: Id
    quantity: int = Field(ge=1)
    amount_cents: Cents


class PurchaseRecorded(EventData):
    """A purchase was recorded once (POS, online mall, mini-program or staff entry)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "external_id": "POS-2024-000123",
        "source_system": "pos-main",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "store_id": "store-0101",
        "tenant_id": "tenant-uniqlo",
        "amount_cents": 25900,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 25900}],
        "occurred_at": "2024-05-01T04:00:00.000000Z",
    }

    purchase_id: Id
    external_id: Id = Field(description="The id in the source system; unique per source_system.")
    source_system: Id
    member_id: Id | None = Field(description="Null for a purchase not (yet) tied to a member.")
    store_id: Id
    tenant_id: Id | None
    amount_cents: Cents
    currency: Currency = "CNY"
    channel: PurchaseChannel
    items: list[PurchaseItem] = Field(default_factory=list)
    occurred_at: UtcDateTime = Field(description="When the purchase happened at the till.")


class PurchaseRefunded(EventData):
    """A purchase was refunded, in full or in part."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "refund_id": "01HXB0C2D4E6F8G0H2J4K6M8N0",
        "external_id": "POS-REF-2024-000007",
        "source_system": "pos-main",
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "store_id": "store-0101",
        "amount_cents": 25900,
        "currency": "CNY",
        "full_refund": True,
        "occurred_at": "2024-05-03T06:30:00.000000Z",
    }

    refund_id: Id
    external_id: Id
    source_system: Id
    purchase_id: Id
    member_id: Id | None
    store_id: Id
    amount_cents: Cents = Field(description="Refunded amount.")
    currency: Currency = "CNY"
    full_refund: bool
    points_clawed_back: int | None = Field(
        default=None, description="Points taken back from the purchase's lots (null: none were earned)."
    )
    occurred_at: UtcDateTime
    movement_id: Id | None = Field(
        default=None, description="The ledger's refund clawback movement (null: no points were taken back)."
    )
    balance_after: int | None = Field(
        default=None, description="Available points after the clawback (may be negative: debt is shown)."
    )
    balance_version: int | None = Field(
        default=None, ge=1, description="The member's ledger version after the clawback (see PointsEarned)."
    )
    recorded_at: UtcDateTime | None = Field(
        default=None,
        description="When loyalty recorded the refund (the clawback's time; occurred_at is the till's).",
    )


class PointsEarned(EventData):
    """Points were credited to a member (pending until the return window ends, where configured)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "movement_id": "01HXA3Z7AAAAAAAAAAAAAAAAAA",
        "points": 259,
        "reason": "purchase",
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "status": "pending",
        "available_at": "2024-05-08T04:00:00.000000Z",
        "expires_at": "2025-12-31T15:59:59.000000Z",
        "balance_after": 1259,
        "earned_at": "2024-05-01T04:00:01.000000Z",
        "balance_version": 12,
    }

    member_id: Id
    movement_id: Id
    points: int = Field(gt=0)
    reason: Literal["purchase", "receipt_claim", "parking", "campaign", "birthday", "adjustment"]
    purchase_id: Id | None
    status: Literal["pending", "available"]
    available_at: UtcDateTime | None = Field(description="When pending points become usable.")
    expires_at: UtcDateTime | None
    balance_after: int = Field(description="Available balance after the movement (may be negative).")
    earned_at: UtcDateTime
    balance_version: int | None = Field(
        default=None,
        ge=1,
        description="The member's ledger version after the movement: strictly increasing per member, so "
        "consumers order balances by it (newer producers always set it).",
    )


class PointsExpiring(EventData):
    """Some of a member's points expire soon (daily job, N days ahead)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "points": 300,
        "expires_at": "2024-06-30T15:59:59.000000Z",
        "days_left": 7,
        "noticed_at": "2024-06-23T01:00:00.000000Z",
    }

    member_id: Id
    points: int = Field(gt=0)
    expires_at: UtcDateTime
    days_left: int = Field(ge=0)
    noticed_at: UtcDateTime
    lot_id: Id | None = Field(
        default=None, description="The expiring lot: one reminder per lot (a member may have several)."
    )


class PointsExpired(EventData):
    """Points lots reached their expiry; the balance was reduced."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "movement_id": "01HZ0000000000000000000000",
        "points": 300,
        "balance_after": 959,
        "expired_at": "2024-06-30T16:00:00.000000Z",
    }

    member_id: Id
    movement_id: Id
    points: int = Field(gt=0)
    balance_after: int
    expired_at: UtcDateTime
    balance_version: int | None = Field(
        default=None,
        ge=1,
        description="The member's ledger version after the movement: strictly increasing per member, so "
        "consumers order balances by it (newer producers always set it).",
    )


class PointsReleased(EventData):
    """Pending points (a purchase's return window) became available: the available balance grew
    (paying any debt first). One per released lot."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "movement_id": "01HXB9Z7AAAAAAAAAAAAAAAAAA",
        "points": 259,
        "lot_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "balance_after": 1259,
        "balance_version": 7,
        "released_at": "2024-05-08T04:00:00.000000Z",
    }

    member_id: Id
    movement_id: Id
    points: int = Field(gt=0, description="Points moved from pending to available.")
    lot_id: Id
    purchase_id: Id | None
    balance_after: int = Field(description="Available balance after the release (may be negative).")
    balance_version: int = Field(ge=1, description="The member's ledger version after the release.")
    released_at: UtcDateTime


class TierChanged(EventData):
    """A member moved to another tier."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "previous_tier": "silver",
        "new_tier": "gold",
        "direction": "up",
        "reason": "qualifying_spend",
        "changed_at": "2024-05-01T04:00:02.000000Z",
        "new_tier_label": "Gold",
        "previous_tier_label": "Silver",
    }

    member_id: Id
    previous_tier: Id | None
    new_tier: Id
    direction: Literal["up", "down"]
    reason: Literal["qualifying_spend", "review", "manual", "refund"]
    changed_at: UtcDateTime
    new_tier_label: str | None = Field(
        default=None, max_length=60, description="The new tier's display name (as configured at the change)."
    )
    previous_tier_label: str | None = Field(
        default=None, max_length=60, description="The previous tier's display name (null: no previous tier)."
    )


class CouponIssued(EventData):
    """A coupon landed in a member's wallet."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "coupon_id": "01HY0000000000000000000000",
        "template_id": "birthday-2024",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "campaign_id": None,
        "reason": "birthday",
        "valid_from": "2024-05-01T01:00:00.000000Z",
        "valid_until": "2024-05-31T15:59:59.000000Z",
        "issued_at": "2024-05-01T01:00:00.000000Z",
    }

    coupon_id: Id
    template_id: Id
    member_id: Id
    campaign_id: Id | None
    reason: Literal["birthday", "campaign", "win_back", "reward", "manual", "tier_benefit"]
    valid_from: UtcDateTime
    valid_until: UtcDateTime
    issued_at: UtcDateTime


class ParkingSessionSettled(EventData):
    """A car left the car park and its session was settled (fee, benefits applied, paid).

    ``member_id`` is set when the plate (or the member code shown at the exit) belongs to a member
    who consented to plate recognition. ``vehicle_ref`` is a pseudonymous reference to the car (the
    keyed hash of the normalised plate, as members' plate lookup keys), never the plate itself.
    """

    SOURCE = LOYALTY
    EXAMPLE = {
        "session_id": "01HZ2222222222222222222222",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "vehicle_ref": "9f2c6a0e5b1d4f7a8c3e2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
        "entered_at": "2024-05-04T02:00:00.000000Z",
        "exited_at": "2024-05-04T05:10:00.000000Z",
        "fee_cents": 3000,
        "paid_cents": 1000,
        "free_minutes_applied": 120,
    }

    session_id: Id
    member_id: Id | None = Field(description="Null for a car not tied to a member.")
    vehicle_ref: Id = Field(description="HMAC-SHA256 hex of the normalised plate; never the plate itself.")
    entered_at: UtcDateTime
    exited_at: UtcDateTime
    fee_cents: Cents = Field(description="Fee before benefits.")
    paid_cents: Cents = Field(description="What the driver paid after free time and benefits.")
    free_minutes_applied: int = Field(ge=0)


class RewardRedeemed(EventData):
    """A member exchanged points for a reward of the catalogue (stock and points in one step)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "redemption_id": "01HZ8888888888888888888888",
        "reward_id": "tote-bag",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "points": 500,
        "movement_id": "01HZ9999999999999999999999",
        "balance_after": 759,
        "coupon_id": None,
        "redeemed_at": "2024-05-06T03:00:00.000000Z",
    }

    redemption_id: Id
    reward_id: Id
    member_id: Id
    points: int = Field(gt=0)
    movement_id: Id
    balance_after: int
    coupon_id: Id | None = Field(description="The coupon issued, for a coupon reward.")
    redeemed_at: UtcDateTime


class PointsRedeemed(EventData):
    """Points were spent: a reward, or a parking fee offset."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "movement_id": "01HZ9999999999999999999999",
        "points": 500,
        "reason": "reward",
        "reference_id": "01HZ8888888888888888888888",
        "balance_after": 759,
        "redeemed_at": "2024-05-06T03:00:00.000000Z",
    }

    member_id: Id
    movement_id: Id
    points: int = Field(gt=0)
    reason: Literal["reward", "parking"]
    reference_id: Id = Field(description="The redemption or parking session it paid for.")
    balance_after: int
    redeemed_at: UtcDateTime
    balance_version: int | None = Field(
        default=None,
        ge=1,
        description="The member's ledger version after the movement: strictly increasing per member, so "
        "consumers order balances by it (newer producers always set it).",
    )


class CouponRedeemed(EventData):
    """A member's coupon was used at a store (once; by store staff at the till)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "coupon_id": "01HY0000000000000000000000",
        "template_id": "birthday-2024",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "campaign_id": None,
        "store_id": "store-0101",
        "redeemed_at": "2024-05-03T06:00:00.000000Z",
        "discount_cents": 2000,
    }

    coupon_id: Id
    template_id: Id
    member_id: Id
    campaign_id: Id | None
    store_id: Id
    redeemed_at: UtcDateTime
    discount_cents: Cents = Field(description="What the coupon took off (gift and parking: face value).")


class CouponExpiring(EventData):
    """An unused coupon expires in ``days_left`` days (once per coupon, from the daily job)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "coupon_id": "01HY0000000000000000000000",
        "template_id": "birthday-2024",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "valid_until": "2024-05-31T15:59:59.000000Z",
        "days_left": 3,
    }

    coupon_id: Id
    template_id: Id
    member_id: Id
    valid_until: UtcDateTime
    days_left: int = Field(ge=0)


class PointsAdjusted(EventData):
    """A staff points adjustment, approved by a second person, was applied to the ledger (contract
    D; ``ticket_id`` set when it came from a ticket's PointsAdjustmentRequested)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "adjustment_id": "01HZ6666666666666666666666",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "points": 259,
        "reason": "points_dispute: purchase POS-2024-000123 not credited",
        "ticket_id": "01HZ1111111111111111111111",
        "requested_by": "staff-sub-1234",
        "approved_by": "staff-sub-5678",
        "movement_id": "01HZ7777777777777777777777",
        "balance_after": 1259,
        "adjusted_at": "2024-05-05T05:00:00.000000Z",
    }

    adjustment_id: Id
    member_id: Id
    points: int = Field(description="Signed: positive credits, negative debits.")
    reason: str = Field(min_length=1, max_length=200)
    ticket_id: Id | None
    requested_by: Id
    approved_by: Id = Field(description="The second person (staff subject), never the requester.")
    movement_id: Id
    balance_after: int = Field(description="Available points after it (may be negative: debt is shown).")
    adjusted_at: UtcDateTime
    balance_version: int | None = Field(
        default=None,
        ge=1,
        description="The member's ledger version after the movement: strictly increasing per member, so "
        "consumers order balances by it (newer producers always set it).",
    )


class PointsAdjustmentRejected(EventData):
    """A pending points adjustment was rejected by a reviewer: no movement (contract D's other outcome)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "adjustment_id": "01HZ6666666666666666666666",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "points": 259,
        "ticket_id": "01HZ1111111111111111111111",
        "requested_by": "staff-sub-1234",
        "rejected_by": "staff-sub-5678",
        "rejection_reason": "purchase was already credited",
        "rejected_at": "2024-05-05T05:00:00.000000Z",
    }

    adjustment_id: Id
    member_id: Id
    points: int
    ticket_id: Id | None
    requested_by: Id
    rejected_by: Id
    rejection_reason: str = Field(min_length=1, max_length=200)
    rejected_at: UtcDateTime
