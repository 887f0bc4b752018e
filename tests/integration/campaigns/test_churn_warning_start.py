"""CampaignsOnProfileScoredFunction: one ChurnWarning episode per member at a time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.handlers import on_profile_scored
from services.campaigns.logic.churn_warning import JOURNEY, execution_name, record_outcome
from services.campaigns.models.entities import Episode
from shared import clock
from shared.events import MemberProfileScored
from tests.integration.campaigns.conftest import TABLE
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event

MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
OTHER = "01HX9ZK3M5N7P9Q1R3S5T7V9WY"
NOW = datetime(2026, 6, 30, 18, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock() -> None:
    clock.set_clock(lambda: NOW)


def scored(member_id: str = MEMBER, risk: str = "high") -> dict[str, Any]:
    return contract_bus_event(
        MemberProfileScored(
            member_id=member_id,
            scored_at=NOW,
            rfm_segment="at_risk",
            recency_days=75,
            frequency_90d=1,
            monetary_90d_cents=25900,
            churn_risk=risk,  # type: ignore[arg-type]
            value_level="high",
            previous_churn_risk="medium",
        )
    )


def consume(*bodies: Mapping[str, Any] | str) -> dict[str, Any]:
    result: dict[str, Any] = on_profile_scored.handler(sqs_event(bodies), FakeContext())
    return result


def executions(machine: str) -> list[dict[str, Any]]:
    sfn = aws("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def entities(name: str) -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i["entity"] == name]


class TestStartOncePerMember:
    def test_high_risk_starts_one_episode(self, campaigns: str) -> None:
        event = scored()

        assert consume(event) == {"batchItemFailures": []}

        (execution,) = executions(campaigns)
        event_id = event["detail"]["metadata"]["event_id"]
        assert execution["name"] == execution_name(event_id) == f"churn-warning-{event_id}"
        assert json.loads(execution["input"]) == {
            "journey": "churn_warning",
            "episode_id": event_id,
            "member_id": MEMBER,
            "started_at": "2026-06-30T18:05:00.000000Z",
            "observe_seconds": 14 * 24 * 3600,
        }
        (episode,) = entities("journey_episode")
        assert (episode["status"], episode["member_id"], episode["gsi1pk"]) == (
            "starting",
            MEMBER,
            "JOURNEY#churn_warning",
        )
        (lock,) = entities("journey_lock")
        assert (lock["pk"], lock["episode_id"]) == (f"JOURNEY#churn_warning#{MEMBER}", event_id)

    def test_the_observation_period_comes_from_settings(
        self, campaigns: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CHURN_OBSERVE_SECONDS", "60")
        consume(scored())
        assert json.loads(executions(campaigns)[0]["input"])["observe_seconds"] == 60

    def test_same_event_twice_starts_once(self, campaigns: str) -> None:
        event = scored()
        assert consume(event, event) == {"batchItemFailures": []}
        assert consume(event) == {"batchItemFailures": []}
        assert len(executions(campaigns)) == 1
        assert len(entities("journey_episode")) == 1

    def test_a_second_high_score_during_an_episode_starts_nothing(self, campaigns: str) -> None:
        consume(scored())
        consume(scored())  # next night, still high: a new event id
        assert len(executions(campaigns)) == 1
        assert len(entities("journey_episode")) == 1

    def test_members_are_independent(self, campaigns: str) -> None:
        consume(scored(MEMBER), scored(OTHER))
        assert len(executions(campaigns)) == 2

    def test_after_the_episode_ends_a_new_one_can_start(self, campaigns: str) -> None:
        first = scored()
        consume(first)
        record_outcome(
            first["detail"]["metadata"]["event_id"], "dormant", DynamoEpisodeRepository(TABLE), now=NOW
        )

        consume(scored())

        assert len(executions(campaigns)) == 2
        assert entities("journey_lock")[0]["episode_id"] != first["detail"]["metadata"]["event_id"]
        assert consume(first) == {"batchItemFailures": []}, "the old event, redelivered late, starts nothing"
        assert len(executions(campaigns)) == 2

    def test_a_start_that_crashed_after_the_write_is_resumed(self, campaigns: str) -> None:
        event = scored()
        event_id = event["detail"]["metadata"]["event_id"]
        DynamoEpisodeRepository(TABLE).open(
            Episode(
                episode_id=event_id,
                journey=JOURNEY,
                member_id=MEMBER,
                status="starting",
                started_at=NOW,
                execution_name=execution_name(event_id),
            )
        )
        assert executions(campaigns) == []

        assert consume(event) == {"batchItemFailures": []}

        (execution,) = executions(campaigns)
        assert execution["name"] == execution_name(event_id)

    def test_a_risk_other_than_high_starts_nothing(self, campaigns: str) -> None:
        consume(scored(risk="medium"))
        assert executions(campaigns) == []
        assert all_items(TABLE) == []
