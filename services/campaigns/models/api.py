"""Response bodies of the campaigns HTTP API."""

from __future__ import annotations

from pydantic import BaseModel

from services.campaigns.models.entities import EpisodeStatus, Outcome


class EpisodeOut(BaseModel):
    episode_id: str
    journey: str
    member_id: str
    status: EpisodeStatus
    outcome: Outcome | None
    started_at: str
    ended_at: str | None
    execution_name: str
    last_purchase_at: str | None
    error: str | None


class EpisodePage(BaseModel):
    """Episodes newest first; pass ``next_token`` back to get the next page (absent on the last)."""

    items: list[EpisodeOut]
    next_token: str | None
