"""The birthday journey end to end on the real template and the virtual clock, nothing simulated.

The demo mall is seeded as ``make dev`` seeds it — the staff, the coupon templates ``birthday`` and
``win-back`` through loyalty's admin API, the demo shoppers through members' API (李伟 was born on
23 November and allows WeChat marketing). The virtual clock starts at 08:30 Shanghai on
2026-11-23 and runs past 09:00: EventBridge Scheduler fires members' daily
``MembersBirthdayFunction``, whose ``MemberBirthdayToday`` goes out through the members outbox,
stream and bus to campaigns' birthday consumer, which queues the send; dispatch issues the coupon
through ``LoyaltyOffersFunction`` and the local WeChat fake records the message with the coupon in
``GET /_local/outbox`` — at 09:01, after the priority decision window. A second day of virtual time
adds nothing: once per member per year.
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

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _bus(cloud: LocalCloud, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == detail_type]


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
        facts["outbox_before"] = list(cloud.outbox)
        cloud.advance((datetime(2026, 11, 23, 9, 10, tzinfo=SHANGHAI) - cloud.clock.now()).total_seconds())
        facts["outbox_at_nine"] = list(cloud.outbox)
        facts["birthday_runs"] = [
            r for r in cloud.invocations if r.logical_id == "MembersBirthdayFunction" and r.outcome == "ok"
        ]
        cloud.advance(86_400)  # the next day's 09:00 run, and any redelivery, add nothing
        facts["outbox_next_day"] = list(cloud.outbox)
        status, _, raw = cloud.http("GET", "/_local/outbox", {}, b"")
        facts["front_door_outbox"] = (status, json.loads(raw))
        yield facts
    finally:
        cloud.stop()


def test_the_seed_created_the_coupon_templates_in_loyalty(flowed: dict[str, Any]) -> None:
    assert flowed["templates"] == (["birthday", "win-back"], [])
    assert flowed["member_failures"] == []
    cloud: LocalCloud = flowed["cloud"]
    answers = {}
    for template_id in ("birthday", "win-back"):
        raw = cloud.client("lambda").invoke(
            FunctionName=cloud.physical_id("LoyaltyOffersFunction"),
            Payload=json.dumps({"action": "describe_template", "template_id": template_id}).encode(),
        )
        answers[template_id] = json.loads(raw["Payload"].read())
    assert answers["birthday"] == {"exists": True, "kind": "amount_off", "valid_days": 30, "status": "active"}
    assert answers["win-back"]["exists"] is True and answers["win-back"]["kind"] == "percent_off"


def test_the_nine_oclock_schedule_ran_the_members_birthday_job(flowed: dict[str, Any]) -> None:
    runs = flowed["birthday_runs"]
    assert runs, "MembersBirthdayFunction did not run"
    first = runs[0].at.astimezone(SHANGHAI)
    assert (first.date().isoformat(), first.hour, first.minute) == ("2026-11-23", 9, 0)
    assert runs[0].trigger == "schedule"


def test_one_birthday_event_for_the_member_born_today(flowed: dict[str, Any]) -> None:
    member = flowed["members"][BIRTHDAY_OPENID]
    events = _bus(flowed["cloud"], "MemberBirthdayToday")
    assert [(e["member_id"], e["birthday_on"], e["mode"]) for e in events] == [(member, "2026-11-23", "day")]


def test_the_birthday_coupon_is_issued_and_the_message_carries_it(flowed: dict[str, Any]) -> None:
    cloud: LocalCloud = flowed["cloud"]
    member = flowed["members"][BIRTHDAY_OPENID]
    assert [m for m in flowed["outbox_before"] if m.get("member_id") == member] == []
    [message] = [m for m in flowed["outbox_at_nine"] if m.get("member_id") == member]
    at = datetime.fromisoformat(message["at"]).astimezone(SHANGHAI)
    assert (at.date().isoformat(), at.hour, at.minute) == ("2026-11-23", 9, 1)
    assert (message["service"], message["channel"], message["adapter"]) == (
        "campaigns",
        "wechat",
        "LocalOutboxAdapter",
    )
    assert message["send_id"] == f"jrn#birthday#{member}#2026"

    [issued] = [c for c in _bus(cloud, "CouponIssued") if c["member_id"] == member]
    assert issued["template_id"] == "birthday"
    valid_until = clock.parse_iso(issued["valid_until"]).astimezone(SHANGHAI).date().isoformat()
    assert valid_until == "2026-12-22"  # 30 local days, counting the birthday
    assert valid_until in message["body"]
    [sent] = [s for s in _bus(cloud, "MessageSent") if s["member_id"] == member]
    assert sent["coupon_id"] == issued["coupon_id"]
    suppressed = [s for s in _bus(cloud, "MessageSuppressed") if s["member_id"] == member]
    assert suppressed == [], suppressed


def test_once_per_member_per_year_and_visible_at_the_front_door(flowed: dict[str, Any]) -> None:
    member = flowed["members"][BIRTHDAY_OPENID]
    assert len([m for m in flowed["outbox_next_day"] if m.get("member_id") == member]) == 1
    status, body = flowed["front_door_outbox"]
    assert status == 200
    assert [m["send_id"] for m in body["messages"] if m.get("member_id") == member] == [
        f"jrn#birthday#{member}#2026"
    ]


def test_the_contact_directory_answers_from_the_vault_in_the_local_cloud(flowed: dict[str, Any]) -> None:
    """What CHANNEL_MODE=aws would ask for this send: the openid once the member has logged in
    again after registering (he allows WeChat marketing); not the phone, which he holds but never
    allowed marketing on (members checks the consent itself, every channel); each read audited in
    the members table."""
    cloud: LocalCloud = flowed["cloud"]
    member = flowed["members"][BIRTHDAY_OPENID]

    def ask(channel: str) -> dict[str, Any]:
        payload = {"member_id": member, "channel": channel, "purpose": f"jrn#birthday#{member}#2026"}
        raw = cloud.client("lambda").invoke(
            FunctionName=cloud.physical_id("MembersContactDirectoryFunction"),
            Payload=json.dumps(payload).encode(),
        )
        answer: dict[str, Any] = json.loads(raw["Payload"].read())
        return answer

    assert ask("sms") == {"found": False, "reason": "not_consented"}
    assert ask("wechat") == {"found": False, "reason": "channel_not_held"}  # openid not sealed yet
    body = json.dumps({"code": f"local:{BIRTHDAY_OPENID}"}).encode()
    status, _, _ = cloud.http("POST", "/v1/auth/wechat", {"content-type": "application/json"}, body)
    assert status == 200
    assert ask("wechat") == {"found": True, "channel": "wechat", "address": BIRTHDAY_OPENID}
    assert ask("email") == {"found": False, "reason": "channel_not_held"}
    audit = cloud.client("dynamodb").query(
        TableName=cloud.physical_id("MembersTable"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{member}"}},
    )["Items"]
    lookups = [i for i in audit if i["action"]["S"] == "contact_lookup"]
    assert sorted(i["fields"]["L"][0]["S"] for i in lookups) == ["email", "sms", "wechat", "wechat"]
    assert {i["actor_sub"]["S"] for i in lookups} == {"campaigns.dispatch"}
