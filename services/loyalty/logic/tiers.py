"""Tiers (pure): qualification on points *earned* (or spend) in a rolling window, upgrade at once,
downgrade only at the periodic review (retention rule), a manual floor that stays visible.

The window is counted in whole mall-local months (the balance keeps per-month buckets, updated in
the same transaction as each earning, so qualification needs no read beyond the balance): a
12-month window on 2026-11-23 covers 2025-12 … 2026-11. Clawed-back points (refunds) leave the
buckets too, but a refund never downgrades at once — only the next review does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Literal

from services.loyalty.logic.ledger import Balance
from services.loyalty.models.earning import Tier, TierBenefits, TierProgram
from shared.events.contracts import TierChanged

KEEP_MONTHS = 25
"""Buckets kept on the balance (the longest window is 24 months)."""


@lru_cache(maxsize=256)
def _local_keys(at: datetime, tz: tzinfo) -> tuple[str, str]:
    # One purchase asks for the month and day of the same instant several times (caps, buckets,
    # the tier window); converting to the mall's zone is the costly part. A pure function of the
    # instant and the zone, so a small cache is exact.
    local = at.astimezone(tz)
    return local.strftime("%Y-%m"), local.date().isoformat()


def month_key(at: datetime, tz: tzinfo) -> str:
    return _local_keys(at, tz)[0]


def day_key(at: datetime, tz: tzinfo) -> str:
    return _local_keys(at, tz)[1]


@lru_cache(maxsize=256)
def _months_back(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _add(buckets: Mapping[str, int], month: str, amount: int) -> dict[str, int]:
    oldest = _months_back(month, KEEP_MONTHS - 1)
    result = {k: v for k, v in buckets.items() if k >= oldest}
    result[month] = result.get(month, 0) + amount
    return result


def record_activity(balance: Balance, *, points: int, spend_cents: int, at: datetime, tz: tzinfo) -> Balance:
    """Add an earning (or, negative, a clawback) to the month buckets and the per-day counter."""
    month = month_key(at, tz)
    day = day_key(at, tz)
    earned_on_day = (balance.earned_on_day if balance.day == day else 0) + max(points, 0)
    return replace(
        balance,
        earned_by_month=_add(balance.earned_by_month, month, points) if points else balance.earned_by_month,
        spend_by_month=_add(balance.spend_by_month, month, spend_cents)
        if spend_cents
        else balance.spend_by_month,
        day=day,
        earned_on_day=earned_on_day,
    )


def earned_today(balance: Balance, at: datetime, tz: tzinfo) -> int:
    return balance.earned_on_day if balance.day == day_key(at, tz) else 0


def window_value(balance: Balance, program: TierProgram, at: datetime, tz: tzinfo) -> int:
    month = month_key(at, tz)
    oldest = _months_back(month, program.window_months - 1)
    buckets = balance.earned_by_month if program.basis == "points" else balance.spend_by_month
    return max(0, sum(v for k, v in buckets.items() if oldest <= k <= month))


def _ordered(tiers: Sequence[Tier]) -> list[Tier]:
    return sorted(tiers, key=lambda t: t.rank)


def base_tier(tiers: Sequence[Tier]) -> Tier | None:
    ordered = _ordered(tiers)
    return ordered[0] if ordered else None


def _rank(tiers: Sequence[Tier], tier_id: str | None) -> int:
    if tier_id is None:
        return 0
    return next((t.rank for t in tiers if t.tier_id == tier_id), 0)


def current_tier(balance: Balance, tiers: Sequence[Tier]) -> Tier | None:
    """The tier the member is in: the assigned one (or the base tier), never below the floor."""
    base = base_tier(tiers)
    assigned = next((t for t in tiers if t.tier_id == balance.tier), base)
    floor = next((t for t in tiers if t.tier_id == balance.tier_floor), None)
    if floor is not None and (assigned is None or floor.rank > assigned.rank):
        return floor
    return assigned


def benefits_of(balance: Balance | None, tiers: Sequence[Tier]) -> TierBenefits:
    """The member's effective tier benefits (free parking hours, points multiplier)."""
    tier = current_tier(balance, tiers) if balance is not None else base_tier(tiers)
    return tier.benefits if tier is not None else TierBenefits()


