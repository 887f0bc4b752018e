"""Helpers for the wallet's handler tests: staff and member requests to LoyaltyApiFunction,
outbox and audit reads."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from services.loyalty.handlers import api
from tests.integration.helpers import FakeContext, all_items, http_event
from tests.integration.loyalty.conftest import TABLE

ALICE = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
BOB = "01HX9ZK3M5N7P9Q1R3S5T7V9WY"


def staff(
    method: str,
    path: str,
    body: Any = None,
    *,
    roles: tuple[str, ...] = ("loyalty_ops",),
    sub: str = "ops-1",
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = http_event(
        method,
        path,
        body=json.dumps(body) if body is not None and not isinstance(body, str) else body,
        claims={"sub": sub, "cognito:groups": list(roles)},
        query=query,
    )
    return call(event)


def member(
    method: str, path: str, member_id: str, body: Any = None, *, query: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    event = http_event(method, path, body=json.dumps(body) if body is not None else None, query=query)
    event["requestContext"]["authorizer"] = {
        "lambda": {"kind": "member", "subject": f"openid-{member_id}", "member_id": member_id}
    }
    return call(event)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, FakeContext(function_name="loyalty-api"))
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else {}


def outbox(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i["detail_type"] == detail_type
    ]


def audit(subject_prefix: str) -> list[dict[str, Any]]:
    return [
        i for i in all_items(TABLE) if i.get("entity") == "audit" and i["subject"].startswith(subject_prefix)
    ]


def entities(entity: str) -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i.get("entity") == entity]


@pytest.fixture
def serialisable_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB makes each request atomic and serialises conflicting transactions; moto does not (its
    TransactWriteItems deep-copies the whole table without a lock while other requests touch it), so
    concurrency tests run each of moto's table requests under one lock — the per-request atomicity
    DynamoDB gives — and race everything between requests (read, compute, write, retry) for real."""
    lock = threading.RLock()
    for name in (
        "transact_write_items",
        "put_item",
        "update_item",
        "delete_item",
        "get_item",
        "query",
        "batch_get_item",
    ):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)
