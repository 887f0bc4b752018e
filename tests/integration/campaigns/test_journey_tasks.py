"""The ChurnWarning task functions against moto: RecordStart, CheckReturned, RecordOutcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.dal.projection import DynamoLastPurchaseRepository
from services.campaigns.handlers import sfn_check_returned, sfn_record_outcome, sfn_record_start
from services.campaigns.logic.churn_warning import JOURNEY, execution_name
from services.campaigns.logic.errors import EpisodeAlreadyClosed, EpisodeNotFound
from services.campaigns.models.entities import Episode
from shared import clock
from tests.integration.campaigns.conftest import TABLE
from tests.integration.helpers import FakeContext, all_items

MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
EPISODE = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
STARTED = datetime(2026, 6, 30, 18, 5, tzinfo=UTC)
ENDED = STARTED + timedelta(days=14)


@pytest.fixture
def episode(campaigns: str) -> Episode:
    opened = Episode(
        episode_id=EPISODE,
        journey=JOURNEY,
        member_id=MEMBER,
        status="starting",
        started_at=STARTED,
        execution_name=execution_name(EPISODE),
    )
    DynamoEpisodeRepository(TABLE).open(opened)
    clock.set_clock(lambda: ENDED)
    return opened


def stored() -> Episode:
    found = DynamoEpisodeRepository(TABLE).get(EPISODE)
    assert found is not None
    return found


def lock_holders() -> list[str]:
    return [i["episode_id"] for i in all_items(TABLE) if i["entity"] == "journey_lock"]


@pytest.mark.usefixtures("episode")
class TestRecordStart:
    def test_marks_the_episode_observing(self) -> None:
        result = sfn_record_start.handler(
            {"episode_id": EPISODE, "member_id": MEMBER, "execution_id": "arn:exec:1"}, FakeContext()
        )
        assert result == {"episode_id": EPISODE, "status": "observing"}
        assert (stored().status, stored().execution_id) == ("observing", "arn:exec:1")

    def test_is_safe_to_retry(self) -> None:
        payload = {"episode_id": EPISODE, "member_id": MEMBER, "execution_id": "arn:exec:1"}
        sfn_record_start.handler(payload, FakeContext())
        assert sfn_record_start.handler(payload, FakeContext())["status"] == "observing"

    def test_unknown_episode_fails_the_task(self) -> None:
        with pytest.raises(EpisodeNotFound):
            sfn_record_start.handler(
                {"episode_id": "nope", "member_id": MEMBER, "execution_id": "x"}, FakeContext()
            )


@pytest.mark.usefixtures("episode")
class TestCheckReturned:
    def check(self) -> dict[str, Any]:
        payload = {"episode_id": EPISODE, "member_id": MEMBER, "started_at": "2026-06-30T18:05:00.000000Z"}
        result: dict[str, Any] = sfn_check_returned.handler(payload, FakeContext())
        return result

    def test_no_purchase_at_all(self) -> None:
        assert self.check() == {"returned": False, "last_purchase_at": None}

    def test_purchase_before_the_episode_does_not_count(self) -> None:
        DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED - timedelta(days=80), "P0")
        assert self.check() == {"returned": False, "last_purchase_at": "2026-04-11T18:05:00.000000Z"}

    def test_purchase_after_the_start_is_a_return(self) -> None:
        DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED + timedelta(days=3), "P1")
        assert self.check() == {"returned": True, "last_purchase_at": "2026-07-03T18:05:00.000000Z"}


@pytest.mark.usefixtures("episode")
class TestRecordOutcome:
    def record(self, outcome: str, **extra: object) -> dict[str, Any]:
        result: dict[str, Any] = sfn_record_outcome.handler(
            {"episode_id": EPISODE, "member_id": MEMBER, "outcome": outcome, **extra}, FakeContext()
        )
        return result

    def test_returned_ends_the_episode_and_frees_the_member(self) -> None:
        result = self.record("returned", last_purchase_at="2026-07-03T18:05:00.000000Z")
        assert result == {"episode_id": EPISODE, "status": "completed", "outcome": "returned"}
        episode = stored()
        assert (episode.ended_at, episode.last_purchase_at) == (ENDED, STARTED + timedelta(days=3))
        assert lock_holders() == []

    def test_dormant_with_a_null_last_purchase(self) -> None:
        assert self.record("dormant", last_purchase_at=None)["outcome"] == "dormant"
        assert stored().status == "completed"

    def test_failure_is_recorded_with_the_error_name(self) -> None:
        result = self.record("failed", error="Lambda.Unknown")
        assert (result["status"], stored().error) == ("failed", "Lambda.Unknown")
        assert lock_holders() == []

    def test_retry_with_the_same_outcome_is_idempotent(self) -> None:
        self.record("dormant")
        assert self.record("dormant")["outcome"] == "dormant"

    def test_a_different_outcome_later_fails_the_task(self) -> None:
        self.record("dormant")
        with pytest.raises(EpisodeAlreadyClosed):
            self.record("returned")
        assert stored().outcome == "dormant"

    def test_a_lock_taken_by_another_episode_is_left_alone(self) -> None:
        self.record("dormant")
        newer = Episode(
            episode_id="01J00000000000000000000000",
            journey=JOURNEY,
            member_id=MEMBER,
            status="starting",
            started_at=ENDED,
            execution_name=execution_name("01J00000000000000000000000"),
        )
        DynamoEpisodeRepository(TABLE).open(newer)
        self.record("dormant")  # a late retry of the old task
        assert lock_holders() == [newer.episode_id]
