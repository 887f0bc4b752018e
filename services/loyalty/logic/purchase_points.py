"""Purchase → points (pure): the ledger part of recording a purchase.

Everything is decided from the purchase, the member's balance item (the only read) and the
configuration cached per container (earning rules, tiers): the points (``earning.calculate``), a
lot pending for the return window or available at once, the month/day statistics, an immediate
tier upgrade, and the events (``PointsEarned``, ``TierChanged``). The repository writes all of it in
the purchase's own transaction, conditioned on the balance version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from services.loyalty.logic import tiers as tier_logic
from services.loyalty.logic.earning import Calculation, ExpiryPolicy, PurchaseFacts, calculate, expiry_for
from services.loyalty.logic.ledger import Balance, LedgerChange, Source, earn
from services.loyalty.models.earning import EarningRule, Tier, TierProgram
from services.loyalty.models.entities import Purchase
from shared.events.contracts import EventData, PointsEarned


@dataclass(frozen=True)
class LoyaltyConfig:
    rules: Sequence[EarningRule]
    tiers: Sequence[Tier]
    program: TierProgram
    expiry_policy: ExpiryPolicy
    expiry_days: int
    tz: tzinfo


@dataclass(frozen=True)
class PurchaseLedgerPlan:
    """What the purchase does to the member's ledger. ``change`` is None when it earns nothing
    (the balance still records the spend: tiers may qualify on spend)."""

    before: Balance
    after: Balance
    change: LedgerChange | None
    events: tuple[EventData, ...]
    calculation: Calculation


def facts_of(purchase: Purchase) -> PurchaseFacts:
    return PurchaseFacts(
        store_id=purchase.store_id,
        tenant_id=purchase.tenant_id,
        channel=purchase.channel,
        amount_cents=purchase.amount_cents,
        lines=[(line.category, line.amount_cents) for line in purchase.items],
        occurred_at=purchase.occurred_at,
    )


def plan_purchase_points(
    purchase: Purchase, balance: Balance, config: LoyaltyConfig, *, movement_id: str, now: datetime
) -> PurchaseLedgerPlan:
    tier = tier_logic.current_tier(balance, config.tiers)
    # What tier_logic.benefits_of gives, without finding the member's tier a second time.
    benefits = tier.benefits if tier is not None else tier_logic.benefits_of(balance, config.tiers)
    calc = calculate(
        facts_of(purchase),
        config.rules,
        tier=tier.tier_id if tier else None,
        tier_multiplier_pct=benefits.points_multiplier_pct,
        earned_today=tier_logic.earned_today(balance, now, config.tz),
        tz=config.tz,
    )
    change: LedgerChange | None = None
    after = balance
    if calc.points > 0:
        change = earn(
            balance,
            points=calc.points,
            lot_id=purchase.purchase_id,
            movement_id=movement_id,
            at=now,
            expires_at=expiry_for(now, config.expiry_policy, config.expiry_days, config.tz),
            available_at=now + timedelta(days=calc.pending_days) if calc.pending_days else None,
            reason="purchase",
            source=Source("purchase", purchase.purchase_id),
            actor=f"integration:{purchase.source_system}",
            purchase_id=purchase.purchase_id,
        )
        after = change.after
    after = tier_logic.record_activity(
        after, points=calc.points, spend_cents=purchase.amount_cents, at=now, tz=config.tz
    )
    after, move = tier_logic.upgrade(after, config.tiers, config.program, now, config.tz)
    if change is not None:
        change = change.with_after(after)
        if move is not None:
            change = change.with_tier(move.new)
    events: list[EventData] = []
    member_id = balance.member_id
    if change is not None and member_id:
        lot = change.lots[0].lot
        events.append(
            PointsEarned(
                member_id=member_id,
                movement_id=change.movement.movement_id,
                points=calc.points,
                reason="purchase",
                purchase_id=purchase.purchase_id,
                status="pending" if lot.status == "pending" else "available",
                available_at=lot.available_at,
                expires_at=lot.expires_at,
                balance_after=change.movement.balance_after,
                earned_at=now,
                balance_version=change.version_after,
            )
        )
    if move is not None and member_id:
        events.append(tier_logic.tier_changed_event(member_id, move, now))
    return PurchaseLedgerPlan(
        before=balance, after=after, change=change, events=tuple(events), calculation=calc
    )
