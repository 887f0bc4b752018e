# ruff: noqa: S608 - writing SQL is this module's job; every value in it is generated or checked here
"""The columnar scoring engine: the rules of :mod:`services.members.logic.scoring` as SQL.

For populations past what one Lambda scores over gsi1 (docs/performance.md), the nightly job runs
over an export of MembersTable's statistics: DuckDB over Parquet on one machine (the benchmark),
Athena over a DynamoDB export to S3 at 30 M members. Pure: this module only writes SQL text (no
engine import); every identifier and literal in it comes from the rules and from values checked
here, never from raw input. The SQL keeps to what DuckDB and Trino (Athena) share, except where a
function name differs (noted at the function).

The input, flattened from the ``STATS`` items (an export) or built from raw facts by
:func:`stats_from_facts_sql` (the benchmark; it mirrors :mod:`services.members.logic.stats`):

* ``member_stats(member_id, first_purchase_at, last_purchase_at, purchase_count, spend_cents,
  parking_sessions, parking_minutes, parking_weekend_sessions, parking_weekend_minutes,
  tickets_resolved, complaint_count, last_complaint_at, last_csat)``;
* ``member_days(member_id, day, count, spend_cents, parking_count, parking_minutes)`` — the day
  buckets, ``day`` a calendar day in the mall's zone;
* ``member_categories(member_id, category, spend_cents)``.

Then: :func:`features_sql` (table ``features``), :func:`bounds_sql` (the population's quintile
ranks, read into :func:`bounds_from_rows`), :func:`scores_sql` (table ``scores``).
tests/unit/members/test_scoring_engines.py proves the two engines score alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from services.members.logic.scoring import DEFAULT_RULES, ScoringRules, fixed_bounds
from services.members.logic.tags import TagRule, referenced_categories, to_sql
from services.members.models.entities import QuantileBounds

_ZONE = re.compile(r"^[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+){0,2}$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


def _zone(tz: str) -> str:
    if not _ZONE.match(tz):
        raise ValueError(f"not a time zone name: {tz!r}")
    return tz


def _num(value: float) -> str:
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _day(value: date) -> str:
    return f"DATE '{value.isoformat()}'"


def local_date(column: str, tz: str) -> str:
    """The calendar day of a TIMESTAMPTZ in the mall's zone.

    Trino (Athena): ``CAST(column AT TIME ZONE tz AS DATE)``.
    """
    return f"CAST(timezone('{_zone(tz)}', {column}) AS DATE)"


_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 86_400_000_000
FACT_TIMES = {
    "purchases": ("occurred_at",),
    "refunds": ("occurred_at",),
    "parking": ("entered_at",),
}


def tz_offsets_sql(tz: str, times: dict[str, tuple[str, ...]]) -> str:
    """``tz_offsets(hour, offset_us)``: the zone's UTC offset for every UTC hour the facts span.

    Converting each of 20 M timestamps through the time-zone database costs more than the rest of
    the statistics together; an offset per UTC hour, joined on ``epoch_us // 1 h``, gives the
    same local day (zones change their offset on the hour; Asia/Shanghai never does).
    """
    hours = " UNION ALL ".join(
        f"SELECT min(epoch_us({c})) AS lo, max(epoch_us({c})) AS hi FROM {t}"
        for t, cs in times.items()
        for c in cs
    )
    return f"""
    CREATE OR REPLACE TABLE tz_offsets AS
    WITH span AS (
        SELECT min(lo) // {_US_PER_HOUR} AS lo, max(hi) // {_US_PER_HOUR} AS hi FROM ({hours}) AS x
    )
    SELECT h AS hour,
           epoch_us(timezone('{_zone(tz)}', make_timestamp(h * {_US_PER_HOUR}) AT TIME ZONE 'UTC'))
               - h * {_US_PER_HOUR}
               AS offset_us
    FROM span, range(coalesce(span.lo, 0), coalesce(span.hi, 0) + 1) AS r(h)
    """


def _local_day_number(table_alias: str, column: str, offsets_alias: str) -> str:
    return f"(epoch_us({table_alias}.{column}) + {offsets_alias}.offset_us) // {_US_PER_DAY}"


def _offsets_join(table_alias: str, column: str, offsets_alias: str) -> str:
    on = f"{offsets_alias}.hour = epoch_us({table_alias}.{column}) // {_US_PER_HOUR}"
    return f"JOIN tz_offsets AS {offsets_alias} ON {on}"


def stats_from_facts_sql(tz: str) -> list[str]:
    """Raw facts → the three input tables, as the consumers would have built them.

    Facts: ``purchases(member_id, occurred_at, amount_cents, category)`` (one line per purchase),
    ``refunds(member_id, occurred_at, amount_cents)``, ``parking(member_id, entered_at, exited_at)``,
    ``tickets(member_id, category, opened_at)``, ``surveys(member_id, csat, answered_at)``.
    """
    minutes = "greatest((epoch_us(exited_at) - epoch_us(entered_at)) // 60000000, 0)"
    # 1970-01-01 was a Thursday (ISO day 4): ISO day of week from the local day number
    weekend = f"((({_local_day_number('f', 'entered_at', 'o')}) + 3) % 7) + 1 IN (6, 7)"
    return [
        tz_offsets_sql(tz, dict(FACT_TIMES)),
        f"""
        CREATE OR REPLACE TABLE parking_local AS
        SELECT f.member_id, {_local_day_number("f", "entered_at", "o")} AS day_number, {minutes} AS minutes,
               {weekend} AS weekend
        FROM parking AS f {_offsets_join("f", "entered_at", "o")}
        """,
        f"""
        CREATE OR REPLACE TABLE member_days AS
        SELECT member_id, CAST(DATE '1970-01-01' + CAST(day_number AS INTEGER) AS DATE) AS day,
               CAST(sum(c) AS BIGINT) AS count, CAST(sum(s) AS BIGINT) AS spend_cents,
               CAST(sum(pc) AS BIGINT) AS parking_count, CAST(sum(pm) AS BIGINT) AS parking_minutes
        FROM (
            SELECT f.member_id, {_local_day_number("f", "occurred_at", "o")} AS day_number,
                   1 AS c, f.amount_cents AS s, 0 AS pc, 0 AS pm
            FROM purchases AS f {_offsets_join("f", "occurred_at", "o")}
            UNION ALL
            SELECT f.member_id, {_local_day_number("f", "occurred_at", "o")}, 0, -f.amount_cents, 0, 0
            FROM refunds AS f {_offsets_join("f", "occurred_at", "o")}
            UNION ALL
            SELECT member_id, day_number, 0, 0, 1, minutes FROM parking_local
        ) AS facts
        GROUP BY member_id, day_number
        """,
        """
        CREATE OR REPLACE TABLE member_categories AS
        SELECT member_id, category, CAST(sum(amount_cents) AS BIGINT) AS spend_cents
        FROM purchases GROUP BY member_id, category
        """,
        """
        CREATE OR REPLACE TABLE member_stats AS
        WITH p AS (
            SELECT member_id, min(occurred_at) AS first_purchase_at, max(occurred_at) AS last_purchase_at,
                   count(*) AS purchase_count, sum(amount_cents) AS bought
            FROM purchases GROUP BY member_id
        ), r AS (
            SELECT member_id, sum(amount_cents) AS refunded FROM refunds GROUP BY member_id
        ), k AS (
            SELECT member_id, count(*) AS parking_sessions, sum(minutes) AS parking_minutes,
                   count(*) FILTER (WHERE weekend) AS parking_weekend_sessions,
                   coalesce(sum(minutes) FILTER (WHERE weekend), 0) AS parking_weekend_minutes
            FROM parking_local GROUP BY member_id
        ), t AS (
            SELECT member_id, count(*) AS tickets_resolved,
                   count(*) FILTER (WHERE category = 'complaint') AS complaint_count,
                   max(opened_at) FILTER (WHERE category = 'complaint') AS last_complaint_at
            FROM tickets GROUP BY member_id
        ), v AS (
            SELECT member_id, arg_max(csat, answered_at) AS last_csat FROM surveys GROUP BY member_id
        ), ids AS (
            SELECT member_id FROM p UNION SELECT member_id FROM r UNION SELECT member_id FROM k
            UNION SELECT member_id FROM t UNION SELECT member_id FROM v
        )
        SELECT ids.member_id, p.first_purchase_at, p.last_purchase_at,
               coalesce(p.purchase_count, 0) AS purchase_count,
               CAST(coalesce(p.bought, 0) - coalesce(r.refunded, 0) AS BIGINT) AS spend_cents,
               coalesce(k.parking_sessions, 0) AS parking_sessions,
               CAST(coalesce(k.parking_minutes, 0) AS BIGINT) AS parking_minutes,
               coalesce(k.parking_weekend_sessions, 0) AS parking_weekend_sessions,
               CAST(coalesce(k.parking_weekend_minutes, 0) AS BIGINT) AS parking_weekend_minutes,
               coalesce(t.tickets_resolved, 0) AS tickets_resolved,
               coalesce(t.complaint_count, 0) AS complaint_count,
               t.last_complaint_at, v.last_csat
        FROM ids LEFT JOIN p USING (member_id) LEFT JOIN r USING (member_id) LEFT JOIN k USING (member_id)
                 LEFT JOIN t USING (member_id) LEFT JOIN v USING (member_id)
        """,
    ]


def _categories(tag_rules: Iterable[TagRule]) -> list[str]:
    found: set[str] = set()
    for tag in tag_rules:
        found |= referenced_categories(tag.rule)
    for category in found:
        if not _CATEGORY.match(category):
            raise ValueError(f"category {category!r}")
    return sorted(found)


def features_sql(
    today: date, tz: str, rules: ScoringRules = DEFAULT_RULES, tag_rules: Sequence[TagRule] = ()
) -> str:
    """``features``: one row per member with a purchase, the columns of ``scoring.Features``
    (plus ``cs__<category>`` / ``cc__<category>`` for the categories the tag rules name)."""

    def window(length: int, column: str) -> str:
        start = today - timedelta(days=length - 1)
        return f"sum({column}) FILTER (WHERE day BETWEEN {_day(start)} AND {_day(today)})"

    def days_since(column: str) -> str:
        return f"greatest(date_diff('day', {local_date(column, tz)}, {_day(today)}), 0)"

    def ratio(part: str, whole: str) -> str:
        return f"CASE WHEN {whole} > 0 THEN CAST({part} AS DOUBLE) / {whole} END"

    categories = _categories(tag_rules)
    pivots = "".join(
        f",\n               sum(spend_cents) FILTER (WHERE category = '{c}') AS \"cc_raw__{c}\""
        for c in categories
    )
    category_columns = ""
    for c in categories:
        spent = 'coalesce(c."cc_raw__' + c + '", 0)'
        category_columns += f',\n           {spent} AS "cc__{c}",'
        category_columns += f'\n           {ratio(spent, "c.category_total")} AS "cs__{c}"'
    span_days = (
        "CAST(epoch_us(s.last_purchase_at) - epoch_us(s.first_purchase_at) AS DOUBLE) / 1000000 / 86400"
    )
    cadence = (
        f"CASE WHEN s.purchase_count < 2 THEN {_num(rules.default_cadence_days)} "
        f"ELSE least(greatest({span_days} / (s.purchase_count - 1), {_num(rules.min_cadence_days)}), "
        f"{_num(rules.max_cadence_days)}) END"
    )
    return f"""
    CREATE OR REPLACE TABLE features AS
    WITH w AS (
        SELECT member_id,
               coalesce({window(30, "count")}, 0) AS frequency_30d,
               coalesce({window(90, "count")}, 0) AS frequency_90d,
               coalesce({window(365, "count")}, 0) AS frequency_365d,
               greatest(coalesce({window(90, "spend_cents")}, 0), 0) AS monetary_90d_cents,
               greatest(coalesce({window(365, "spend_cents")}, 0), 0) AS monetary_365d_cents,
               coalesce({window(90, "parking_count")}, 0) AS parking_visits_90d,
               coalesce({window(365, "parking_count")}, 0) AS parking_visits_365d
        FROM member_days GROUP BY member_id
    ), c AS (
        SELECT member_id, sum(spend_cents) AS category_total{pivots}
        FROM member_categories GROUP BY member_id
    )
    SELECT s.member_id,
           {days_since("s.last_purchase_at")} AS recency_days,
           {days_since("s.first_purchase_at")} AS member_for_days,
           CAST(coalesce(w.frequency_30d, 0) AS BIGINT) AS frequency_30d,
           CAST(coalesce(w.frequency_90d, 0) AS BIGINT) AS frequency_90d,
           CAST(coalesce(w.frequency_365d, 0) AS BIGINT) AS frequency_365d,
           CAST(coalesce(w.monetary_90d_cents, 0) AS BIGINT) AS monetary_90d_cents,
           CAST(coalesce(w.monetary_365d_cents, 0) AS BIGINT) AS monetary_365d_cents,
           s.purchase_count, s.spend_cents,
           {cadence} AS cadence_days,
           CAST(coalesce(w.parking_visits_90d, 0) AS BIGINT) AS parking_visits_90d,
           CAST(coalesce(w.parking_visits_365d, 0) AS BIGINT) AS parking_visits_365d,
           s.parking_sessions,
           {ratio("s.parking_minutes", "s.parking_sessions")} AS parking_avg_minutes,
           s.parking_weekend_sessions,
           {ratio("s.parking_weekend_minutes", "s.parking_weekend_sessions")} AS parking_weekend_avg_minutes,
           {ratio("s.parking_weekend_sessions", "s.parking_sessions")} AS parking_weekend_share,
           s.tickets_resolved, s.complaint_count,
           CASE WHEN s.last_complaint_at IS NOT NULL THEN {days_since("s.last_complaint_at")} END
               AS days_since_last_complaint,
           s.last_csat{category_columns}
    FROM member_stats AS s LEFT JOIN w USING (member_id) LEFT JOIN c USING (member_id)
    WHERE s.last_purchase_at IS NOT NULL
    """


def bounds_sql() -> str:
    """The population's size and its R/F/M values at the quintile ranks ⌈k·n/5⌉ (k = 1..4): rows
    ``(dim, n, k, value)`` for :func:`bounds_from_rows`. Exact (no approximate percentile)."""
    return """
    WITH v AS (
        SELECT 'r' AS dim, -recency_days AS x FROM features
        UNION ALL SELECT 'f', frequency_365d FROM features
        UNION ALL SELECT 'm', monetary_365d_cents FROM features
    ), ranked AS (
        SELECT dim, x, row_number() OVER (PARTITION BY dim ORDER BY x) AS rn,
               count(*) OVER (PARTITION BY dim) AS n
        FROM v
    ), ks AS (
        SELECT * FROM (VALUES (1), (2), (3), (4)) AS t(k)
    )
    SELECT dim, n, k, x FROM ranked JOIN ks ON rn = greatest((k * n + 4) // 5, 1) ORDER BY dim, k
    """


def bounds_from_rows(
    rows: Iterable[tuple[str, int, int, int]], rules: ScoringRules = DEFAULT_RULES
) -> QuantileBounds:
    """:func:`bounds_sql`'s rows → the same :class:`QuantileBounds` the stream engine computes."""
    picked: dict[str, dict[int, int]] = {"r": {}, "f": {}, "m": {}}
    n = 0
    for dim, size, k, value in rows:
        picked[dim][int(k)] = int(value)
        n = int(size)
    if n < rules.min_population:
        r, f, m = fixed_bounds(rules)
        return QuantileBounds(source="fixed", population=n, r=r, f=f, m=m)

    def cut(dim: str) -> tuple[int, int, int, int]:
        values = picked[dim]
        return values[1], values[2], values[3], values[4]

    return QuantileBounds(source="population", population=n, r=cut("r"), f=cut("f"), m=cut("m"))


def scores_sql(
    bounds: QuantileBounds, rules: ScoringRules = DEFAULT_RULES, tag_rules: Sequence[TagRule] = ()
) -> str:
    """``scores``: one row per member of ``features`` with every output of ``score_features``
    (``tags`` a list sorted by tag id; Trino: ``filter(ARRAY[...], x -> x IS NOT NULL)``)."""

    def quintile(value: str, cut: tuple[int, int, int, int]) -> str:
        return "1 + " + " + ".join(f"CASE WHEN {value} > {b} THEN 1 ELSE 0 END" for b in cut)

    def level(column: str) -> str:
        return (
            f"CASE WHEN {column} >= {rules.level_high_score} THEN 'high' "
            f"WHEN {column} >= {rules.level_medium_score} THEN 'medium' ELSE 'low' END"
        )

    high = rules.segment_high_score
    medium_after = f"{_num(rules.medium_risk_cadences)} * cadence_days"
    high_after = f"{_num(rules.high_risk_cadences)} * cadence_days"
    dormant_after = f"greatest({_num(rules.dormant_after_days)}, {high_after})"
    enabled = sorted((t for t in tag_rules if t.enabled), key=lambda t: t.tag_id)
    if enabled:
        options = ", ".join(f"CASE WHEN {to_sql(t.rule)} THEN '{t.tag_id}' END" for t in enabled)
        tags = f"list_filter([{options}], x -> x IS NOT NULL)"
    else:
        tags = "CAST([] AS VARCHAR[])"
    return f"""
    CREATE OR REPLACE TABLE scores AS
    WITH q AS (
        SELECT *,
               {quintile("-recency_days", bounds.r)} AS r_score,
               {quintile("frequency_365d", bounds.f)} AS f_score,
               {quintile("monetary_365d_cents", bounds.m)} AS m_score
        FROM features
    )
    SELECT member_id, recency_days, member_for_days, frequency_30d, frequency_90d, frequency_365d,
           monetary_90d_cents, monetary_365d_cents, cadence_days, r_score, f_score, m_score,
           CASE WHEN m_score >= {high} THEN 'important-' ELSE 'general-' END ||
           CASE WHEN r_score >= {high} AND f_score >= {high} THEN 'value'
                WHEN r_score >= {high} THEN 'develop'
                WHEN f_score >= {high} THEN 'keep'
                ELSE 'retain' END AS segment,
           CASE WHEN recency_days > {rules.lost_after_days} THEN 'high'
                WHEN recency_days <= {medium_after} THEN 'low'
                WHEN recency_days <= {high_after} THEN 'medium'
                ELSE 'high' END AS churn_risk,
           CASE WHEN f_score + m_score >= {rules.value_high_sum} THEN 'high'
                WHEN f_score + m_score >= {rules.value_medium_sum} THEN 'medium'
                ELSE 'low' END AS value_level,
           {level("f_score")} AS frequency_level,
           {level("m_score")} AS spend_level,
           CASE WHEN recency_days > {rules.lost_after_days} THEN 'lost'
                WHEN member_for_days <= {rules.new_member_days} THEN 'new'
                WHEN recency_days <= {medium_after} THEN 'active'
                WHEN recency_days > {dormant_after} THEN 'dormant'
                ELSE 'at_risk' END AS lifecycle,
           {tags} AS tags
    FROM q
    """
