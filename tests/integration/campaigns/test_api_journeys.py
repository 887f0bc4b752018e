"""GET /v1/admin/journeys/{name}/executions (CampaignsApiFunction) against moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.handlers import api
from services.campaigns.logic.churn_warning import JOURNEY, execution_name, record_outcome
from services.campaigns.models.entities import Episode
from tests.integration.campaigns.conftest import TABLE
from tests.integration.helpers import FakeContext, http_event

START = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
ROUTE = "GET /v1/admin/journeys/{name}/executions"


def staff(*groups: str) -> dict[str, Any]:
    return {"sub": "staff-sub-1", "cognito:groups": f"[{' '.join(groups)}]", "client_id": "console"}


def get(
    name: str = "churn_warning", claims: dict[str, Any] | None = None, **query: str
) -> tuple[int, dict[str, Any]]:
    event = http_event(
        "GET",
        f"/v1/admin/journeys/{name}/executions",
        path_parameters={"name": name},
        query=query or None,
        route_key=ROUTE,
        claims=claims if claims is not None else staff("marketer"),
    )
    response = api.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def five_episodes(campaigns: str) -> list[str]:
    repo = DynamoEpisodeRepository(TABLE)
    ids = []
    for n in range(5):
        episode_id = f"01J0000000000000000000000{n}"
        repo.open(
            Episode(
                episode_id=episode_id,
                journey=JOURNEY,
                member_id=f"01HX9ZK3M5N7P9Q1R3S5T7V9W{n}",
                status="starting",
                started_at=START + timedelta(days=n),
                execution_name=execution_name(episode_id),
            )
        )
        ids.append(episode_id)
    record_outcome(ids[0], "returned", repo, now=START + timedelta(days=14))
    return ids


class TestListExecutions:
    def test_newest_first_with_status_and_outcome(self, five_episodes: list[str]) -> None:
        status, body = get()
        assert status == 200
        assert [e["episode_id"] for e in body["items"]] == five_episodes[::-1]
        assert body["next_token"] is None
        oldest = body["items"][-1]
        assert (oldest["status"], oldest["outcome"], oldest["ended_at"]) == (
            "completed",
            "returned",
            "2026-06-15T18:00:00.000000Z",
        )
        assert (body["items"][0]["status"], body["items"][0]["outcome"]) == ("starting", None)
        # churn warning's items as before; the message journeys' fields stay empty
        assert oldest["execution_name"] == f"churn-warning-{five_episodes[0]}"
        assert {k: oldest[k] for k in ("send_id", "message", "coupon", "lot_id", "points")} == dict.fromkeys(
            ("send_id", "message", "coupon", "lot_id", "points")
        )

    def test_pages_follow_the_token(self, five_episodes: list[str]) -> None:
        seen: list[str] = []
        token = None
        for _ in range(5):
            status, body = get(limit="2", next_token=token) if token else get(limit="2")
            assert status == 200
            seen += [e["episode_id"] for e in body["items"]]
            token = body["next_token"]
            if token is None:
                break
        assert seen == five_episodes[::-1]

    def test_admin_may_list_too(self, five_episodes: list[str]) -> None:
        assert get(claims=staff("admin"))[0] == 200

    def test_other_roles_are_forbidden(self, campaigns: str) -> None:
        status, body = get(claims=staff("store_staff", "service_agent"))
        assert (status, body["error"]["code"]) == (403, "missing_role")

    def test_without_a_verified_token(self, campaigns: str) -> None:
        status, _ = get(claims={})
        assert status == 401

    def test_unknown_journey(self, campaigns: str) -> None:
        status, body = get(name="anniversary")
        assert (status, body["error"]["code"]) == (404, "journey_not_found")

    def test_forged_token(self, five_episodes: list[str]) -> None:
        status, body = get(next_token="eyJwayI6ICJ4In0")
        assert (status, body["error"]["code"]) == (400, "invalid_next_token")

    def test_limit_out_of_range(self, campaigns: str) -> None:
        status, body = get(limit="0")
        assert (status, body["error"]["fields"][0]["field"]) == (422, "query.limit")


MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WM"


@pytest.fixture
def one_members_episodes(five_episodes: list[str]) -> list[str]:
    """Three closed episodes of MEMBER among the five of other members (newest last)."""
    repo = DynamoEpisodeRepository(TABLE)
    ids = []
    for n in range(3):
        episode_id = f"01J1000000000000000000000{n}"
        repo.open(
            Episode(
                episode_id=episode_id,
                journey=JOURNEY,
                member_id=MEMBER,
                status="starting",
                started_at=START + timedelta(days=30 + n),
                execution_name=execution_name(episode_id),
            )
        )
        # closing releases the member's lock, so the next episode can open
        record_outcome(episode_id, "dormant", repo, now=START + timedelta(days=30 + n, hours=1))
        ids.append(episode_id)
    return ids


class TestOneMembersExecutions:
    """The 360° view links here with ``member_id``: it must list that member's episodes only."""

    def test_only_the_members_episodes_newest_first(self, one_members_episodes: list[str]) -> None:
        status, body = get(member_id=MEMBER)
        assert status == 200
        assert [e["episode_id"] for e in body["items"]] == one_members_episodes[::-1]
        assert {e["member_id"] for e in body["items"]} == {MEMBER}
        assert body["next_token"] is None

    def test_pages_follow_the_token(self, one_members_episodes: list[str]) -> None:
        first_status, first = get(member_id=MEMBER, limit="2")
        assert (first_status, len(first["items"])) == (200, 2)
        second_status, second = get(member_id=MEMBER, limit="2", next_token=first["next_token"])
        assert second_status == 200
        seen = [e["episode_id"] for e in first["items"] + second["items"]]
        assert seen == one_members_episodes[::-1]

    def test_a_member_without_episodes_gets_none(self, five_episodes: list[str]) -> None:
        assert get(member_id="01HX9ZK3M5N7P9Q1R3S5T7V9ZZ") == (200, {"items": [], "next_token": None})

    def test_a_token_of_the_journey_list_is_not_a_members_token(self, five_episodes: list[str]) -> None:
        _, page = get(limit="2")
        status, body = get(member_id=MEMBER, next_token=page["next_token"])
        assert (status, body["error"]["code"]) == (400, "invalid_next_token")

    def test_a_malformed_member_id(self, campaigns: str) -> None:
        status, body = get(member_id="x y")
        assert (status, body["error"]["fields"][0]["field"]) == (422, "query.member_id")
