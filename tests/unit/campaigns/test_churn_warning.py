"""The churn-warning start and tasks (pure logic, with in-memory fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.logic.churn_warning import (
    JOURNEY,
    OpenOutcome,
    StartResult,
    check_returned,
    execution_name,
    record_outcome,
    start_episode,
)
from services.campaigns.logic.errors import EpisodeAlreadyClosed, JourneyNotFound
from services.campaigns.logic.journeys import list_episodes
from services.campaigns.models.entities import Episode, Outcome
from shared.events import MemberProfileScored

NOW = datetime(2026, 6, 30, 18, 5, tzinfo=UTC)


def scored(risk: str = "high", member: str = "M1") -> MemberProfileScored:
    return MemberProfileScored(
        member_id=member,
        scored_at=NOW,
        rfm_segment="at_risk",
        recency_days=80,
        frequency_90d=0,
        monetary_90d_cents=0,
        churn_risk=risk,  # type: ignore[arg-type]
        value_level="medium",
        previous_churn_risk="medium",
    )


class Memory:
    """Episodes, locks and an execution starter in memory, with the same conditions as the DAL."""

    def __init__(self) -> None:
        self.episodes: dict[str, Episode] = {}
        self.locks: dict[str, str] = {}
        self.started: dict[str, dict[str, Any]] = {}
        self.fail_start = False

    def open(self, episode: Episode) -> OpenOutcome:
        lock = episode.member_id in self.locks
        exists = episode.episode_id in self.episodes
        if lock and exists:
            return OpenOutcome.BOTH_EXIST
        if lock:
            return OpenOutcome.LOCK_HELD
        if exists:
            return OpenOutcome.EPISODE_EXISTS
        self.locks[episode.member_id] = episode.episode_id
        self.episodes[episode.episode_id] = episode
        return OpenOutcome.OPENED

    def active_episode_id(self, journey: str, member_id: str) -> str | None:
        return self.locks.get(member_id)

    def get(self, episode_id: str) -> Episode | None:
        return self.episodes.get(episode_id)

    def mark_observing(self, episode_id: str, execution_id: str) -> bool:
        return episode_id in self.episodes

    def close(self, episode: Episode, *, outcome: Outcome, ended_at: datetime, **_: Any) -> bool:
        if self.episodes[episode.episode_id].outcome is not None:
            return False
        status = "failed" if outcome == "failed" else "completed"
        self.episodes[episode.episode_id] = episode.model_copy(
            update={"outcome": outcome, "status": status, "ended_at": ended_at}
        )
        if self.locks.get(episode.member_id) == episode.episode_id:
            del self.locks[episode.member_id]
        return True

    def start(self, name: str, payload: dict[str, Any]) -> None:
        if self.fail_start:
            raise ConnectionError("step functions unavailable")
        self.started.setdefault(name, payload)


def start(memory: Memory, event_id: str, event: MemberProfileScored | None = None) -> StartResult:
    return start_episode(event_id, event or scored(), memory, memory, now=NOW, observe_seconds=3600)


class TestStart:
    def test_starts_an_execution_named_after_the_event(self):
        memory = Memory()
        assert start(memory, "E1") is StartResult.STARTED
        assert memory.started == {
            "churn-warning-E1": {
                "journey": JOURNEY,
                "episode_id": "E1",
                "member_id": "M1",
                "started_at": "2026-06-30T18:05:00.000000Z",
                "observe_seconds": 3600,
            }
        }

    def test_one_episode_per_member_at_a_time(self):
        memory = Memory()
        start(memory, "E1")
        assert start(memory, "E2") is StartResult.ALREADY_ACTIVE
        assert list(memory.started) == ["churn-warning-E1"]

    def test_redelivery_resumes_a_start_that_failed_after_the_write(self):
        memory = Memory()
        memory.fail_start = True
        with pytest.raises(ConnectionError):
            start(memory, "E1")
        memory.fail_start = False
        assert start(memory, "E1") is StartResult.RESUMED
        assert list(memory.started) == ["churn-warning-E1"]

    def test_redelivery_after_the_episode_ended_does_nothing(self):
        memory = Memory()
        start(memory, "E1")
        record_outcome("E1", "dormant", memory, now=NOW)
        assert start(memory, "E1") is StartResult.DUPLICATE

    def test_only_high_risk_starts(self):
        memory = Memory()
        assert start(memory, "E1", scored("medium")) is StartResult.NOT_HIGH
        assert memory.episodes == {}

    def test_execution_names_are_valid(self):
        assert execution_name("01HX9ZK3M5N7P9Q1R3S5T7V9WX") == "churn-warning-01HX9ZK3M5N7P9Q1R3S5T7V9WX"
        assert execution_name("a b/c") == "churn-warning-a-b-c"
        assert len(execution_name("x" * 200)) == 80


class TestTasks:
    def test_return_means_a_purchase_after_the_start(self):
        class Last:
            def __init__(self, at: datetime | None) -> None:
                self.at = at

            def last_purchase_at(self, member_id: str) -> datetime | None:
                return self.at

            def advance(self, *args: Any) -> bool:
                return False

        assert check_returned("M1", NOW, Last(None)).returned is False
        assert check_returned("M1", NOW, Last(NOW)).returned is False
        assert check_returned("M1", NOW, Last(NOW + timedelta(seconds=1))).returned is True

    def test_outcome_is_final(self):
        memory = Memory()
        start(memory, "E1")
        assert record_outcome("E1", "returned", memory, now=NOW).outcome == "returned"
        assert record_outcome("E1", "returned", memory, now=NOW).outcome == "returned"
        with pytest.raises(EpisodeAlreadyClosed):
            record_outcome("E1", "dormant", memory, now=NOW)
        assert memory.locks == {}

    def test_unknown_journey(self):
        with pytest.raises(JourneyNotFound):
            list_episodes("birthday", index=None, limit=10, next_token=None)  # type: ignore[arg-type]
