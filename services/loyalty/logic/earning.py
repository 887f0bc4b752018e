"""What a purchase earns, and why (pure).

1. Lines whose category (or the purchase's store/tenant) matches an ``exclusion`` earn nothing.
2. Each remaining line is weighted by its multipliers: 100 % plus the extra of every matching
   ``multiplier`` rule (additive: x2 and x1.5 make x2.5) and of the member's tier benefit.
3. Lines are scaled down when they add up to more than the amount paid (a discount at the till).
4. The most specific ``base`` rule (store, then tenant, then mall-wide) turns weighted cents into
   points: ``floor(weighted_cents x points / per_cents)`` — rounding once, on the total.
5. ``cap`` rules: the lowest per-purchase cap, then what is left of the lowest per-day cap.
6. ``return_window``: the longest matching window keeps the points pending that many days.

Times: a rule's ``valid_from``/``valid_until`` are instants; ``hours`` and ``days_of_week`` are
read in the mall's time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from services.loyalty.models.earning import EarningRule, HourWindow, RuleScope


@dataclass(frozen=True)
class PurchaseFacts:
    store_id: str
    tenant_id: str | None
    channel: str
    amount_cents: int
    lines: Sequence[tuple[str, int]]
    """(category, amount_cents) per line."""
    occurred_at: datetime


@dataclass(frozen=True)
class Step:
    rule_id: str | None
    what: str
    detail: str


@dataclass
class Calculation:
    points: int
    pending_days: int
    steps: list[Step] = field(default_factory=list)
    eligible_cents: int = 0

    def explain(self) -> list[dict[str, str | None]]:
        return [{"rule_id": s.rule_id, "what": s.what, "detail": s.detail} for s in self.steps]


def _matches(scope: RuleScope, facts: PurchaseFacts, tier: str | None, category: str | None = None) -> bool:
    if scope.store_ids and facts.store_id not in scope.store_ids:
        return False
    if scope.tenant_ids and facts.tenant_id not in scope.tenant_ids:
        return False
    if scope.channels and facts.channel not in scope.channels:
        return False
    if scope.tiers and (tier or "") not in scope.tiers:
        return False
    return not (scope.categories and category is not None and category not in scope.categories)


def _in_hours(windows: Sequence[HourWindow], local: datetime) -> bool:
    if not windows:
        return True
    now = local.strftime("%H:%M")
    for w in windows:
        if w.start < w.end and w.start <= now < w.end:
            return True
        if w.start > w.end and (now >= w.start or now < w.end):  # wraps midnight
            return True
    return False


def in_time(rule: EarningRule, at: datetime, tz: tzinfo) -> bool:
    if rule.valid_from and at < rule.valid_from:
        return False
    if rule.valid_until and at >= rule.valid_until:
        return False
    if not rule.days_of_week and not rule.hours:
        return True  # most rules: no need for the mall-local time
    local = at.astimezone(tz)
    if rule.days_of_week and local.isoweekday() not in rule.days_of_week:
        return False
    return _in_hours(rule.hours, local)


def _truncated(numerator: int, denominator: int) -> int:
    """``int(Fraction(numerator, denominator))``: the quotient rounded toward zero."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator < 0) == (denominator < 0) else -quotient


def _specificity(rule: EarningRule) -> int:
    return 2 if rule.scope.store_ids else 1 if rule.scope.tenant_ids else 0


