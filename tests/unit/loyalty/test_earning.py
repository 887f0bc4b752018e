"""Earning rules: base rate, exclusions, additive multipliers (store, category, tier, campaign
hours in the mall's time zone), discounts, caps, return windows, and the explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.loyalty.logic.earning import PurchaseFacts, calculate, expiry_for
from services.loyalty.models.earning import EarningRule, EarningRuleIn
from shared import clock

SHANGHAI = clock.zone("Asia/Shanghai")
# 2026-03-02 is a Monday; 02:00Z = 10:00 in Shanghai.
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def rule(kind: str, rule_id: str = "01HX0000000000000000000000", **kw: Any) -> EarningRule:
    return EarningRule(kind=kind, name=kw.pop("name", kind), rule_id=rule_id, **kw)  # type: ignore[arg-type]


BASE = rule("base", "01HX0000000000000000000001", points=1, per_cents=100)


def facts(lines: list[tuple[str, int]], **kw: Any) -> PurchaseFacts:
    return PurchaseFacts(
        store_id=kw.pop("store_id", "store-1"),
        tenant_id=kw.pop("tenant_id", "tenant-1"),
        channel=kw.pop("channel", "pos"),
        amount_cents=kw.pop("amount_cents", sum(c for _, c in lines)),
        lines=lines,
        occurred_at=kw.pop("occurred_at", AT),
    )


def calc(f: PurchaseFacts, rules: list[EarningRule], **kw: Any):  # type: ignore[no-untyped-def]
    return calculate(f, rules, tier=kw.pop("tier", None), tz=SHANGHAI, **kw)


def test_base_rate_floors_once_on_the_total() -> None:
    result = calc(facts([("apparel", 25950), ("food", 50)]), [BASE])
    assert result.points == 260
    assert result.pending_days == 0
    assert result.explain()[0]["what"] == "base"


def test_no_base_rule_earns_nothing_and_says_why() -> None:
    result = calc(facts([("apparel", 10000)]), [])
    assert result.points == 0
    assert "No base rate" in result.explain()[0]["detail"]


def test_the_most_specific_base_rule_applies() -> None:
    store_rate = rule(
        "base", "01HX0000000000000000000002", points=2, per_cents=100, scope={"store_ids": ["store-1"]}
    )
    assert calc(facts([("apparel", 10000)]), [BASE, store_rate]).points == 200
    assert calc(facts([("apparel", 10000)], store_id="store-9"), [BASE, store_rate]).points == 100


def test_excluded_categories_earn_nothing() -> None:
    tobacco = rule("exclusion", "01HX0000000000000000000003", scope={"categories": ["tobacco"]})
    result = calc(facts([("tobacco", 5000), ("apparel", 5000)]), [BASE, tobacco])
    assert result.points == 50
    assert any(s["what"] == "exclusion" for s in result.explain())


def test_multipliers_add_up_and_include_the_tier_benefit() -> None:
    double = rule(
        "multiplier", "01HX0000000000000000000004", multiplier_pct=200, scope={"categories": ["apparel"]}
    )
    result = calc(
        facts([("apparel", 10000), ("food", 10000)]), [BASE, double], tier="gold", tier_multiplier_pct=150
    )
    # apparel: 100% + 100% + 50% = 250% -> 250; food: 150% -> 150
    assert result.points == 400


def test_campaign_hours_are_read_in_the_mall_time_zone() -> None:
    early_bird = rule(
        "multiplier",
        "01HX0000000000000000000005",
        multiplier_pct=300,
        hours=[{"start": "09:00", "end": "11:00"}],
        days_of_week=[1],
        valid_from=AT - timedelta(days=1),
        valid_until=AT + timedelta(days=1),
    )
    # 10:00 Shanghai on a Monday: inside
    assert calc(facts([("food", 10000)]), [BASE, early_bird]).points == 300
    # 11:30 Shanghai: outside the hours
    assert (
        calc(facts([("food", 10000)], occurred_at=AT + timedelta(minutes=90)), [BASE, early_bird]).points
        == 100
    )
    # a week later: outside the campaign's dates
    assert (
        calc(facts([("food", 10000)], occurred_at=AT + timedelta(days=7)), [BASE, early_bird]).points == 100
    )


def test_lines_above_the_amount_paid_are_scaled_down() -> None:
    result = calc(facts([("apparel", 20000)], amount_cents=15000), [BASE])
    assert result.points == 150


def test_caps_per_purchase_and_per_day() -> None:
    caps = rule("cap", "01HX0000000000000000000006", per_purchase_max=500, per_day_max=800)
    assert calc(facts([("apparel", 100000)]), [BASE, caps]).points == 500
    assert calc(facts([("apparel", 100000)]), [BASE, caps], earned_today=600).points == 200
    assert calc(facts([("apparel", 100000)]), [BASE, caps], earned_today=900).points == 0


def test_return_window_per_tenant() -> None:
    window = rule("return_window", "01HX0000000000000000000007", days=7, scope={"tenant_ids": ["tenant-1"]})
    assert calc(facts([("apparel", 1000)]), [BASE, window]).pending_days == 7
    assert calc(facts([("apparel", 1000)], tenant_id="tenant-2"), [BASE, window]).pending_days == 0


def test_inactive_rules_do_not_apply() -> None:
    assert calc(facts([("apparel", 1000)]), [BASE.model_copy(update={"active": False})]).points == 0


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "base", "name": "x", "points": 1},
        {"kind": "multiplier", "name": "x"},
        {"kind": "cap", "name": "x"},
        {"kind": "return_window", "name": "x"},
        {"kind": "multiplier", "name": "x", "multiplier_pct": 200, "days_of_week": [8]},
        {
            "kind": "multiplier",
            "name": "x",
            "multiplier_pct": 200,
            "hours": [{"start": "25:00", "end": "10:00"}],
        },
        {"kind": "base", "name": "x", "points": -1, "per_cents": 100},
    ],
)
def test_bad_rules_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EarningRuleIn.model_validate(body)


def test_expiry_policies() -> None:
    # 2026-12-31 20:00Z is already 2027-01-01 in Shanghai: the following year is 2028.
    late = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert expiry_for(late, "end_of_following_year", 0, SHANGHAI) == datetime(
        2028, 12, 31, 15, 59, 59, tzinfo=UTC
    )
    assert expiry_for(AT, "end_of_following_year", 0, SHANGHAI) == datetime(
        2027, 12, 31, 15, 59, 59, tzinfo=UTC
    )
    assert expiry_for(AT, "days", 90, SHANGHAI) == AT + timedelta(days=90)
