"""Response bodies of the campaigns HTTP API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.campaigns.models.entities import EpisodeStatus, Outcome


class JourneyMessageOut(BaseModel):
    """A birthday or points-expiring message as dispatch recorded it."""

    status: Literal[
        "queued", "deferred", "held", "retrying", "sending", "sent", "suppressed", "failed", "unknown"
    ] = Field(
        description="deferred: waits for due_at (quiet hours, the frequency cap…); unknown: erased "
        "before anything was recorded."
    )
    reason: str | None = Field(description="Why suppressed, deferred, retried or failed (dispatch's reason).")
    channel: str | None
    due_at: str | None
    sent_at: str | None
    finished_at: str | None


class JourneyCouponOut(BaseModel):
    """The birthday coupon: issued through loyalty only when the message goes out."""

    template_id: str | None
    coupon_id: str | None = Field(description="Null after the member's erasure.")
    issued: bool
    reason: str | None = Field(
        description="Why not issued (yet): no_coupon_template, message_not_sent_yet, or the message's reason."
    )


class EpisodeOut(BaseModel):
    """One run of a journey for one member. Churn warning: an episode on Step Functions. Birthday
    and points expiring: one occurrence per message (``status`` pending | completed | failed,
    ``outcome`` sent | suppressed | failed), with ``message`` and the journey's own fields."""

    episode_id: str
    journey: str
    member_id: str
    status: EpisodeStatus | Literal["pending"]
    outcome: Outcome | Literal["sent", "suppressed"] | None
    started_at: str
    ended_at: str | None
    execution_name: str | None = Field(description="Churn warning's execution; null for a message journey.")
    last_purchase_at: str | None
    error: str | None
    send_id: str | None = Field(
        default=None, description="Message journeys: the send (null after the member's erasure)."
    )
    message: JourneyMessageOut | None = None
    coupon: JourneyCouponOut | None = Field(default=None, description="Birthday only.")
    birthday_on: str | None = Field(default=None, description="Birthday only: the birthday (mall's date).")
    lot_id: str | None = Field(default=None, description="Points expiring: loyalty's lot, when it named one.")
    points: int | None = Field(default=None, description="Points expiring: the points about to expire.")
    expires_at: str | None = Field(default=None, description="Points expiring: when they expire.")


class EpisodePage(BaseModel):
    """Episodes newest first; pass ``next_token`` back to get the next page (absent on the last)."""

    items: list[EpisodeOut]
    next_token: str | None