@dataclass(frozen=True)
class TierMove:
    previous: str | None
    new: str
    direction: Literal["up", "down"]
    reason: Literal["qualifying_spend", "review", "manual", "refund"]
    # Display names (TierChanged carries them for messages: "{new_tier}" reads "Gold", not "t_gold").
    previous_name: str | None = field(default=None, compare=False)
    new_name: str | None = field(default=None, compare=False)


def _qualified(tiers: Sequence[Tier], value: int, *, retain: bool) -> Tier | None:
    best: Tier | None = None
    for tier in _ordered(tiers):
        threshold = tier.retain if retain and tier.retain is not None else tier.qualify
        if value >= threshold:
            best = tier
    return best


def upgrade(
    balance: Balance, tiers: Sequence[Tier], program: TierProgram, at: datetime, tz: tzinfo
) -> tuple[Balance, TierMove | None]:
    """Upgrade at once when the window reaches a higher tier's ``qualify``; never downgrades."""
    if not tiers:
        return balance, None
    value = window_value(balance, program, at, tz)
    target = _qualified(tiers, value, retain=False)
    if target is None:
        return balance, None
    current = current_tier(balance, tiers)
    current_rank = current.rank if current is not None else -1
    if target.rank <= current_rank:
        return balance, None
    previous = current.tier_id if current is not None else None
    return (
        replace(balance, tier=target.tier_id, tier_since=at),
        TierMove(
            previous,
            target.tier_id,
            "up",
            "qualifying_spend",
            current.name if current is not None else None,
            target.name,
        ),
    )


def review(
    balance: Balance, tiers: Sequence[Tier], program: TierProgram, at: datetime, tz: tzinfo
) -> tuple[Balance, TierMove | None]:
    """The periodic review: keep the tier while the window meets its ``retain`` threshold, else
    go down to the highest tier whose retention the window meets — never below the floor."""
    current = current_tier(balance, tiers)
    if current is None:
        return balance, None
    value = window_value(balance, program, at, tz)
    kept = _qualified([t for t in tiers if t.rank <= current.rank], value, retain=True)
    floor_rank = _rank(tiers, balance.tier_floor)
    candidates = [t for t in tiers if kept is not None and t.tier_id == kept.tier_id]
    target = candidates[0] if candidates else base_tier(tiers)
    if target is None:
        return balance, None
    if target.rank < floor_rank:
        target = next(t for t in tiers if t.tier_id == balance.tier_floor)
    if target.rank >= current.rank:
        up, move = upgrade(balance, tiers, program, at, tz)
        return up, move
    return (
        replace(balance, tier=target.tier_id, tier_since=at),
        TierMove(current.tier_id, target.tier_id, "down", "review", current.name, target.name),
    )


def set_floor(
    balance: Balance, tiers: Sequence[Tier], floor: str | None, at: datetime
) -> tuple[Balance, TierMove | None]:
    """Staff set (or clear, ``None``) the manual floor; raising it above the current tier moves the
    member up now (reason ``manual``). Clearing it never downgrades before the next review."""
    before = current_tier(balance, tiers)
    updated = replace(balance, tier_floor=floor)
    after = current_tier(updated, tiers)
    if after is not None and (before is None or after.rank > before.rank):
        return (
            replace(updated, tier=after.tier_id, tier_since=at),
            TierMove(
                before.tier_id if before else None,
                after.tier_id,
                "up",
                "manual",
                before.name if before else None,
                after.name,
            ),
        )
    if floor is None and before is not None:
        # Keep what the floor gave until the review decides.
        updated = replace(updated, tier=before.tier_id)
    return updated, None


def tier_changed_event(member_id: str, move: TierMove, at: datetime) -> TierChanged:
    return TierChanged(
        member_id=member_id,
        previous_tier=move.previous,
        new_tier=move.new,
        direction=move.direction,
        reason=move.reason,
        changed_at=at,
        new_tier_label=move.new_name,
        previous_tier_label=move.previous_name,
    )
