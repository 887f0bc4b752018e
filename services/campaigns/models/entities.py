"""Campaigns entities as the logic sees them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

EpisodeStatus = Literal["starting", "observing", "completed", "failed"]
Outcome = Literal[
    "returned", "dormant", "escalated", "skipped_no_consent", "skipped_recent_contact", "failed"
]


class Episode(BaseModel):
    """One run of a journey for one member (the churn-warning journey, for now).

    ``episode_id`` is the id of the event that started it, so a redelivered event finds its own
    episode instead of opening another one.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    episode_id: str
    journey: str
    member_id: str
    status: EpisodeStatus
    outcome: Outcome | None = None
    started_at: datetime
    ended_at: datetime | None = None
    execution_name: str
    execution_id: str | None = None
    trigger_churn_risk: str | None = None
    trigger_value_level: str | None = None
    last_purchase_at: datetime | None = None
    error: str | None = None
