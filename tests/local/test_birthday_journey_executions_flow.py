"""The birthday journey as the console sees it, on the real template and the virtual clock.

Seeded as ``make dev`` seeds the demo mall (李伟 was born on 23 November and allows WeChat
marketing); the clock runs from 08:30 Shanghai past 09:00: members' birthday job, campaigns'
birthday consumer, dispatch (the coupon issued through loyalty, the WeChat fake). Then the
marketer asks ``GET /v1/admin/journeys/birthday/executions`` at the front door, with her Cognito
token: the occurrence is there with the coupon and the send's outcome — also when she filters on
the member — while store staff are refused and the points-expiring journey lists nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from infra.seed import demo
from shared import clock

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = clock.zone("Asia/Shanghai")
START = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
BIRTHDAY_OPENID = "demo-openid-0002"  # 李伟, born 1985-11-23
EXECUTIONS = "/v1/admin/journeys/{name}/executions"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _token(cloud: LocalCloud, username: str, password: str) -> str:
    pool = cloud.user_pool
    assert pool is not None, "the template declares the staff user pool"
    result = cloud.client("cognito-idp").initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def _get(cloud: LocalCloud, path: str, token: str) -> tuple[int, Any]:
    status, _, raw = cloud.http("GET", path, {"authorization": f"Bearer {token}"}, b"")
    return status, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def flowed() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT, start=START)
    try:
        facts: dict[str, Any] = {"cloud": cloud}
        data = demo.load_data()
        password = demo.demo_password()
        demo.seed_staff(
            cloud.client("cognito-idp"), cloud.physical_id("StaffUserPool"), data["staff"], password
        )
        facts["templates"] = demo.seed_coupon_templates(cloud.http, "demo.loyalty", password)
        facts["members"], facts["member_failures"] = demo.seed_members(cloud.http)
        cloud.settle()
        marketer, store = _token(cloud, "demo.marketer", password), _token(cloud, "demo.store", password)
        facts["before"] = _get(cloud, EXECUTIONS.format(name="birthday"), marketer)
        cloud.advance((datetime(2026, 11, 23, 9, 10, tzinfo=SHANGHAI) - cloud.clock.now()).total_seconds())
        member = facts["members"][BIRTHDAY_OPENID]
        facts["birthdays"] = _get(cloud, EXECUTIONS.format(name="birthday"), marketer)
        facts["members_birthdays"] = _get(
            cloud, EXECUTIONS.format(name="birthday") + f"?member_id={member}&limit=5", marketer
        )
        facts["reminders"] = _get(cloud, EXECUTIONS.format(name="points_expiring"), marketer)
        facts["as_store_staff"] = _get(cloud, EXECUTIONS.format(name="birthday"), store)
        facts["coupons"] = [
            e["detail"]["data"] for e in cloud.events if e.get("detail-type") == "CouponIssued"
        ]
        yield facts
    finally:
        cloud.stop()


def test_nothing_is_listed_before_nine(flowed: dict[str, Any]) -> None:
    assert flowed["member_failures"] == []
    assert flowed["before"] == (200, {"items": [], "next_token": None})


def test_the_birthday_at_nine_is_listed_with_the_coupon_and_the_send_outcome(flowed: dict[str, Any]) -> None:
    member = flowed["members"][BIRTHDAY_OPENID]
    status, body = flowed["birthdays"]
    assert status == 200, body
    [item] = [i for i in body["items"] if i["member_id"] == member]
    assert (item["journey"], item["birthday_on"], item["send_id"]) == (
        "birthday",
        "2026-11-23",
        f"jrn#birthday#{member}#2026",
    )
    started = clock.parse_iso(item["started_at"]).astimezone(SHANGHAI)
    assert (started.date().isoformat(), started.hour) == ("2026-11-23", 9)
    assert (item["status"], item["outcome"], item["error"]) == ("completed", "sent", None)
    assert (item["message"]["status"], item["message"]["channel"]) == ("sent", "wechat")
    sent_at = clock.parse_iso(item["message"]["sent_at"]).astimezone(SHANGHAI)
    assert (sent_at.hour, sent_at.minute) == (9, 1)  # after the decision window
    [issued] = [c for c in flowed["coupons"] if c["member_id"] == member]
    assert item["coupon"] == {
        "template_id": "birthday",
        "coupon_id": issued["coupon_id"],
        "issued": True,
        "reason": None,
    }


def test_the_members_filter_and_the_other_journeys(flowed: dict[str, Any]) -> None:
    member = flowed["members"][BIRTHDAY_OPENID]
    status, body = flowed["members_birthdays"]
    assert status == 200, body
    assert [(i["member_id"], i["outcome"]) for i in body["items"]] == [(member, "sent")]
    assert flowed["reminders"] == (200, {"items": [], "next_token": None})


def test_store_staff_may_not_list_journeys(flowed: dict[str, Any]) -> None:
    status, body = flowed["as_store_staff"]
    assert (status, body["error"]["code"]) == (403, "missing_role")
