"""The churn-warning journey, v1: one episode per member at a time, started by a high churn risk.

Start (consumer of MemberProfileScored): the episode and the member's journey lock
(``JOURNEY#churn_warning#<member_id>``) are written in one transaction, then the execution is
started under a name derived from the event id. Redelivery is safe at every point:

* both conditions fail and the lock is this event's → the start crashed half-way: start again
  (StartExecution with the same name is idempotent);
* both fail, the lock is another episode's (or free) → this event was handled before: nothing;
* only the lock fails → another episode is running for the member: nothing (one at a time);
* only the episode fails → this event's episode already ended: nothing.

Tasks (state machine): record the start, check for a purchase since the episode started, record
the outcome and release the lock. Messages, coupons, consent checks and the ticket branch come
with the campaigns issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from services.campaigns.logic.errors import EpisodeAlreadyClosed, EpisodeNotFound
from services.campaigns.logic.projection import LastPurchaseRepository
from services.campaigns.models.entities import Episode, Outcome
from shared import clock

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.events.contracts import MemberProfileScored

JOURNEY = "churn_warning"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class OpenOutcome(Enum):
    OPENED = "opened"
    LOCK_HELD = "lock_held"
    EPISODE_EXISTS = "episode_exists"
    BOTH_EXIST = "both_exist"


class StartResult(Enum):
    STARTED = "started"
    RESUMED = "resumed"
    ALREADY_ACTIVE = "already_active"
    DUPLICATE = "duplicate"
    NOT_HIGH = "not_high"


class EpisodeRepository(Protocol):
    def open(self, episode: Episode) -> OpenOutcome:
        """Write the episode and the member's journey lock in one transaction, or nothing."""

    def active_episode_id(self, journey: str, member_id: str) -> str | None: ...

    def get(self, episode_id: str) -> Episode | None: ...

    def mark_observing(self, episode_id: str, execution_id: str) -> bool:
        """False when there is no such open episode."""

    def close(
        self,
        episode: Episode,
        *,
        outcome: Outcome,
        ended_at: datetime,
        last_purchase_at: datetime | None,
        error: str | None,
    ) -> bool:
        """Write the outcome and release the lock in one transaction; False if it was closed before."""


class ExecutionStarter(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> None:
        """Start an execution; an existing execution with this name counts as started."""


@dataclass(frozen=True)
class ReturnCheck:
    returned: bool
    last_purchase_at: datetime | None


def execution_name(event_id: str) -> str:
    """``churn-warning-<event id>``: at most 80 characters of ``[A-Za-z0-9_-]``."""
    return ("churn-warning-" + _NAME_UNSAFE.sub("-", event_id))[:80]


def execution_input(episode: Episode, observe_seconds: int) -> dict[str, Any]:
    return {
        "journey": episode.journey,
        "episode_id": episode.episode_id,
        "member_id": episode.member_id,
        "started_at": clock.to_utc_iso(episode.started_at),
        "observe_seconds": observe_seconds,
    }


def start_episode(
    event_id: str,
    scored: MemberProfileScored,
    repo: EpisodeRepository,
    starter: ExecutionStarter,
    *,
    now: datetime,
    observe_seconds: int,
) -> StartResult:
    """Start the member's churn-warning episode for this event, once (see the module doc)."""
    if scored.churn_risk != "high":
        return StartResult.NOT_HIGH
    episode = Episode(
        episode_id=event_id,
        journey=JOURNEY,
        member_id=scored.member_id,
        status="starting",
        started_at=now,
        execution_name=execution_name(event_id),
        trigger_churn_risk=scored.churn_risk,
        trigger_value_level=scored.value_level,
    )
    opened = repo.open(episode)
    if opened is OpenOutcome.OPENED:
        starter.start(episode.execution_name, execution_input(episode, observe_seconds))
        return StartResult.STARTED
    if opened is OpenOutcome.BOTH_EXIST and repo.active_episode_id(JOURNEY, scored.member_id) == event_id:
        stored = repo.get(event_id) or episode
        starter.start(stored.execution_name, execution_input(stored, observe_seconds))
        return StartResult.RESUMED
    if opened is OpenOutcome.LOCK_HELD:
        return StartResult.ALREADY_ACTIVE
    return StartResult.DUPLICATE


def record_start(episode_id: str, execution_id: str, repo: EpisodeRepository) -> str:
    """Task RecordStart: the episode is observing; its execution id is kept for operators."""
    if not repo.mark_observing(episode_id, execution_id):
        raise EpisodeNotFound(episode_id)
    return "observing"


def check_returned(member_id: str, started_at: datetime, purchases: LastPurchaseRepository) -> ReturnCheck:
    """Task CheckReturned: did the member buy anything after the episode started?"""
    last = purchases.last_purchase_at(member_id)
    return ReturnCheck(returned=last is not None and last > started_at, last_purchase_at=last)


def record_outcome(
    episode_id: str,
    outcome: Outcome,
    repo: EpisodeRepository,
    *,
    now: datetime,
    last_purchase_at: datetime | None = None,
    error: str | None = None,
) -> Episode:
    """Task RecordOutcome: end the episode (idempotent for the same outcome) and free the member."""
    episode = repo.get(episode_id)
    if episode is None:
        raise EpisodeNotFound(episode_id)
    if episode.outcome is None and repo.close(
        episode, outcome=outcome, ended_at=now, last_purchase_at=last_purchase_at, error=error
    ):
        return repo.get(episode_id) or episode
    closed = repo.get(episode_id) or episode
    if closed.outcome != outcome:
        raise EpisodeAlreadyClosed(f"episode {episode_id} already ended as {closed.outcome}")
    return closed
