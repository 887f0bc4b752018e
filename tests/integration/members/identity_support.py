"""Shared pieces of the identity integration tests (identity engineer's): a members table shaped like
the template's (gsi1 + gsi2), the secrets, the KMS key, the fake WeChat login, and callers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.members.dal import tokens as token_keys
from services.members.dal.email import FakeVerificationMail
from services.members.dal.wechat import FakeWeChatLogin
from services.members.handlers import api
from services.members.handlers.routes import common
from shared import clock
from shared import secrets as secrets_cache
from tests.integration.helpers import FakeContext, all_items, aws, http_event

TABLE = "mallcrm-test-members"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def create_members_table() -> None:
    attributes = [
        {"AttributeName": n, "AttributeType": "S"}
        for n in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    ]
    indexes = [
        {
            "IndexName": f"gsi{n}",
            "KeySchema": [
                {"AttributeName": f"gsi{n}pk", "KeyType": "HASH"},
                {"AttributeName": f"gsi{n}sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL" if n == 1 else "KEYS_ONLY"},
        }
        for n in (1, 2)
    ]
    aws("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=attributes,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=indexes,
    )


@pytest.fixture
def identity_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    create_members_table()
    sm = aws("secretsmanager")
    pepper = sm.create_secret(Name="pepper", SecretString="pepper-" + "p" * 40)["ARN"]
    token = sm.create_secret(Name="token", SecretString="token-" + "t" * 40)["ARN"]
    key = aws("kms").create_key()["KeyMetadata"]["Arn"]
    for name, value in {
        "SERVICE_NAME": "members",
        "POWERTOOLS_SERVICE_NAME": "members",
        "TABLE_NAME": TABLE,
        "DATA_KEY_ARN": key,
        "LOOKUP_PEPPER_SECRET_ARN": pepper,
        "MEMBER_TOKEN_KEY_SECRET_ARN": token,
    }.items():
        monkeypatch.setenv(name, value)
    # The fake login: in the local cloud the "auto" setting picks it; here the target is plain moto.
    monkeypatch.setattr(common.Deps, "wechat", lambda self: FakeWeChatLogin())
    FakeWeChatLogin.calls.clear()
    # Likewise the e-mail verification sender: the fake records the codes (FakeVerificationMail.sent).
    monkeypatch.setattr(common.Deps, "email_sender", lambda self: FakeVerificationMail())
    FakeVerificationMail.sent.clear()
    secrets_cache.clear_cache()
    token_keys.clear_cache()
    fake_clock = Clock()
    clock.set_clock(fake_clock)
    yield fake_clock
    secrets_cache.clear_cache()


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.app.resolve(event, FakeContext())
    body = response.get("body")
    return int(response["statusCode"]), json.loads(body) if body else {}


def member_event(
    method: str,
    path: str,
    token_context: dict[str, Any] | None,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = http_event(method, path, body=json.dumps(body) if body is not None else None, query=query)
    if token_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": token_context}
    return event


def staff_event(
    method: str,
    path: str,
    role: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    return http_event(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        query=query,
        path_parameters=path_parameters,
        claims={"sub": f"staff-{role}", "cognito:groups": f"[{role}]"},
    )


def login(openid: str) -> dict[str, Any]:
    """POST /v1/auth/wechat, then the authorizer's context for the token (as the gateway passes it)."""

    status, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": f"local:{openid}"}))
    assert status == 200, body
    return context_of(body["token"])


def context_of(token: str) -> dict[str, Any]:
    from services.members.handlers import authorizer

    answer = authorizer.handler({"type": "REQUEST", "identitySource": [f"Bearer {token}"]}, FakeContext())
    assert answer["isAuthorized"], answer
    return dict(answer["context"])


def registration(phone: str = "13812341234", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phone": phone,
        "name": "张三丰",
        "gender": "male",
        "birthday": "1990-05-01",
        "preferred_store_id": "S-L1-08",
        "preferred_categories": ["apparel"],
        "consents": [
            {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "consent-2026-11"},
            {"purpose": "car_plates", "granted": True, "text_version": "consent-2026-11"},
        ],
    }
    body.update(overrides)
    return body


def register(openid: str, phone: str = "13812341234", **overrides: Any) -> tuple[str, dict[str, Any]]:
    """Log in and register; (member_id, the authorizer context of the new token)."""
    context = login(openid)
    status, body = call(member_event("POST", "/v1/members", context, registration(phone, **overrides)))
    assert status == 201, body
    return body["member"]["member_id"], context_of(body["token"])


def items() -> list[dict[str, Any]]:
    return all_items(TABLE)


def outbox(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])
        for i in items()
        if i.get("entity") == "outbox" and i.get("detail_type") == detail_type
    ]


def verify_email(context: dict[str, Any]) -> dict[str, Any]:
    """Ask for a code, read it from the fake sender, confirm it: the member's profile after."""
    status, body = call(member_event("POST", "/v1/members/me/email/verification", context))
    assert status == 202, body
    code = re.search(r"\b(\d{6})\b", FakeVerificationMail.sent[-1].text)
    assert code is not None
    status, body = call(
        member_event("POST", "/v1/members/me/email/confirmation", context, {"code": code.group(1)})
    )
    assert status == 200, body
    return body
