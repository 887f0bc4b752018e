"""The tag rule language: parsing (and refusing), evaluation, and its SQL form."""

from __future__ import annotations

from typing import Any

import pytest

from services.members.logic.tags import (
    All,
    Compare,
    InvalidRule,
    Not,
    canonical,
    check_tag_id,
    describe,
    evaluate,
    parse,
    sql_column,
    to_json,
    to_sql,
)

FAMILY = {
    "all": [
        {"field": "parking_weekend_avg_minutes", "op": ">=", "value": 150},
        {
            "any": [
                {"field": "category_share.kids", "op": ">=", "value": 0.1},
                {"field": "category_share.toys", "op": ">=", "value": 0.1},
            ]
        },
    ]
}


def reader(**values):
    return values.get


class TestParse:
    def test_round_trip(self):
        rule = parse(FAMILY)
        assert isinstance(rule, All)
        assert to_json(rule) == FAMILY
        assert parse(to_json(rule)) == rule
        assert canonical(rule) == canonical(parse(FAMILY))

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({}, "expected an object"),
            ([], "expected an object"),
            ({"all": []}, "1-20 rules"),
            ({"all": {"field": "x"}}, "1-20 rules"),
            ({"field": "__class__", "op": ">", "value": 1}, "unknown field"),
            ({"field": "category_share.Kids; DROP", "op": ">", "value": 1}, "unknown field"),
            ({"field": "os.system", "op": ">", "value": 1}, "unknown field"),
            ({"field": "recency_days", "op": "=~", "value": 1}, "op must be"),
            ({"field": "recency_days", "op": ">", "value": "1"}, "finite number"),
            ({"field": "recency_days", "op": ">", "value": True}, "finite number"),
            ({"field": "recency_days", "op": ">", "value": float("nan")}, "finite number"),
            ({"field": "recency_days", "op": ">", "value": 1, "extra": 2}, "expected all / any / not"),
            (
                {"all": [{"field": "recency_days", "op": ">", "value": 1}], "any": []},
                "expected all / any / not",
            ),
        ],
    )
    def test_what_is_refused(self, raw, message):
        with pytest.raises(InvalidRule, match=message):
            parse(raw)

    def test_depth_and_size_are_bounded(self):
        deep: dict[str, Any] = {"field": "recency_days", "op": ">", "value": 1}
        for _ in range(7):
            deep = {"not": deep}
        with pytest.raises(InvalidRule, match="deeper"):
            parse(deep)
        wide = {
            "all": [
                {"any": [{"field": "recency_days", "op": ">", "value": i} for i in range(20)]}
                for _ in range(4)
            ]
        }
        with pytest.raises(InvalidRule, match="nodes"):
            parse(wide)

    def test_tag_ids(self):
        assert check_tag_id("family") == "family"
        for bad in ("", "Family", "1st", "a b", "x" * 41):
            with pytest.raises(InvalidRule):
                check_tag_id(bad)


class TestEvaluate:
    def test_family(self):
        rule = parse(FAMILY)
        assert evaluate(rule, reader(parking_weekend_avg_minutes=180, **{"category_share.toys": 0.2}))
        assert not evaluate(rule, reader(parking_weekend_avg_minutes=120, **{"category_share.kids": 0.5}))

    def test_a_missing_value_compares_false_and_not_negates_that(self):
        assert not evaluate(Compare("last_csat", ">=", 4), reader())
        assert not evaluate(Compare("last_csat", "<", 4), reader())
        assert evaluate(Not(Compare("last_csat", ">=", 4)), reader())

    def test_describe(self):
        assert describe(parse(FAMILY)) == (
            "(parking_weekend_avg_minutes >= 150 and "
            "(category_share.kids >= 0.1 or category_share.toys >= 0.1))"
        )


class TestSql:
    def test_generated_not_copied(self):
        sql = to_sql(parse(FAMILY))
        assert sql == (
            "(coalesce(parking_weekend_avg_minutes >= 150, false) AND "
            "(coalesce(\"cs__kids\" >= CAST('0.1' AS DOUBLE), false) OR "
            "coalesce(\"cs__toys\" >= CAST('0.1' AS DOUBLE), false)))"
        )
        assert to_sql(Not(Compare("last_csat", "==", 5))) == "(NOT coalesce(last_csat = 5, false))"

    def test_columns_are_checked_again(self):
        with pytest.raises(InvalidRule):
            sql_column('category_share.x"; --')
        with pytest.raises(InvalidRule):
            sql_column("nope")
