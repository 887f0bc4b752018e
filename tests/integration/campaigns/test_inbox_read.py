"""``POST /v1/members/me/inbox/{message_id}/read`` (DESIGN §9's path) on moto: marks the member's
message read once, idempotently; 404 for an unknown message or another member's; GET shows the
read state; ``/click`` keeps working and also reads the message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.handlers import dispatch, inbox_api
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.ids import new_ulid
from tests.integration.helpers import (
    FakeContext,
    all_items,
    aws,
    create_table,
    fixed_clock,
    http_event,
    sqs_event,
)

TABLE = "mallcrm-test-campaigns"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
OTHER = "01HX9ZK3M5N7P9Q1R3S5T7V9ZZ"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    create_table(TABLE)
    url: str = aws("sqs").create_queue(QueueName="mallcrm-test-campaigns-dispatch")["QueueUrl"]
    for name, value in {
        "SERVICE_NAME": "campaigns",
        "POWERTOOLS_SERVICE_NAME": "campaigns",
        "TABLE_NAME": TABLE,
        "DISPATCH_QUEUE_URL": url,
        "DUE_FUNCTION_ARN": "arn:aws:lambda:cn-north-1:000000000000:function:due",
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::000000000000:role/due",
        "CHANNEL_MODE": "local",
    }.items():
        monkeypatch.setenv(name, value)
    clock.set_clock(lambda: NOW)


def send_to_inbox(member_id: str, n: int) -> None:
    request = SendRequest.model_validate(
        {
            "send_id": f"ntf#n{n}-{member_id}",
            "kind": "transactional",
            "member_id": member_id,
            "channels": ["inbox"],
            "content": {"inbox": {"title": f"t{n}", "body": "b"}},
            "requested_at": NOW,
        }
    )
    dispatch.handler(sqs_event([request.model_dump_json()]), FakeContext())


def member_http(method: str, path: str, member_id: str = MEMBER, **kwargs: Any) -> dict[str, Any]:
    event = http_event(method, path, **kwargs)
    event["requestContext"]["authorizer"] = {
        "lambda": {"subject": "wx-1", "kind": "member", "member_id": member_id}
    }
    return event


def post(message_id: str, action: str, member_id: str = MEMBER) -> dict[str, Any]:
    result: dict[str, Any] = inbox_api.handler(
        member_http(
            "POST",
            f"/v1/members/me/inbox/{message_id}/{action}",
            member_id=member_id,
            path_parameters={"message_id": message_id},
            route_key=f"POST /v1/members/me/inbox/{{message_id}}/{action}",
        ),
        FakeContext(),
    )
    return result


def inbox(member_id: str = MEMBER) -> list[dict[str, Any]]:
    page = inbox_api.handler(member_http("GET", "/v1/members/me/inbox", member_id=member_id), FakeContext())
    assert page["statusCode"] == 200, page
    items: list[dict[str, Any]] = json.loads(page["body"])["items"]
    return items


@pytest.mark.usefixtures("env")
def test_read_marks_the_message_read_once_and_get_shows_it() -> None:
    send_to_inbox(MEMBER, 0)
    send_to_inbox(MEMBER, 1)
    listed = inbox()
    assert [(i["title"], i["read_at"]) for i in listed] == [("t1", None), ("t0", None)]
    message_id = listed[0]["message_id"]

    clock.set_clock(fixed_clock(NOW + timedelta(minutes=5)))
    first = post(message_id, "read")
    assert first["statusCode"] == 200, first
    read_at = json.loads(first["body"])["read_at"]
    assert read_at == clock.to_utc_iso(NOW + timedelta(minutes=5))

    clock.set_clock(fixed_clock(NOW + timedelta(minutes=9)))
    again = post(message_id, "read")  # idempotent: same answer, the first time kept
    assert again["statusCode"] == 200 and json.loads(again["body"])["read_at"] == read_at
    assert [(i["title"], i["read_at"]) for i in inbox()] == [("t1", read_at), ("t0", None)]
    # reading is no click: no MessageClicked, clicked_at untouched
    assert not [i for i in all_items(TABLE) if i.get("detail_type") == "MessageClicked"]
    assert inbox()[0]["clicked_at"] is None


@pytest.mark.usefixtures("env")
def test_read_is_404_for_an_unknown_message_or_another_members() -> None:
    send_to_inbox(OTHER, 0)
    theirs = inbox(OTHER)[0]["message_id"]
    for message_id in (theirs, new_ulid()):
        answer = post(message_id, "read")
        assert answer["statusCode"] == 404, answer
        assert json.loads(answer["body"])["error"]["code"] == "message_not_found"
    assert inbox(OTHER)[0]["read_at"] is None  # nothing changed for its owner
    anonymous = inbox_api.handler(
        http_event(
            "POST",
            f"/v1/members/me/inbox/{theirs}/read",
            path_parameters={"message_id": theirs},
            route_key="POST /v1/members/me/inbox/{message_id}/read",
        ),
        FakeContext(),
    )
    assert anonymous["statusCode"] == 401


@pytest.mark.usefixtures("env")
def test_click_still_works_and_reads_the_message() -> None:
    send_to_inbox(MEMBER, 0)
    message_id = inbox()[0]["message_id"]
    clicked = post(message_id, "click")
    assert clicked["statusCode"] == 200, clicked
    out = json.loads(clicked["body"])
    assert out["clicked_at"] == out["read_at"] == clock.to_utc_iso(NOW)
    assert post(message_id, "read")["statusCode"] == 200
    assert inbox()[0]["read_at"] == clock.to_utc_iso(NOW)
