"""Nightly profile scoring: features → population quintiles → RFM scores, the eight classic RFM
segments, frequency / spend / value levels, lifecycle stage, churn risk, operator tags — each with
the inputs behind it ("why").

Pure and deterministic. Two steps, so the same rules score a stream of items or a columnar batch:

1. :func:`features` turns one member's statistics into flat numbers (:class:`Features`);
   :func:`population_bounds` cuts the population's R/F/M values into quintiles (or, below
   ``min_population`` scored members, uses the fixed bounds of :class:`ScoringRules`);
2. :func:`score_features` classifies one member against those bounds.

The columnar engine (:mod:`services.members.logic.scoring_sql`) compiles the same rules and
bounds definition to SQL; tests/unit/members/test_scoring_engines.py proves both agree.
The rules are documented in services/members/README.md ("Scoring rules").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from services.members.logic.tags import TagRule, matching_tags
from services.members.models.entities import (
    BehaviourStats,
    DayBucket,
    Level,
    Lifecycle,
    ProfileScore,
    QuantileBounds,
    ScoreWhy,
    Segment,
)
from shared.events.contracts import MemberProfileScored

Bounds4 = tuple[int, int, int, int]


class ScoringRules(BaseModel):
    """Thresholds of the scoring rules (a mall can tune them without touching the code).

    The fixed ``*_steps`` are used instead of the population's quintiles while fewer than
    ``min_population`` members are scored (quintiles of a handful of members mean nothing); each
    lists the lower bounds of scores 5, 4, 3, 2 — for recency, upper bounds in days.
    """

    model_config = ConfigDict(frozen=True)

    min_population: int = 100
    recency_steps_days: Bounds4 = (7, 30, 90, 180)
    frequency_365d_steps: Bounds4 = (24, 12, 6, 2)
    monetary_365d_steps_cents: Bounds4 = (2_000_000, 800_000, 300_000, 80_000)
    segment_high_score: int = 3
    """R, F or M is "high" for the segment at this quintile score or above (the middle quintile
    and up: at or above the population's median, give or take ties)."""
    level_high_score: int = 4
    level_medium_score: int = 2
    value_high_sum: int = 8
    value_medium_sum: int = 4
    new_member_days: int = 30
    dormant_after_days: int = 180
    lost_after_days: int = 365
    default_cadence_days: float = 30.0
    min_cadence_days: float = 7.0
    max_cadence_days: float = 180.0
    medium_risk_cadences: float = 1.5
    high_risk_cadences: float = 3.0


DEFAULT_RULES = ScoringRules()


# --- step 1: features -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Features:
    """One member's numbers as the rules and the tag language see them (see tags.FEATURE_FIELDS)."""

    member_id: str
    recency_days: int
    member_for_days: int
    frequency_30d: int
    frequency_90d: int
    frequency_365d: int
    monetary_90d_cents: int
    monetary_365d_cents: int
    purchase_count: int
    spend_cents: int
    cadence_days: float
    parking_visits_90d: int
    parking_visits_365d: int
    parking_sessions: int
    parking_avg_minutes: float | None
    parking_weekend_sessions: int
    parking_weekend_avg_minutes: float | None
    parking_weekend_share: float | None
    tickets_resolved: int
    complaint_count: int
    days_since_last_complaint: int | None
    last_csat: int | None
    category_spend_cents: tuple[tuple[str, int], ...] = ()

    def value(self, name: str) -> float | int | None:
        """A field by name, as the tag language reads it (``category_share.kids`` included)."""
        head, dot, key = name.partition(".")
        if not dot:
            found: float | int | None = getattr(self, name)
            return found
        spend = dict(self.category_spend_cents)
        if head == "category_spend_cents":
            return spend.get(key, 0)
        total = sum(spend.values())
        return None if total <= 0 else spend.get(key, 0) / total


def _windows(
    days: dict[date, DayBucket], today: date
) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """(purchases, net spend, parking sessions) over the 30, 90 and 365 calendar days ending
    ``today`` (the 90-day window is today and the 89 days before), in one pass over the buckets."""
    totals = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    for day, bucket in days.items():
        age = (today - day).days
        if age < 0 or age >= 365:
            continue
        for index, length in enumerate((30, 90, 365)):
            if age < length:
                window = totals[index]
                window[0] += bucket.count
                window[1] += bucket.spend_cents
                window[2] += bucket.parking_count
    w30, w90, w365 = (tuple(w) for w in totals)
    return (w30[0], w30[1], w30[2]), (w90[0], w90[1], w90[2]), (w365[0], w365[1], w365[2])


def cadence_days(stats: BehaviourStats, rules: ScoringRules = DEFAULT_RULES) -> float:
    """The member's own rhythm: the mean gap between purchases, clamped to a sane range; members
    with fewer than two purchases get the mall-wide default."""
    if stats.purchase_count < 2 or stats.first_purchase_at is None or stats.last_purchase_at is None:
        return rules.default_cadence_days
    span = (stats.last_purchase_at - stats.first_purchase_at) / timedelta(seconds=1) / 86400
    mean_gap = span / (stats.purchase_count - 1)
    return min(max(mean_gap, rules.min_cadence_days), rules.max_cadence_days)


def _ratio(part: int, whole: int) -> float | None:
    return None if whole <= 0 else part / whole


def features(stats: BehaviourStats, today: date, tz: tzinfo, rules: ScoringRules = DEFAULT_RULES) -> Features:
    """The member's features on ``today`` (a calendar day in the mall's zone ``tz``); only for
    members with a purchase (``last_purchase_at`` set) — the others are not scored."""
    if stats.last_purchase_at is None or stats.first_purchase_at is None:
        raise ValueError("only members with a purchase are scored")

    def days_since(moment: datetime) -> int:
        return max((today - moment.astimezone(tz).date()).days, 0)

    (f30, _, _), (f90, m90, p90), (f365, m365, p365) = _windows(stats.days, today)
    return Features(
        member_id=stats.member_id,
        recency_days=days_since(stats.last_purchase_at),
        member_for_days=days_since(stats.first_purchase_at),
        frequency_30d=f30,
        frequency_90d=f90,
        frequency_365d=f365,
        monetary_90d_cents=max(m90, 0),
        monetary_365d_cents=max(m365, 0),
        purchase_count=stats.purchase_count,
        spend_cents=stats.spend_cents,
        cadence_days=cadence_days(stats, rules),
        parking_visits_90d=p90,
        parking_visits_365d=p365,
        parking_sessions=stats.parking_sessions,
        parking_avg_minutes=_ratio(stats.parking_minutes, stats.parking_sessions),
        parking_weekend_sessions=stats.parking_weekend_sessions,
        parking_weekend_avg_minutes=_ratio(stats.parking_weekend_minutes, stats.parking_weekend_sessions),
        parking_weekend_share=_ratio(stats.parking_weekend_sessions, stats.parking_sessions),
        tickets_resolved=stats.tickets_resolved,
        complaint_count=stats.complaint_count,
        days_since_last_complaint=None
        if stats.last_complaint_at is None
        else days_since(stats.last_complaint_at),
        last_csat=stats.last_csat,
        category_spend_cents=tuple(sorted(stats.category_spend_cents.items())),
    )


# --- step 1b: the population's bounds ---------------------------------------------------------


def r_value(f: Features) -> int:
    """Recency on a "higher is better" scale."""
    return -f.recency_days


def f_value(f: Features) -> int:
    return f.frequency_365d


def m_value(f: Features) -> int:
    return f.monetary_365d_cents


def quintile_bounds(values: Sequence[int]) -> Bounds4:
    """The 20/40/60/80 % quantiles of ``values`` by nearest rank: the k-th bound is the
    ⌈k·n/5⌉-th smallest value (integer arithmetic, so SQL computes exactly the same)."""
    ordered = sorted(values)
    n = len(ordered)
    picked = [ordered[max((k * n + 4) // 5, 1) - 1] for k in (1, 2, 3, 4)]
    return picked[0], picked[1], picked[2], picked[3]


def fixed_bounds(rules: ScoringRules = DEFAULT_RULES) -> tuple[Bounds4, Bounds4, Bounds4]:
    """The fixed steps as bounds on the same scale (score = 1 + bounds strictly below the value)."""
    r5, r4, r3, r2 = rules.recency_steps_days
    f5, f4, f3, f2 = rules.frequency_365d_steps
    m5, m4, m3, m2 = rules.monetary_365d_steps_cents
    return (
        (-(r2 + 1), -(r3 + 1), -(r4 + 1), -(r5 + 1)),
        (f2 - 1, f3 - 1, f4 - 1, f5 - 1),
        (m2 - 1, m3 - 1, m4 - 1, m5 - 1),
    )


def population_bounds(population: Iterable[Features], rules: ScoringRules = DEFAULT_RULES) -> QuantileBounds:
    """Quintile bounds of the scored population's R, F and M values (fixed below ``min_population``)."""
    rs: list[int] = []
    fs: list[int] = []
    ms: list[int] = []
    for member in population:
        rs.append(r_value(member))
        fs.append(f_value(member))
        ms.append(m_value(member))
    return bounds_from_columns(rs, fs, ms, rules)


def bounds_from_columns(
    rs: Sequence[int], fs: Sequence[int], ms: Sequence[int], rules: ScoringRules = DEFAULT_RULES
) -> QuantileBounds:
    n = len(rs)
    if n < rules.min_population:
        r, f, m = fixed_bounds(rules)
        return QuantileBounds(source="fixed", population=n, r=r, f=f, m=m)
    return QuantileBounds(
        source="population", population=n, r=quintile_bounds(rs), f=quintile_bounds(fs), m=quintile_bounds(ms)
    )


# --- step 2: classify one member --------------------------------------------------------------


def quintile_score(value: int, bounds: Bounds4) -> int:
    """1 + the number of bounds ``value`` is strictly above (ties go to the lower score, so a
    population where most bought once does not call one purchase "frequent")."""
    return 1 + sum(value > bound for bound in bounds)


_SEGMENTS: dict[tuple[bool, bool, bool], Segment] = {
    (True, True, True): "important-value",
    (True, False, True): "important-develop",
    (False, True, True): "important-keep",
    (False, False, True): "important-retain",
    (True, True, False): "general-value",
    (True, False, False): "general-develop",
    (False, True, False): "general-keep",
    (False, False, False): "general-retain",
}


def rfm_segment(r: int, f: int, m: int, rules: ScoringRules = DEFAULT_RULES) -> Segment:
    """The classic eight: M decides important/general, R and F high or low against the population."""
    high = rules.segment_high_score
    return _SEGMENTS[(r >= high, f >= high, m >= high)]


def level(score_1_to_5: int, rules: ScoringRules = DEFAULT_RULES) -> Level:
    if score_1_to_5 >= rules.level_high_score:
        return "high"
    if score_1_to_5 >= rules.level_medium_score:
        return "medium"
    return "low"


def value_level(f: int, m: int, rules: ScoringRules = DEFAULT_RULES) -> Level:
    """How much the member is worth: how often and how much together (F + M, 2-10)."""
    if f + m >= rules.value_high_sum:
        return "high"
    if f + m >= rules.value_medium_sum:
        return "medium"
    return "low"


def churn_risk(recency_days: int | None, cadence: float, rules: ScoringRules = DEFAULT_RULES) -> Level:
    """low while the absence is within 1.5 of the member's cadences, medium up to 3 cadences,
    high beyond that (or after ``lost_after_days`` whatever the cadence)."""
    if recency_days is None or recency_days > rules.lost_after_days:
        return "high"
    if recency_days <= rules.medium_risk_cadences * cadence:
        return "low"
    if recency_days <= rules.high_risk_cadences * cadence:
        return "medium"
    return "high"


def dormant_after(cadence: float, rules: ScoringRules = DEFAULT_RULES) -> float:
    return max(float(rules.dormant_after_days), rules.high_risk_cadences * cadence)


def lifecycle(f: Features, rules: ScoringRules = DEFAULT_RULES) -> tuple[Lifecycle, str]:
    """The stage and the rule that decided it (first match)."""
    cadence = f.cadence_days
    if f.recency_days > rules.lost_after_days:
        return "lost", f"recency {f.recency_days} d > {rules.lost_after_days} d"
    if f.member_for_days <= rules.new_member_days:
        return "new", f"first purchase {f.member_for_days} d ago <= {rules.new_member_days} d"
    if f.recency_days <= rules.medium_risk_cadences * cadence:
        return (
            "active",
            f"recency {f.recency_days} d <= {rules.medium_risk_cadences} x cadence {cadence:.2f} d",
        )
    limit = dormant_after(cadence, rules)
    if f.recency_days > limit:
        return (
            "dormant",
            f"recency {f.recency_days} d > max({rules.dormant_after_days} d, 3 cadences) = {limit:.2f} d",
        )
    return "at_risk", f"recency {f.recency_days} d > {rules.medium_risk_cadences} cadences, <= {limit:.2f} d"


def score_features(
    f: Features,
    bounds: QuantileBounds,
    as_of: datetime,
    rules: ScoringRules = DEFAULT_RULES,
    tag_rules: Sequence[TagRule] = (),
) -> ProfileScore:
    """Classify one member against the population's bounds; every output carries its why."""
    r = quintile_score(r_value(f), bounds.r)
    fs = quintile_score(f_value(f), bounds.f)
    m = quintile_score(m_value(f), bounds.m)
    stage, stage_rule = lifecycle(f, rules)
    tags = matching_tags(list(tag_rules), f.value)
    return ProfileScore(
        scored_at=as_of,
        recency_days=f.recency_days,
        frequency_30d=f.frequency_30d,
        frequency_90d=f.frequency_90d,
        monetary_90d_cents=f.monetary_90d_cents,
        frequency_365d=f.frequency_365d,
        monetary_365d_cents=f.monetary_365d_cents,
        cadence_days=round(f.cadence_days, 2),
        r_score=r,
        f_score=fs,
        m_score=m,
        segment=rfm_segment(r, fs, m, rules),
        churn_risk=churn_risk(f.recency_days, f.cadence_days, rules),
        value_level=value_level(fs, m, rules),
        frequency_level=level(fs, rules),
        spend_level=level(m, rules),
        lifecycle=stage,
        tags=tuple(sorted(tags)),
        why=ScoreWhy(
            bounds=bounds,
            member_for_days=f.member_for_days,
            churn_medium_after_days=round(rules.medium_risk_cadences * f.cadence_days, 2),
            churn_high_after_days=round(rules.high_risk_cadences * f.cadence_days, 2),
            lifecycle_rule=stage_rule,
            tags=dict(sorted(tags.items())),
        ),
    )


def score(  # noqa: PLR0917 - the first four are the classic call; the rest are usually defaulted
    stats: BehaviourStats,
    as_of: datetime,
    tz: tzinfo,
    rules: ScoringRules = DEFAULT_RULES,
    bounds: QuantileBounds | None = None,
    tag_rules: Sequence[TagRule] = (),
) -> ProfileScore:
    """Score one member on its own (fixed bounds unless ``bounds`` are given)."""
    member = features(stats, as_of.astimezone(tz).date(), tz, rules)
    return score_features(member, bounds or bounds_from_columns([], [], [], rules), as_of, rules, tag_rules)


# --- publishing -------------------------------------------------------------------------------


def changes(previous: ProfileScore | None, current: ProfileScore) -> list[str]:
    """What changed that downstream cares about (everything on a member's first score)."""
    fields = [
        ("rfm_segment", "segment"),
        ("lifecycle_stage", "lifecycle"),
        ("churn_risk", "churn_risk"),
        ("tags", "tags"),
    ]
    if previous is None:
        return [name for name, _ in fields]
    return [name for name, attr in fields if getattr(previous, attr) != getattr(current, attr)]


def should_publish(previous: ProfileScore | None, current: ProfileScore) -> bool:
    """MemberProfileScored goes out only when the segment, lifecycle stage, churn risk or tags
    changed (the first score counts as a change)."""
    return bool(changes(previous, current))


def to_event(member_id: str, current: ProfileScore, previous: ProfileScore | None) -> MemberProfileScored:
    return MemberProfileScored.model_validate(
        {
            "member_id": member_id,
            "scored_at": current.scored_at,
            "rfm_segment": current.segment,
            "recency_days": current.recency_days,
            "frequency_90d": current.frequency_90d,
            "monetary_90d_cents": current.monetary_90d_cents,
            "churn_risk": current.churn_risk,
            "value_level": current.value_level,
            "previous_churn_risk": previous.churn_risk if previous is not None else None,
            "lifecycle_stage": current.lifecycle,
            "frequency_level": current.frequency_level,
            "spend_level": current.spend_level,
            "tags": list(current.tags),
            "previous_rfm_segment": previous.segment if previous is not None else None,
            "previous_lifecycle_stage": previous.lifecycle if previous is not None else None,
            "changed": changes(previous, current),
        }
    )


# --- the nightly job -------------------------------------------------------------------------


class ScoringRepository(Protocol):
    def shards(self) -> Sequence[int]: ...

    def statistics(self, shard: int) -> Iterator[tuple[BehaviourStats, ProfileScore | None]]:
        """Every member's statistics in ``shard`` with the score stored last time (if any)."""

    def tag_rules(self) -> list[TagRule]:
        """The operators' tag rules (enabled or not)."""

    def save_score(
        self,
        member_id: str,
        current: ProfileScore,
        previous: ProfileScore | None,
        event: ScoredEvent | None,
    ) -> bool:
        """Store ``current`` if the stored score is still ``previous``; with ``event``, write its
        outbox item in the same transaction. False when the stored score had changed."""


@dataclass(frozen=True)
class ScoredEvent:
    """The MemberProfileScored to publish with a score, and what its metadata needs."""

    event: MemberProfileScored
    correlation_id: str
    producer: str
    at: datetime


@dataclass
class ScoringRun:
    """What a nightly run did (counts, shards, bounds)."""

    scored: int = 0
    published: int = 0
    skipped_concurrent: int = 0
    not_scored: int = 0
    bounds: QuantileBounds | None = None
    shards_done: list[int] = field(default_factory=list)
    complete: bool = True


def run_scoring(
    repo: ScoringRepository,
    *,
    as_of: datetime,
    tz: tzinfo,
    correlation_id: str,
    producer: str,
    time_left: Callable[[], float],
    rules: ScoringRules = DEFAULT_RULES,
    min_seconds_per_shard: float = 60.0,
) -> ScoringRun:
    """Score every member; publish MemberProfileScored only on a change.

    Two passes: read every shard into compact :class:`Features` (plus the previous score), cut the
    population's quintiles, then score and write shard by shard. Writing starts from a shard that
    rotates with the date, so if a run stops early (``time_left()`` below ``min_seconds_per_shard``
    before a shard), the same shards are not the ones left out every night. Re-running is safe: an
    unchanged score publishes nothing. Members without a purchase are not scored.
    """
    run = ScoringRun()
    today = as_of.astimezone(tz).date()
    shards = list(repo.shards())
    tag_rules = [t for t in repo.tag_rules() if t.enabled]
    read: dict[int, list[tuple[Features, ProfileScore | None]]] = {}
    for shard in shards:
        rows = read.setdefault(shard, [])
        for stats, previous in repo.statistics(shard):
            if stats.last_purchase_at is None:
                run.not_scored += 1
                continue
            rows.append((features(stats, today, tz, rules), previous))
    bounds = population_bounds((f for rows in read.values() for f, _ in rows), rules)
    run.bounds = bounds
    start = today.toordinal() % len(shards) if shards else 0
    for shard in shards[start:] + shards[:start]:
        if time_left() < min_seconds_per_shard:
            run.complete = False
            break
        for member, previous in read[shard]:
            current = score_features(member, bounds, as_of, rules, tag_rules)
            event = None
            if should_publish(previous, current):
                event = ScoredEvent(
                    event=to_event(member.member_id, current, previous),
                    correlation_id=correlation_id,
                    producer=producer,
                    at=as_of,
                )
            if not repo.save_score(member.member_id, current, previous, event):
                run.skipped_concurrent += 1
                continue
            run.scored += 1
            run.published += event is not None
        run.shards_done.append(shard)
    return run
