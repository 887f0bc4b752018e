"""The columnar scoring engine on DuckDB: runs the SQL of services/members/logic/scoring_sql.py.

DuckDB is a development dependency (requirements/dev.txt): the scoring Lambda (tier S) scores in
Python over gsi1; this engine is what the nightly job becomes over an export (the benchmark runs it
over Parquet; at 30 M members the same SQL shape runs on Athena — docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from services.members.logic.scoring import DEFAULT_RULES, ScoringRules
from services.members.logic.scoring_sql import (
    bounds_from_rows,
    bounds_sql,
    features_sql,
    scores_sql,
    stats_from_facts_sql,
)
from services.members.logic.tags import TagRule
from services.members.models.entities import QuantileBounds

if TYPE_CHECKING:  # pragma: no cover - typing only
    import duckdb

FACT_TABLES = {
    "purchases": "member_id VARCHAR, occurred_at TIMESTAMPTZ, amount_cents BIGINT, category VARCHAR",
    "refunds": "member_id VARCHAR, occurred_at TIMESTAMPTZ, amount_cents BIGINT",
    "parking": "member_id VARCHAR, entered_at TIMESTAMPTZ, exited_at TIMESTAMPTZ",
    "tickets": "member_id VARCHAR, category VARCHAR, opened_at TIMESTAMPTZ",
    "surveys": "member_id VARCHAR, csat INTEGER, answered_at TIMESTAMPTZ",
}


def create_empty_facts(con: duckdb.DuckDBPyConnection, skip: Sequence[str] = ()) -> None:
    """Empty fact tables (those in ``skip`` are created by the caller, e.g. as Parquet views)."""
    for name, columns in FACT_TABLES.items():
        if name not in skip:
            con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")


def score_columnar(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    tz: str,
    rules: ScoringRules = DEFAULT_RULES,
    tag_rules: Sequence[TagRule] = (),
    from_facts: bool = True,
    timings: dict[str, float] | None = None,
) -> QuantileBounds:
    """Score every member into table ``scores``; the population's bounds are returned."""
    import time

    def step(name: str, sql: str | list[str]) -> None:
        started = time.perf_counter()
        for statement in [sql] if isinstance(sql, str) else sql:
            con.execute(statement)
        if timings is not None:
            timings[name] = time.perf_counter() - started

    if from_facts:
        step("statistics", stats_from_facts_sql(tz))
    today = as_of.astimezone(ZoneInfo(tz)).date()
    step("features", features_sql(today, tz, rules, tag_rules))
    started = time.perf_counter()
    bounds = bounds_from_rows(con.execute(bounds_sql()).fetchall(), rules)
    if timings is not None:
        timings["quintiles"] = time.perf_counter() - started
    step("scores", scores_sql(bounds, rules, tag_rules))
    return bounds
