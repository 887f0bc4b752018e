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


class Occurrence(BaseModel):
    """One occurrence of a message journey (birthday, points expiring) for one member: written by
    dispatch with the send record it describes (``send_id``), in the same transaction, so there is
    exactly one per send. Its outcome is the send record's, read with it; an erasure copies that
    outcome onto the occurrence (``message_*``), then drops ``send_id``, ``lot_id`` and ``coupon_id``
    (they name the member)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    occurrence_id: str
    journey: str
    member_id: str
    started_at: datetime
    send_id: str | None = None
    birthday_on: str | None = None
    lot_id: str | None = None
    points: int | None = None
    expires_at: datetime | None = None
    coupon_template_id: str | None = None
    member_erased: bool = False
    # the send's outcome as it stood when the member was erased (the record is deleted then)
    message_status: str | None = None
    message_reason: str | None = None
    message_channel: str | None = None
    message_sent_at: datetime | None = None
    message_finished_at: datetime | None = None
    coupon_issued: bool | None = None
