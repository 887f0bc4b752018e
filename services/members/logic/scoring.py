"""Nightly profile scoring: recency, frequency and spend windows, RFM segment, churn risk, value.

Pure and deterministic: the same statistics and the same ``as_of`` always give the same score.
The rules are documented in services/members/README.md ("Scoring rules"); thresholds live in
:class:`ScoringRules` so a mall can tune them without touching the code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from services.members.models.entities import BehaviourStats, Level, ProfileScore, Segment
from shared.events.contracts import MemberProfileScored


class ScoringRules(BaseModel):
    """Thresholds of the scoring rules. Each ``*_steps`` tuple lists the lower bounds of scores
    5, 4, 3, 2 (anything below the last bound scores 1); recency bounds are upper bounds."""

    model_config = ConfigDict(frozen=True)

    recency_steps_days: tuple[int, int, int, int] = (7, 30, 90, 180)
    frequency_365d_steps: tuple[int, int, int, int] = (24, 12, 6, 2)
    monetary_365d_steps_cents: tuple[int, int, int, int] = (2_000_000, 800_000, 300_000, 80_000)
    new_member_days: int = 30
    lost_after_days: int = 365
    default_cadence_days: float = 30.0
    min_cadence_days: float = 7.0
    max_cadence_days: float = 180.0
    medium_risk_cadences: float = 1.5
    high_risk_cadences: float = 3.0


DEFAULT_RULES = ScoringRules()


def _window(stats: BehaviourStats, today: date, days: int) -> tuple[int, int]:
    """(purchases, net spend in cents) over the ``days`` calendar days ending ``today``."""
    start = today - timedelta(days=days - 1)
    count = spend = 0
    for day, bucket in stats.days.items():
        if start <= day <= today:
            count += bucket.count
            spend += bucket.spend_cents
    return count, max(spend, 0)


def _score_at_least(value: int, steps: tuple[int, int, int, int]) -> int:
    for score, bound in zip((5, 4, 3, 2), steps, strict=True):
        if value >= bound:
            return score
    return 1


def _recency_score(recency_days: int | None, steps: tuple[int, int, int, int]) -> int:
    if recency_days is None:
        return 1
    for score, bound in zip((5, 4, 3, 2), steps, strict=True):
        if recency_days <= bound:
            return score
    return 1


def cadence_days(stats: BehaviourStats, rules: ScoringRules = DEFAULT_RULES) -> float:
    """The member's own rhythm: the mean gap between purchases, clamped to a sane range; members
    with fewer than two purchases get the mall-wide default."""
    if stats.purchase_count < 2 or stats.first_purchase_at is None or stats.last_purchase_at is None:
        return rules.default_cadence_days
    span = (stats.last_purchase_at - stats.first_purchase_at).total_seconds() / 86400
    mean_gap = span / (stats.purchase_count - 1)
    return min(max(mean_gap, rules.min_cadence_days), rules.max_cadence_days)


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


def segment(  # noqa: PLR0911 - one return per rule, in the documented order
    *, r: int, f: int, m: int, recency_days: int | None, member_for_days: int | None, rules: ScoringRules
) -> Segment:
    """The RFM segment: the first rule that matches, in this order."""
    if recency_days is None or recency_days > rules.lost_after_days:
        return "lost"
    if r >= 4 and f >= 4 and m >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if member_for_days is not None and member_for_days <= rules.new_member_days:
        return "new"
    if r >= 4:
        return "promising"
    if r == 3:
        return "need_attention"
    if f >= 3 or m >= 3:
        return "at_risk"
    return "hibernating"


def value_level(m: int) -> Level:
    """high for the top two spend bands, medium for the middle two, low otherwise."""
    if m >= 4:
        return "high"
    if m >= 2:
        return "medium"
    return "low"


def score(
    stats: BehaviourStats, as_of: datetime, tz: tzinfo, rules: ScoringRules = DEFAULT_RULES
) -> ProfileScore:
    """Score one member's statistics as of ``as_of``; days are calendar days in the mall's zone ``tz``."""
    today = as_of.astimezone(tz).date()

    def days_since(moment: datetime | None) -> int | None:
        return None if moment is None else max((today - moment.astimezone(tz).date()).days, 0)

    recency = days_since(stats.last_purchase_at)
    member_for = days_since(stats.first_purchase_at)
    f30, _ = _window(stats, today, 30)
    f90, m90 = _window(stats, today, 90)
    f365, m365 = _window(stats, today, 365)
    r = _recency_score(recency, rules.recency_steps_days)
    f = _score_at_least(f365, rules.frequency_365d_steps)
    m = _score_at_least(m365, rules.monetary_365d_steps_cents)
    cadence = cadence_days(stats, rules)
    return ProfileScore(
        scored_at=as_of,
        recency_days=recency,
        frequency_30d=f30,
        frequency_90d=f90,
        monetary_90d_cents=m90,
        frequency_365d=f365,
        monetary_365d_cents=m365,
        cadence_days=round(cadence, 2),
        r_score=r,
        f_score=f,
        m_score=m,
        segment=segment(r=r, f=f, m=m, recency_days=recency, member_for_days=member_for, rules=rules),
        churn_risk=churn_risk(recency, cadence, rules),
        value_level=value_level(m),
    )


def should_publish(previous: ProfileScore | None, current: ProfileScore) -> bool:
    """MemberProfileScored goes out only when the churn risk or the segment changed (the first
    score counts as a change: downstream has never seen this member's profile)."""
    if previous is None:
        return True
    return previous.churn_risk != current.churn_risk or previous.segment != current.segment


# --- the nightly job -------------------------------------------------------------------------


class ScoringRepository(Protocol):
    def shards(self) -> Sequence[int]: ...

    def statistics(self, shard: int) -> Iterator[tuple[BehaviourStats, ProfileScore | None]]:
        """Every member's statistics in ``shard`` with the score stored last time (if any)."""

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
    scored: int = 0
    published: int = 0
    skipped_concurrent: int = 0
    shards_done: list[int] = field(default_factory=list)
    complete: bool = True


def to_event(member_id: str, current: ProfileScore, previous: ProfileScore | None) -> MemberProfileScored:
    return MemberProfileScored(
        member_id=member_id,
        scored_at=current.scored_at,
        rfm_segment=current.segment,
        recency_days=current.recency_days,
        frequency_90d=current.frequency_90d,
        monetary_90d_cents=current.monetary_90d_cents,
        churn_risk=current.churn_risk,
        value_level=current.value_level,
        previous_churn_risk=previous.churn_risk if previous is not None else None,
    )


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
    """Score every member, shard by shard; publish MemberProfileScored only on a change.

    Shards are visited starting from one that rotates with the date, so if a run ever stops early
    (``time_left()`` seconds below ``min_seconds_per_shard`` before a shard starts), the same shards
    are not the ones left out every night. Re-running is safe: an unchanged score publishes nothing.
    """
    run = ScoringRun()
    shards = list(repo.shards())
    start = as_of.astimezone(tz).toordinal() % len(shards) if shards else 0
    for shard in shards[start:] + shards[:start]:
        if time_left() < min_seconds_per_shard:
            run.complete = False
            break
        for stats, previous in repo.statistics(shard):
            current = score(stats, as_of, tz, rules)
            event = None
            if should_publish(previous, current):
                event = ScoredEvent(
                    event=to_event(stats.member_id, current, previous),
                    correlation_id=correlation_id,
                    producer=producer,
                    at=as_of,
                )
            if not repo.save_score(stats.member_id, current, previous, event):
                run.skipped_concurrent += 1
                continue
            run.scored += 1
            run.published += event is not None
        run.shards_done.append(shard)
    return run
