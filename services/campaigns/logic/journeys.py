"""Listing journey episodes for the console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.campaigns.logic.churn_warning import JOURNEY as CHURN_WARNING
from services.campaigns.logic.errors import JourneyNotFound
from services.campaigns.models.entities import Episode

JOURNEYS: frozenset[str] = frozenset({CHURN_WARNING})


@dataclass(frozen=True)
class EpisodePageResult:
    episodes: list[Episode]
    next_token: str | None


class EpisodeIndex(Protocol):
    def newest_first(self, journey: str, limit: int, next_token: str | None) -> EpisodePageResult:
        """A page of the journey's episodes, newest first; raises InvalidNextToken for a bad token."""

    def member_newest_first(
        self, journey: str, member_id: str, limit: int, next_token: str | None
    ) -> EpisodePageResult:
        """A page of one member's episodes of the journey, newest first (InvalidNextToken as above)."""


def list_episodes(
    journey: str,
    index: EpisodeIndex,
    *,
    limit: int,
    next_token: str | None,
    member_id: str | None = None,
) -> EpisodePageResult:
    if journey not in JOURNEYS:
        raise JourneyNotFound()
    if member_id is not None:
        return index.member_newest_first(journey, member_id, limit, next_token)
    return index.newest_first(journey, limit, next_token)
