"""An erased member's tokens are refused by the authorizer on moto, from the erasure on — whether
the member erased herself or staff did — with the one GetItem the authorizer already made.

Regression: the erasure replaced the profile by a tombstone without ``tokens_valid_after``, and
the authorizer read only that attribute, so a token issued before the erasure passed until it
expired (an hour) and e.g. opened a ticket linked to the erased member id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.members.dal import tokens as token_dal
from services.members.handlers import authorizer
from shared.aws import client as aws_client
from tests.integration.helpers import FakeContext
from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    member_event,
    register,
    staff_event,
)


def authorized(token: str) -> bool:
    answer = authorizer.handler({"type": "REQUEST", "identitySource": [f"Bearer {token}"]}, FakeContext())
    return bool(answer["isAuthorized"])


def token_of(openid: str) -> str:
    status, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": f"local:{openid}"}))
    assert status == 200, body
    return str(body["token"])


def test_the_members_own_erasure_voids_the_token_she_holds(identity_env: Clock) -> None:  # noqa: F811
    _, context = register("o-et-1", "13812347001")
    identity_env.now += timedelta(minutes=5)
    token = token_of("o-et-1")
    register("o-et-2", "13812347002")
    other = token_of("o-et-2")
    assert authorized(token)
    identity_env.now += timedelta(minutes=1)
    assert call(member_event("DELETE", "/v1/members/me", context))[0] == 204
    assert not authorized(token)
    assert authorized(other)  # someone else is untouched
    # a new WeChat login finds no member: its token carries no member id (it may register anew)
    fresh = token_of("o-et-1")
    assert authorized(fresh)
    answer = authorizer.handler({"type": "REQUEST", "identitySource": [f"Bearer {fresh}"]}, FakeContext())
    assert answer["context"]["member_id"] == ""


def test_staff_erasure_voids_the_members_token_at_once(identity_env: Clock) -> None:  # noqa: F811
    member_id, _ = register("o-et-3", "13812347003")
    identity_env.now += timedelta(minutes=10)
    token = token_of("o-et-3")  # issued after registration, well before the erasure
    assert authorized(token)
    identity_env.now += timedelta(minutes=1)
    status, body = call(
        staff_event(
            "DELETE",
            f"/v1/admin/members/{member_id}",
            "admin",
            query={"reason": "written request #4712"},
            path_parameters={"member_id": member_id},
        )
    )
    assert status == 204, body
    assert not authorized(token)


@pytest.mark.usefixtures("identity_env")
def test_the_authorizer_reads_status_and_revocation_in_one_get_item(monkeypatch: pytest.MonkeyPatch) -> None:
    _, _context = register("o-et-4", "13812347004")
    token = token_of("o-et-4")
    calls: list[tuple[str, dict[str, Any]]] = []
    real = aws_client

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            method = getattr(self.inner, name)

            def counted(**kwargs: Any) -> Any:
                calls.append((name, kwargs))
                return method(**kwargs)

            return counted

    monkeypatch.setattr(token_dal, "client", lambda service: Counting(real(service)))
    assert authorized(token)
    dynamo = [(name, kw) for name, kw in calls if "TableName" in kw]
    assert [name for name, _ in dynamo] == ["get_item"]
    assert dynamo[0][1]["ProjectionExpression"] == "#status, tokens_valid_after"
    assert dynamo[0][1]["ConsistentRead"] is True
