"""Members entities as the logic sees them: behaviour statistics and profile scores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["low", "medium", "high"]
Segment = Literal[
    "champions",
    "loyal",
    "new",
    "promising",
    "need_attention",
    "at_risk",
    "hibernating",
    "lost",
]


class DayBucket(BaseModel):
    """Purchases and net spend on one calendar day in the mall's time zone."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    spend_cents: int = 0


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
    version: int = 0


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
