"""Members entities as the logic sees them: behaviour statistics and profile scores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["low", "medium", "high"]
Segment = Literal[
    "important-value",
    "important-develop",
    "important-keep",
    "important-retain",
    "general-value",
    "general-develop",
    "general-keep",
    "general-retain",
]
"""The eight classic RFM segments: R, F and M each high or low against the population."""
Lifecycle = Literal["new", "active", "at_risk", "dormant", "lost"]


class DayBucket(BaseModel):
    """Purchases and net spend on one calendar day in the mall's time zone."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    spend_cents: int = 0
    parking_count: int = 0
    parking_minutes: int = 0


class BehaviourStats(BaseModel):
    """What members knows about a member's shopping, kept current from loyalty's purchase events.

    ``days`` holds per-day buckets (the mall's calendar days) for the last ``KEEP_DAYS`` days
    (:mod:`services.members.logic.stats`; enough for the 30/90/365-day windows); the lifetime
    totals are kept separately.
    ``version`` guards the read-modify-write against concurrent updates.
    """

    model_config = ConfigDict(frozen=True)

    member_id: str
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    purchase_count: int = 0
    spend_cents: int = 0
    refund_count: int = 0
    refunded_cents: int = 0
    days: dict[date, DayBucket] = Field(default_factory=dict)
    category_spend_cents: dict[str, int] = Field(default_factory=dict)
    store_purchase_count: dict[str, int] = Field(default_factory=dict)
    # parking (ParkingSessionSettled): lifetime totals; per-day visits are in ``days``
    parking_sessions: int = 0
    parking_minutes: int = 0
    parking_weekend_sessions: int = 0
    parking_weekend_minutes: int = 0
    last_parking_at: datetime | None = None
    # service (TicketResolved, SurveyAnswered)
    tickets_resolved: int = 0
    complaint_count: int = 0
    last_complaint_at: datetime | None = None
    last_csat: int | None = None
    last_csat_at: datetime | None = None
    erased: bool = False
    """The member was erased (privacy): no event changes these statistics any more."""
    version: int = 0


class QuantileBounds(BaseModel):
    """The bounds the R, F and M scores were cut at, and where they came from.

    A score is 1 + the number of bounds the value is strictly above, on a "higher is better"
    scale: for recency that scale is ``-recency_days`` (so ``r`` holds negated days).
    """

    model_config = ConfigDict(frozen=True)

    source: Literal["population", "fixed"]
    population: int
    r: tuple[int, int, int, int]
    f: tuple[int, int, int, int]
    m: tuple[int, int, int, int]


class ScoreWhy(BaseModel):
    """Why a member got their score: the inputs and the rules' cut-offs behind each output."""

    model_config = ConfigDict(frozen=True)

    bounds: QuantileBounds
    member_for_days: int | None
    churn_medium_after_days: float
    churn_high_after_days: float
    lifecycle_rule: str
    tags: dict[str, str] = Field(default_factory=dict)
    """tag → the rule (as text) that matched."""


class ProfileScore(BaseModel):
    """The nightly score of one member (see services/members/README.md for the rules)."""

    model_config = ConfigDict(frozen=True)

    scored_at: datetime
    recency_days: int | None
    frequency_30d: int
    frequency_90d: int
    monetary_90d_cents: int
    frequency_365d: int
    monetary_365d_cents: int
    cadence_days: float
    r_score: int
    f_score: int
    m_score: int
    segment: Segment
    churn_risk: Level
    value_level: Level
    frequency_level: Level
    spend_level: Level
    lifecycle: Lifecycle
    tags: tuple[str, ...] = ()
    why: ScoreWhy | None = None
