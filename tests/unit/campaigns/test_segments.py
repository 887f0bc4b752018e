"""Segment rules: validation with paths, row evaluation, and the bitmap index agreeing with rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.campaigns.logic.audience_index import ShardIndex, Sliced, build_shard, rows_of
from services.campaigns.logic.segments import InvalidRule, matches, parse_rule
from services.campaigns.models.audience import MemberAttributes

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def member(n: int, **kw: object) -> MemberAttributes:
    return MemberAttributes(member_id=f"M{n:05d}", **kw)  # type: ignore[arg-type]


class TestValidation:
    @pytest.mark.parametrize(
        ("rule", "field"),
        [
            ({"field": "shoe_size", "op": "in", "values": ["42"]}, "rule.field"),
            ({"field": "tier", "op": "gte", "value": 3}, "rule.op"),
            ({"and": [{"field": "tier", "op": "in", "values": []}]}, "rule.and.0.values"),
            (
                {
                    "or": [
                        {"field": "tier", "op": "exists"},
                        {"not": {"field": "points_balance", "op": "gte"}},
                    ]
                },
                "rule.or.1.not.value",
            ),
            ({"field": "points_balance", "op": "between", "values": [10, 5]}, "rule.values"),
            ({"field": "consents", "op": "has_any", "values": ["marketing:fax"]}, "rule.values"),
            ({"field": "last_purchase_at", "op": "within_days", "days": -1}, "rule.days"),
            ({"field": "tier", "op": "in", "values": ["gold"], "days": 3}, "rule.days"),
            ({"and": []}, "rule.and"),
            ({"and": [{"field": "tier", "op": "exists"}], "or": []}, "rule"),
            ("tier = gold", "rule"),
        ],
    )
    def test_invalid_rules_name_the_field(self, rule: object, field: str) -> None:
        with pytest.raises(InvalidRule) as caught:
            parse_rule(rule)
        assert caught.value.fields[0]["field"] == field

    def test_depth_is_bounded(self) -> None:
        rule: dict[str, object] = {"field": "tier", "op": "exists"}
        for _ in range(9):
            rule = {"not": rule}
        with pytest.raises(InvalidRule):
            parse_rule(rule)


class TestRows:
    def test_and_or_not_over_attributes(self) -> None:
        rule = parse_rule(
            {
                "and": [
                    {"field": "tier", "op": "in", "values": ["gold", "platinum"]},
                    {
                        "or": [
                            {"field": "points_balance", "op": "gte", "value": 1000},
                            {"field": "tags", "op": "has_any", "values": ["vip"]},
                        ]
                    },
                    {"not": {"field": "churn_risk", "op": "in", "values": ["high"]}},
                    {"field": "consents", "op": "has_any", "values": ["marketing:sms"]},
                ]
            }
        )
        ok = member(
            1, tier="gold", points_balance=1500, churn_risk="low", consents=frozenset({"marketing:sms"})
        )
        assert matches(rule, ok, NOW)
        assert not matches(rule, ok.model_copy(update={"churn_risk": "high"}), NOW)
        assert not matches(rule, ok.model_copy(update={"points_balance": 10}), NOW)
        assert matches(rule, ok.model_copy(update={"points_balance": 10, "tags": frozenset({"vip"})}), NOW)
        assert not matches(rule, ok.model_copy(update={"consents": frozenset()}), NOW)

    def test_dates_by_day(self) -> None:
        recent = parse_rule({"field": "last_purchase_at", "op": "within_days", "days": 30})
        old = parse_rule({"field": "last_purchase_at", "op": "older_than_days", "days": 30})
        bought = member(1, last_purchase_at=NOW - timedelta(days=30))
        assert matches(recent, bought, NOW) and not matches(old, bought, NOW)
        long_ago = member(2, last_purchase_at=NOW - timedelta(days=31))
        assert matches(old, long_ago, NOW) and not matches(recent, long_ago, NOW)
        never = member(3)
        assert not matches(old, never, NOW) and not matches(recent, never, NOW)


class TestSliced:
    @given(st.lists(st.integers(-500, 5000), min_size=1, max_size=60), st.integers(-600, 5100))
    def test_ge_and_le_are_exact(self, values: list[int], threshold: int) -> None:
        index = build_shard([member(i, points_balance=v) for i, v in enumerate(values)])
        column: Sliced = index.numbers["points_balance"]
        assert rows_of(column.ge(threshold)) == [i for i, v in enumerate(values) if v >= threshold]
        assert rows_of(column.le(threshold)) == [i for i, v in enumerate(values) if v <= threshold]


TIERS = st.sampled_from([None, "silver", "gold", "platinum"])
TAGS = st.frozensets(st.sampled_from(["vip", "parent", "foodie"]), max_size=3)
ROW = st.builds(
    lambda n, tier, tags, pts, days, consents: member(
        n,
        tier=tier,
        tags=tags,
        points_balance=pts,
        last_purchase_at=None if days is None else NOW - timedelta(days=days, hours=3),
        consents=consents,
    ),
    st.integers(0, 99999),
    TIERS,
    TAGS,
    st.one_of(st.none(), st.integers(-100, 3000)),
    st.one_of(st.none(), st.integers(0, 400)),
    st.frozensets(st.sampled_from(["marketing:sms", "marketing:inbox", "personalisation"]), max_size=3),
)
CONDITION = st.one_of(
    st.builds(
        lambda v: {"field": "tier", "op": "in", "values": v},
        st.lists(st.sampled_from(["silver", "gold", "x"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: {"field": "tags", "op": op, "values": v},
        st.sampled_from(["has_any", "has_all"]),
        st.lists(st.sampled_from(["vip", "parent", "foodie"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: {"field": "points_balance", "op": op, "value": v},
        st.sampled_from(["gte", "lte"]),
        st.integers(-150, 3100),
    ),
    st.builds(
        lambda lo, hi: {"field": "points_balance", "op": "between", "values": [min(lo, hi), max(lo, hi)]},
        st.integers(-150, 3100),
        st.integers(-150, 3100),
    ),
    st.builds(
        lambda op, d: {"field": "last_purchase_at", "op": op, "days": d},
        st.sampled_from(["within_days", "older_than_days"]),
        st.integers(0, 450),
    ),
    st.builds(
        lambda f: {"field": f, "op": "exists"},
        st.sampled_from(["tier", "tags", "points_balance", "last_purchase_at", "consents"]),
    ),
    st.just({"field": "consents", "op": "has_all", "values": ["marketing:sms", "personalisation"]}),
)
RULE = st.recursive(
    CONDITION,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"or": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=40), RULE)
def test_bitmap_index_agrees_with_rows_and_survives_serialisation(
    rows: list[MemberAttributes], raw: dict[str, object]
) -> None:
    rule = parse_rule(raw)
    index = ShardIndex.loads(build_shard(rows).dumps())
    expected = [i for i, row in enumerate(rows) if matches(rule, row, NOW)]
    assert rows_of(index.evaluate(rule, NOW)) == expected


@pytest.mark.parametrize(
    ("raw", "without_points_matches"),
    [
        ({"field": "points_balance", "op": "lte", "value": 100}, True),
        ({"field": "points_balance", "op": "between", "values": [0, 50]}, True),
        ({"field": "points_balance", "op": "gte", "value": 0}, True),
        ({"field": "points_balance", "op": "gte", "value": 1}, False),
        ({"field": "points_balance", "op": "between", "values": [-10, -1]}, False),
        ({"field": "points_balance", "op": "exists"}, False),
    ],
)
def test_a_member_without_points_movements_counts_as_zero_points(
    raw: dict[str, object], without_points_matches: bool
) -> None:
    # Regression: "fewer than 100 points" left out every member who had never earned a point.
    rule = parse_rule(raw)
    rows = [member(0), member(1, points_balance=30)]
    assert matches(rule, rows[0], NOW) is without_points_matches
    index = ShardIndex.loads(build_shard(rows).dumps())
    assert (0 in rows_of(index.evaluate(rule, NOW))) is without_points_matches