def calculate(  # noqa: PLR0915 - the steps are the documented calculation, in order
    facts: PurchaseFacts,
    rules: Sequence[EarningRule],
    *,
    tier: str | None,
    tier_multiplier_pct: int = 100,
    earned_today: int = 0,
    tz: tzinfo,
) -> Calculation:
    active = [r for r in rules if r.active and in_time(r, facts.occurred_at, tz)]
    steps: list[Step] = []

    bases = [r for r in active if r.kind == "base" and _matches(r.scope, facts, tier)]
    if not bases:
        steps.append(Step(None, "base", "No base rate applies to this store: no points."))
        return Calculation(points=0, pending_days=0, steps=steps)
    base = max(bases, key=lambda r: (_specificity(r), r.rule_id))
    assert base.points is not None and base.per_cents is not None
    steps.append(
        Step(base.rule_id, "base", f"{base.name}: {base.points} point(s) per {base.per_cents} cents.")
    )

    exclusions = [r for r in active if r.kind == "exclusion"]
    multipliers = [r for r in active if r.kind == "multiplier"]
    # The weighted amount is ``weighted / scale`` cents, kept as two integers: exact like a
    # Fraction (points are floored once, on the total) without its cost on every purchase.
    weighted, scale = 0, 100
    eligible = 0
    for category, cents in facts.lines:
        excluded = next((r for r in exclusions if _matches(r.scope, facts, tier, category)), None)
        if excluded is not None:
            steps.append(Step(excluded.rule_id, "exclusion", f"{excluded.name}: {category} line excluded."))
            continue
        pct = 100
        for rule in multipliers:
            if _matches(rule.scope, facts, tier, category):
                assert rule.multiplier_pct is not None
                pct += rule.multiplier_pct - 100
                steps.append(
                    Step(
                        rule.rule_id,
                        "multiplier",
                        f"{rule.name}: x{rule.multiplier_pct / 100:g} on {category}.",
                    )
                )
        if tier_multiplier_pct != 100:
            pct += tier_multiplier_pct - 100
            steps.append(Step(None, "tier", f"Tier {tier}: x{tier_multiplier_pct / 100:g} on {category}."))
        eligible += cents
        weighted += cents * pct

    lines_total = sum(cents for _, cents in facts.lines)
    if lines_total > facts.amount_cents and lines_total:
        weighted *= facts.amount_cents
        scale *= lines_total
        eligible = _truncated(eligible * facts.amount_cents, lines_total)
        steps.append(Step(None, "discount", f"Lines scaled to the {facts.amount_cents} cents paid."))

    points = _truncated(weighted * base.points, scale * base.per_cents)
    steps.append(Step(None, "points", f"{points} point(s) before caps."))

    caps = [r for r in active if r.kind == "cap" and _matches(r.scope, facts, tier)]
    per_purchase = [r for r in caps if r.per_purchase_max is not None]
    if per_purchase:
        cap = min(per_purchase, key=lambda r: r.per_purchase_max or 0)
        if cap.per_purchase_max is not None and points > cap.per_purchase_max:
            points = cap.per_purchase_max
            steps.append(Step(cap.rule_id, "cap", f"{cap.name}: at most {points} per purchase."))
    per_day = [r for r in caps if r.per_day_max is not None]
    if per_day:
        cap = min(per_day, key=lambda r: r.per_day_max or 0)
        assert cap.per_day_max is not None
        left = max(0, cap.per_day_max - earned_today)
        if points > left:
            points = left
            steps.append(
                Step(cap.rule_id, "cap", f"{cap.name}: {cap.per_day_max} a day, {earned_today} earned today.")
            )

    windows = [r for r in active if r.kind == "return_window" and _matches(r.scope, facts, tier)]
    pending_days = max((r.days or 0 for r in windows), default=0)
    if pending_days and points:
        rule = max(windows, key=lambda r: r.days or 0)
        steps.append(Step(rule.rule_id, "return_window", f"{rule.name}: pending {pending_days} day(s)."))
    steps.append(Step(None, "total", f"{points} point(s)."))
    return Calculation(points=points, pending_days=pending_days, steps=steps, eligible_cents=eligible)


ExpiryPolicy = Literal["end_of_following_year", "days"]


def expiry_for(at: datetime, policy: ExpiryPolicy, days: int, tz: tzinfo) -> datetime:
    """When a lot earned ``at`` expires: the end (mall-local) of the following year, or ``days``
    days later."""
    if policy == "days":
        return at + timedelta(days=days)
    local = at.astimezone(tz)
    end = datetime(local.year + 1, 12, 31, 23, 59, 59, tzinfo=tz)
    return end.astimezone(at.tzinfo)
