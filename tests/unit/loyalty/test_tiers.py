"""Tiers: qualification on points earned in a rolling window of mall-local months, upgrade at
once, downgrade only at the review with retention, the manual floor, benefits."""

from __future__ import annotations

from datetime import UTC, datetime

from services.loyalty.logic import tiers as T
from services.loyalty.logic.ledger import Balance
from services.loyalty.models.earning import Tier, TierBenefits, TierProgram
from shared import clock

TZ = clock.zone("Asia/Shanghai")
NOV = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
TIERS = [
    Tier(tier_id="normal", name="Normal", rank=0, qualify=0),
    Tier(tier_id="silver", name="Silver", rank=1, qualify=1000, retain=800),
    Tier(
        tier_id="gold",
        name="Gold",
        rank=2,
        qualify=5000,
        retain=4000,
        benefits=TierBenefits(free_parking_hours=3, points_multiplier_pct=150),
    ),
]
PROGRAM = TierProgram(basis="points", window_months=12)


def balance(**kw: object) -> Balance:
    return Balance(ledger_id="anon_x", member_id="01HX9ZK3M5N7P9Q1R3S5T7V9WX", **kw)  # type: ignore[arg-type]


def test_activity_goes_into_mall_local_month_buckets_and_the_day_counter() -> None:
    # 2026-11-30 17:00Z is already December 1st in Shanghai.
    b = T.record_activity(
        balance(), points=100, spend_cents=5000, at=datetime(2026, 11, 30, 17, tzinfo=UTC), tz=TZ
    )
    assert b.earned_by_month == {"2026-12": 100}
    assert b.spend_by_month == {"2026-12": 5000}
    assert (b.day, b.earned_on_day) == ("2026-12-01", 100)


def test_window_counts_only_the_last_n_months() -> None:
    b = balance(earned_by_month={"2025-11": 9999, "2025-12": 100, "2026-11": 200})
    assert T.window_value(b, PROGRAM, NOV, TZ) == 300


def test_upgrade_happens_at_once_and_never_downgrades() -> None:
    b, move = T.upgrade(balance(earned_by_month={"2026-11": 5200}), TIERS, PROGRAM, NOV, TZ)
    assert b.tier == "gold"
    assert move == T.TierMove("normal", "gold", "up", "qualifying_spend")
    low, none = T.upgrade(b.__class__(**{**b.__dict__, "earned_by_month": {}}), TIERS, PROGRAM, NOV, TZ)
    assert none is None and low.tier == "gold"


def test_spend_basis_qualifies_on_cents() -> None:
    spend = TierProgram(basis="spend", window_months=6)
    b, move = T.upgrade(balance(spend_by_month={"2026-11": 1500}), TIERS, spend, NOV, TZ)
    assert move is not None and b.tier == "silver"


def test_review_keeps_the_tier_while_retention_holds_and_downgrades_otherwise() -> None:
    kept, none = T.review(balance(tier="gold", earned_by_month={"2026-10": 4100}), TIERS, PROGRAM, NOV, TZ)
    assert none is None and kept.tier == "gold"
    down, move = T.review(balance(tier="gold", earned_by_month={"2026-10": 900}), TIERS, PROGRAM, NOV, TZ)
    assert down.tier == "silver"
    assert move == T.TierMove("gold", "silver", "down", "review")


def test_the_floor_holds_at_review_and_is_visible() -> None:
    b = balance(tier="gold", tier_floor="silver", earned_by_month={})
    down, move = T.review(b, TIERS, PROGRAM, NOV, TZ)
    assert down.tier == "silver" and move is not None and move.new == "silver"
    assert down.tier_floor == "silver"


def test_raising_the_floor_upgrades_now_and_clearing_it_waits_for_the_review() -> None:
    b, move = T.set_floor(balance(), TIERS, "gold", NOV)
    assert b.tier == "gold" and b.tier_floor == "gold"
    assert move == T.TierMove("normal", "gold", "up", "manual")
    cleared, none = T.set_floor(b, TIERS, None, NOV)
    assert none is None and cleared.tier == "gold" and cleared.tier_floor is None


def test_benefits_of_the_effective_tier() -> None:
    assert T.benefits_of(balance(tier="gold"), TIERS).free_parking_hours == 3
    assert T.benefits_of(balance(tier_floor="gold"), TIERS).points_multiplier_pct == 150
    assert T.benefits_of(None, TIERS).free_parking_hours == 0
    assert T.benefits_of(None, []).points_multiplier_pct == 100
