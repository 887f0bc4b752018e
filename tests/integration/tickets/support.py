# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Shared pieces of the tickets integration tests: a tickets table shaped like the template's
(gsi1), the environment, a settable clock, member and staff callers, and readers of what was
written (items, outbox events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.tickets.dal.kb import clear_index_cache
from services.tickets.handlers import api
from services.tickets.handlers.routes import common
from shared import clock
from tests.integration.helpers import FakeContext, all_items, aws, http_event

TABLE = "mallcrm-test-tickets"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
OTHER_MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WY"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def create_tickets_table() -> None:
    aws("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


REWARDS = [
    {"reward_id": "r-coffee", "name": "咖啡券", "points_cost": 800, "in_stock": True},
    {"reward_id": "r-movie", "name": "电影票", "points_cost": 1500, "in_stock": False},
]


@pytest.fixture
def tickets_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    create_tickets_table()
    for name, value in {
        "SERVICE_NAME": "tickets",
        "POWERTOOLS_SERVICE_NAME": "tickets",
        "TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    # Contract A's function is another service's: its answer is faked here (the real adapter is
    # tested against a moto-less stub in test_adapters).
    monkeypatch.setattr(common.Deps, "rewards", lambda self: list(REWARDS))
    clear_index_cache()
    fake_clock = Clock()
    clock.set_clock(fake_clock)
    yield fake_clock
    clear_index_cache()


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.app.resolve(event, FakeContext())
    body = response.get("body")
    return int(response["statusCode"]), json.loads(body) if body else {}


def member_call(
    method: str,
    path: str,
    body: Any = None,
    *,
    member_id: str | None = MEMBER,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = http_event(method, path, body=json.dumps(body) if body is not None else None, query=query)
    event["requestContext"]["authorizer"] = {
        "lambda": {"kind": "member", "subject": f"sub-{member_id}", "member_id": member_id or ""}
    }
    return call(event)


def staff_call(
    method: str,
    path: str,
    role: str = "service_agent",
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    sub: str | None = None,
) -> tuple[int, dict[str, Any]]:
    event = http_event(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        query=query,
        claims={"sub": sub or f"staff-{role}", "cognito:groups": f"[{role}]"},
    )
    return call(event)


def items() -> list[dict[str, Any]]:
    return all_items(TABLE)


def outbox(detail_type: str | None = None) -> list[dict[str, Any]]:
    """The outbox events (``{"metadata", "data"}``), oldest first, optionally of one type."""
    found = [i for i in items() if i.get("entity") == "outbox"]
    found.sort(key=lambda i: json.loads(i["detail"])["metadata"]["occurred_at"] + i["event_id"])
    return [
        json.loads(i["detail"]) | {"detail_type": i["detail_type"]}
        for i in found
        if detail_type is None or i["detail_type"] == detail_type
    ]


def tickets() -> list[dict[str, Any]]:
    return [i for i in items() if i.get("entity") == "ticket"]


def open_ticket(text: str = "三楼奶茶店的店员态度太差了，我要投诉！！", **extra: Any) -> dict[str, Any]:
    status, body = member_call("POST", "/v1/members/me/tickets", {"text": text, **extra})
    assert status == 201, body
    return body
