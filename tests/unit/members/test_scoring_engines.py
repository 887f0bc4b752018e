"""The columnar engine (SQL on DuckDB) and the per-member Python rules score alike.

~1,000 synthetic members with purchases, refunds, parking, tickets and surveys: the Python side
applies every event through logic/stats.py (as the consumers do) and scores with logic/scoring.py;
the columnar side loads the same events as fact tables and runs logic/scoring_sql.py. Every
output must be equal for every member, and so must the population's quintile bounds.
"""

from __future__ import annotations

import csv
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench.scoring_engine import create_empty_facts, score_columnar
from services.members.logic.scoring import DEFAULT_RULES, features, population_bounds, score_features
from services.members.logic.stats import (
    apply_parking,
    apply_purchase,
    apply_refund,
    apply_survey,
    apply_ticket_resolved,
    empty_stats,
)
from services.members.logic.tags import TagRule, parse
from services.members.models.entities import BehaviourStats, ProfileScore, QuantileBounds

duckdb = pytest.importorskip("duckdb")

# table name -> its rows (each table has its own columns: member first, then its facts)
Facts = dict[str, list[tuple[Any, ...]]]

TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)
AS_OF = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CATEGORIES = ["food", "apparel", "kids", "toys", "beauty", "electronics"]
TAGS = [
    TagRule(
        tag_id="family",
        name="Family",
        rule=parse(
            {
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
        ),
    ),
    TagRule(
        tag_id="unhappy",
        name="Unhappy",
        rule=parse(
            {
                "any": [
                    {"field": "last_csat", "op": "<=", "value": 2},
                    {"field": "complaint_count", "op": ">=", "value": 2},
                ]
            }
        ),
    ),
    TagRule(
        tag_id="quiet-regular",
        name="Regular gone quiet",
        rule=parse(
            {
                "all": [
                    {"field": "purchase_count", "op": ">=", "value": 5},
                    {"not": {"field": "frequency_30d", "op": ">", "value": 0}},
                    {"field": "cadence_days", "op": "<", "value": 30.5},
                ]
            }
        ),
    ),
    TagRule(
        tag_id="electronics-fan",
        name="Electronics",
        rule=parse({"field": "category_spend_cents.electronics", "op": ">", "value": 50_000}),
    ),
    TagRule(
        tag_id="off",
        name="Disabled",
        rule=parse({"field": "purchase_count", "op": ">=", "value": 0}),
        enabled=False,
    ),
]


def synthetic(members: int, seed: int) -> Facts:
    rng = random.Random(seed)
    facts: Facts = {name: [] for name in ("purchases", "refunds", "parking", "tickets", "surveys")}
    for i in range(members):
        member = f"M{i:06d}"
        start = rng.randint(0, 395)
        rhythm = rng.choice([3, 7, 14, 30, 60, 120])
        for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8, 13, 21, 34])):
            ago = rng.randint(0, start)
            at = AS_OF - timedelta(days=ago, seconds=rng.randint(0, 86_399)) if rhythm else AS_OF
            cents = rng.choice([990, 4_500, 12_800, 25_900, 88_000, 250_000])
            facts["purchases"].append((member, at, cents, rng.choice(CATEGORIES)))
            if rng.random() < 0.05:
                facts["refunds"].append(
                    (member, at + timedelta(days=rng.randint(0, 3)), cents // rng.choice([1, 2]))
                )
        for _ in range(rng.choice([0, 0, 1, 3, 6])):
            entered = AS_OF - timedelta(days=rng.randint(0, 390), minutes=rng.randint(0, 1440))
            facts["parking"].append((member, entered, entered + timedelta(minutes=rng.randint(5, 400))))
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            opened = AS_OF - timedelta(days=rng.randint(0, 300))
            facts["tickets"].append((member, rng.choice(["complaint", "inquiry", "after_sales"]), opened))
        for _ in range(rng.choice([0, 0, 1, 2])):
            facts["surveys"].append(
                (
                    member,
                    rng.randint(1, 5),
                    AS_OF - timedelta(days=rng.randint(0, 300), seconds=rng.randint(0, 9999)),
                )
            )
    return facts


def python_scores(facts: Facts) -> tuple[QuantileBounds, dict[str, ProfileScore]]:
    stats: dict[str, BehaviourStats] = {}

    def of(member: str) -> BehaviourStats:
        return stats.get(member) or empty_stats(member)

    for member, at, cents, category in facts["purchases"]:
        stats[member] = apply_purchase(
            of(member),
            occurred_at=at,
            amount_cents=cents,
            store_id="s",
            item_categories=[(category, cents)],
            tz=ZONE,
        )
    for member, at, cents in facts["refunds"]:
        stats[member] = apply_refund(of(member), occurred_at=at, amount_cents=cents, tz=ZONE)
    for member, entered, exited in facts["parking"]:
        stats[member] = apply_parking(of(member), entered_at=entered, exited_at=exited, tz=ZONE)
    for member, category, opened in facts["tickets"]:
        stats[member] = apply_ticket_resolved(
            of(member), category=category, opened_at=opened, resolved_at=opened
        )
    for member, csat, at in facts["surveys"]:
        stats[member] = apply_survey(of(member), csat=csat, answered_at=at)
    today = AS_OF.astimezone(ZONE).date()
    population = [features(s, today, ZONE) for s in stats.values() if s.last_purchase_at is not None]
    bounds = population_bounds(population)
    return bounds, {f.member_id: score_features(f, bounds, AS_OF, DEFAULT_RULES, TAGS) for f in population}


def columnar_scores(facts: Facts) -> tuple[QuantileBounds, dict[str, dict[str, Any]]]:
    con = duckdb.connect()
    create_empty_facts(con)
    folder = tempfile.mkdtemp(prefix="scoring-engines-")
    for table, rows in facts.items():
        if rows:  # through a CSV file, times as epoch microseconds (DuckDB's row inserts are slow)
            path = Path(folder) / f"{table}.csv"
            with path.open("w", newline="") as out:
                csv.writer(out).writerows(
                    [(v - EPOCH) // timedelta(microseconds=1) if isinstance(v, datetime) else v for v in row]
                    for row in rows
                )
            selects = [
                f"timezone('UTC', make_timestamp(CAST(column{i:d} AS BIGINT)))"
                if isinstance(value, datetime)
                else f"column{i:d}"
                for i, value in enumerate(rows[0])
            ]
            con.execute(
                f"INSERT INTO {table} SELECT {', '.join(selects)} "
                f"FROM read_csv('{path}', header = false, all_varchar = true)"
            )
    bounds = score_columnar(con, as_of=AS_OF, tz=TZ, tag_rules=TAGS)
    columns = [d[0] for d in con.execute("SELECT * FROM scores").description]
    scores = {
        r[0]: dict(zip(columns, r, strict=True)) for r in con.execute("SELECT * FROM scores").fetchall()
    }
    return bounds, scores


COMPARED = [
    "recency_days",
    "frequency_30d",
    "frequency_90d",
    "frequency_365d",
    "monetary_90d_cents",
    "monetary_365d_cents",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "churn_risk",
    "value_level",
    "frequency_level",
    "spend_level",
    "lifecycle",
]


@pytest.mark.parametrize(("members", "source"), [(1_000, "population"), (60, "fixed")])
def test_both_engines_score_every_member_alike(members: int, source: str) -> None:
    facts = synthetic(members, seed=20261123 + members)
    py_bounds, py = python_scores(facts)
    sql_bounds, sql = columnar_scores(facts)

    assert py_bounds == sql_bounds
    assert py_bounds.source == source
    assert set(py) == set(sql)
    mismatches = []
    for member, expected in py.items():
        row = sql[member]
        got = {name: row[name] for name in COMPARED} | {"tags": tuple(row["tags"])}
        want = {name: getattr(expected, name) for name in COMPARED} | {"tags": expected.tags}
        if got != want or abs(row["cadence_days"] - expected.cadence_days) > 0.005:
            mismatches.append((member, {k: (want[k], got[k]) for k in want if want[k] != got[k]}))
    assert not mismatches, mismatches[:5]
    # the sample exercises every branch worth comparing
    seen = {name: {getattr(s, name) for s in py.values()} for name in ("segment", "lifecycle", "churn_risk")}
    if source == "population":
        assert len(seen["segment"]) == 8, seen
        assert seen["lifecycle"] == {"new", "active", "at_risk", "dormant"} | (
            seen["lifecycle"] & {"lost"}
        ), seen
        assert {t for s in py.values() for t in s.tags} == {
            "family",
            "unhappy",
            "quiet-regular",
            "electronics-fan",
        }
