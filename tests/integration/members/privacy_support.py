"""Shared pieces of the consents / export / erasure integration tests (privacy engineer's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import clock
from tests.integration.helpers import FakeContext, aws, create_table, http_event, put_plain

TABLE = "mallcrm-test-members"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01JD0000000000000000000AAA"
OTHER = "01JD0000000000000000000BBB"


@pytest.fixture
def members_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    create_table(TABLE, gsi1=True)
    for name, value in {
        "SERVICE_NAME": "members",
        "POWERTOOLS_SERVICE_NAME": "members",
        "TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    clock.set_clock(lambda: NOW)
    yield


def put_profile(member_id: str, status: str = "active") -> None:
    put_plain(TABLE, {"pk": f"MEMBER#{member_id}", "sk": "PROFILE", "entity": "member", "status": status})


def member_event(method: str, path: str, member_id: str | None, body: Any = None) -> dict[str, Any]:
    event = http_event(method, path, body=json.dumps(body) if body is not None else None)
    if member_id is not None:
        event["requestContext"]["authorizer"] = {
            "lambda": {"kind": "member", "subject": f"openid-{member_id}", "member_id": member_id}
        }
    return event


def call(app: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app.resolve(event, FakeContext())
    body = response.get("body")
    return int(response["statusCode"]), json.loads(body) if body else {}


def items_with_prefix(member_id: str, prefix: str) -> list[dict[str, Any]]:
    from shared.dynamo import from_item, to_item

    page = aws("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues=to_item({":pk": f"MEMBER#{member_id}", ":p": prefix}),
    )
    return [from_item(i) for i in page["Items"]]


def outbox_events(detail_type: str) -> list[dict[str, Any]]:
    from tests.integration.helpers import all_items

    return [
        json.loads(i["detail"])
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i.get("detail_type") == detail_type
    ]


PEPPER = "pepper-for-tests-0123456789abcdef0123456789"
TOKEN_KEY = "token-master-key-0123456789abcdef0123456789"


@pytest.fixture
def members_api(members_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment of MembersApiFunction: KMS data key and the two secrets."""
    from shared import secrets

    key = aws("kms").create_key(Description="members test")["KeyMetadata"]["Arn"]
    sm = aws("secretsmanager")
    pepper = sm.create_secret(Name="mallcrm/test/lookup-pepper", SecretString=PEPPER)["ARN"]
    token = sm.create_secret(Name="mallcrm/test/member-token-key", SecretString=TOKEN_KEY)["ARN"]
    for name, value in {
        "DATA_KEY_ARN": key,
        "LOOKUP_PEPPER_SECRET_ARN": pepper,
        "MEMBER_TOKEN_KEY_SECRET_ARN": token,
    }.items():
        monkeypatch.setenv(name, value)
    secrets.clear_cache()
    yield
    secrets.clear_cache()


def newcomer_event(method: str, path: str, subject: str, body: Any = None) -> dict[str, Any]:
    """A logged-in shopper who is not a member yet (the authorizer's context without member_id)."""
    event = http_event(method, path, body=json.dumps(body) if body is not None else None)
    event["requestContext"]["authorizer"] = {
        "lambda": {"kind": "member", "subject": subject, "member_id": "", "unionid_hash": ""}
    }
    return event


def staff_event(path: str, query: dict[str, str], roles: str = "[admin]") -> dict[str, Any]:
    return http_event("GET", path, query=query, claims={"sub": "staff-1", "cognito:groups": roles})
