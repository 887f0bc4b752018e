"""The event-driven export on moto: POST /v1/members/me/export answers members' part and records a
request (MemberExportRequested in the same transaction); the other services' parts, written to the
export bucket as they consume the event, show up as download links in GET
/v1/members/me/exports/{id}; another member cannot see it; erasure deletes the parts and requests."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.integration.helpers import aws
from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    member_event,
    outbox,
    register,
)

BUCKET = "mallcrm-test-member-exports"


@pytest.fixture
def env(identity_env: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:  # noqa: F811
    aws("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("MEMBER_EXPORTS_BUCKET", BUCKET)
    return identity_env


def write_part(export_id: str, service: str, data: dict[str, Any]) -> None:
    body = {
        "format": "mallcrm.member-export-part.v1",
        "service": service,
        "export_id": export_id,
        "data": data,
    }
    aws("s3").put_object(
        Bucket=BUCKET, Key=f"exports/{export_id}/{service}.json", Body=json.dumps(body).encode()
    )


def status_of(context: dict[str, Any], export_id: str) -> tuple[int, dict[str, Any]]:
    return call(member_event("GET", f"/v1/members/me/exports/{export_id}", context))


def test_export_request_parts_arrive_and_links_are_given(env: Clock) -> None:
    member_id, context = register("o-ex-1", "13812347001")
    status, document = call(member_event("POST", "/v1/members/me/export", context))
    assert status == 200, document
    assert document["profile"]["phone"] == "+8613812347001"  # members' part at once
    export = document["export"]
    export_id = export["export_id"]
    assert export["expected_parts"] == ["loyalty", "tickets", "campaigns"]
    (event,) = outbox("MemberExportRequested")
    assert event["data"]["member_id"] == member_id
    assert event["data"]["object_prefix"] == f"exports/{export_id}/"
    assert "+8613812347001" not in json.dumps(event)  # ids only

    status, view = status_of(context, export_id)
    assert status == 200, view
    assert (view["status"], view["missing"], view["parts"]) == (
        "partial",
        ["loyalty", "tickets", "campaigns"],
        {},
    )
    assert view["members"]["profile"]["name"] == "张三丰"

    write_part(export_id, "loyalty", {"points_balance": 120})
    write_part(export_id, "tickets", {"tickets": []})
    aws("s3").put_object(Bucket=BUCKET, Key=f"exports/{export_id}/notes.txt", Body=b"ignored")
    status, view = status_of(context, export_id)
    assert view["missing"] == ["campaigns"]
    assert sorted(view["parts"]) == ["loyalty", "tickets"]
    link = urllib.parse.urlparse(view["parts"]["loyalty"]["url"])
    assert (
        link.path.endswith(f"/exports/{export_id}/loyalty.json")
        or f"exports/{export_id}/loyalty.json" in link.path
    )
    assert "Signature" in link.query or "X-Amz-Signature" in link.query

    write_part(export_id, "campaigns", {"messages": []})
    assert status_of(context, export_id)[1]["status"] == "complete"


def test_another_member_or_an_unknown_id_finds_nothing(env: Clock) -> None:
    _, alice = register("o-ex-2", "13812347002")
    _, bob = register("o-ex-3", "13812347003")
    export_id = call(member_event("POST", "/v1/members/me/export", alice))[1]["export"]["export_id"]
    status, body = status_of(bob, export_id)
    assert (status, body["error"]["code"]) == (404, "export_not_found")
    assert status_of(alice, "01JD0000000000000000000ZZZ")[0] == 404
    assert status_of(alice, "not-an-export-id-at-all-xx")[0] in (404, 422)


def test_an_expired_export_is_gone(env: Clock) -> None:
    from datetime import timedelta

    _, context = register("o-ex-4", "13812347004")
    export_id = call(member_event("POST", "/v1/members/me/export", context))[1]["export"]["export_id"]
    env.now += timedelta(days=7, seconds=1)
    assert status_of(context, export_id)[0] == 404


def test_erasure_deletes_the_export_parts_and_requests(env: Clock) -> None:
    member_id, context = register("o-ex-5", "13812347005")
    export_id = call(member_event("POST", "/v1/members/me/export", context))[1]["export"]["export_id"]
    write_part(export_id, "loyalty", {"points_balance": 1})
    assert call(member_event("DELETE", "/v1/members/me", context))[0] == 204
    assert aws("s3").list_objects_v2(Bucket=BUCKET, Prefix="exports/").get("KeyCount", 0) == 0
    assert not any(i["pk"] == f"MEMBER#{member_id}" and str(i["sk"]).startswith("EXPORT#") for i in items())
