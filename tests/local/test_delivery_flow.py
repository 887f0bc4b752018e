"""Campaigns delivery through the local cloud on the real template and the virtual clock.

Producers are simulated where they are other helpers' work: ``MemberConsentChanged`` and
``MemberBirthdayToday`` (members), ``MemberProfileScored`` (members' nightly scoring),
``PurchaseRecorded`` (loyalty) are put on the bus as their producers publish them, and campaign
launches' SendRequests on the dispatch queue (contract B). Registration, a consent withdrawal and
the inbox go through the HTTP API (member token authorizer). Everything after that is the system:
consent projection, dispatch guardrails, the due index woken by one-time Scheduler schedules,
loyalty's offers function issuing coupons, the local channel fakes recording into
``cloud.outbox``, the campaigns outbox → stream → publisher → bus, and the ChurnWarning state
machine.

Shown here: a capped lower-priority message deferred to the next morning and sent then (not lost);
quiet hours respected; a consent withdrawn through members' API suppressing a queued send; a
birthday coupon issued and sent at 09:00 (the decision window puts it at 09:01); a transactional
notification at night, read and clicked in the inbox; the churn journey's branches — returned,
escalated (high value: ChurnRiskEscalated, and tickets opens a retention call) and
dormant — after 15 days of virtual time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from shared import clock
from shared.events.contracts import EventData, MemberConsentChanged
from shared.ids import new_ulid
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = clock.zone("Asia/Shanghai")
DAY = 86_400
ADMIN = "delivery.admin"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    # Monday 2026-11-23, 08:30 in Shanghai.
    with LocalCloud.start(ROOT, start=datetime(2026, 11, 23, 0, 30, tzinfo=UTC)) as running:
        yield running


def publish(cloud: LocalCloud, event: EventData) -> None:
    metadata = event.new_metadata(correlation_id="delivery-flow", producer="test")
    answer = cloud.client("events").put_events(
        Entries=[
            {
                "Source": event.SOURCE,
                "DetailType": event.detail_type(),
                "Detail": event.detail_json(metadata),
                "EventBusName": cloud.physical_id("EventBus"),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    cloud.settle()


def grant(cloud: LocalCloud, member_id: str, channel: str, granted: bool = True) -> None:
    publish(
        cloud,
        MemberConsentChanged(
            member_id=member_id,
            purpose="marketing",
            channel=channel,  # type: ignore[arg-type]
            granted=granted,
            changed_at=cloud.clock.now(),
            text_version="mkt-2026-11",
        ),
    )


def enqueue(cloud: LocalCloud, **fields: Any) -> None:
    body = {
        "kind": "marketing",
        "channels": ["sms"],
        "priority": 50,
        "requested_at": clock.to_utc_iso(cloud.clock.now()),
        **fields,
    }
    body.setdefault("content", {c: {"body": f"{fields['send_id']} {{name}}"} for c in body["channels"]})
    cloud.client("sqs").send_message(
        QueueUrl=cloud.physical_id("CampaignsDispatchQueue"), MessageBody=json.dumps(body)
    )
    cloud.settle()


def local_time(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"]).astimezone(SHANGHAI)


def bus(cloud: LocalCloud, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == detail_type]


def advance_to(cloud: LocalCloud, local: datetime) -> None:
    cloud.advance((local.astimezone(UTC) - cloud.clock.now()).total_seconds())


def create_coupon_template(cloud: LocalCloud, template_id: str) -> None:
    flow._create_staff_user(cloud, ADMIN, "admin")
    token = flow.staff_token(cloud, ADMIN)
    body = {
        "template_id": template_id,
        "name": template_id,
        "kind": "amount_off",
        "amount_off_cents": 2000,
        "valid_days": 7,
    }
    status, answer = flow._json(cloud, "POST", "/v1/admin/coupon-templates", body, token=token)
    assert status == 201, answer


def test_guardrails_defer_and_suppress_on_the_virtual_clock(cloud: LocalCloud) -> None:
    a, c = new_ulid(), new_ulid()
    for member in (a, c):
        grant(cloud, member, "sms")
    advance_to(cloud, datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI))
    # Member b registers through the mini-program with SMS marketing granted (member tokens live 1 h).
    sms = {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-2026-11"}
    status, answer = flow.register(cloud, "o-delivery-b", "13800000777", [sms])
    assert status == 201, answer
    b, token_b = answer["member"]["member_id"], answer["token"]
    cloud.settle()

    # Two campaigns compete for member a's one SMS of the day, seconds apart: the higher priority
    # wins the slot, the lower is deferred to the next morning and goes out then.
    enqueue(cloud, send_id=f"cmp#sale#{a}", campaign_id="sale", member_id=a, priority=30)
    enqueue(cloud, send_id=f"cmp#vip#{a}", campaign_id="vip", member_id=a, priority=80)
    # A message for member b is queued; she withdraws SMS marketing (members' consents API) before
    # it goes out: the send-time check stops it.
    enqueue(cloud, send_id=f"cmp#vip#{b}", campaign_id="vip", member_id=b, priority=80)
    status, answer = flow._json(
        cloud, "PUT", "/v1/members/me/consents", {"consents": [{**sms, "granted": False}]}, token=token_b
    )
    assert status == 200, answer
    cloud.settle()
    cloud.advance(600)
    assert [m["send_id"] for m in cloud.outbox] == [f"cmp#vip#{a}"]
    suppressed = {(s["send_id"], s["outcome"], s["reason"]) for s in bus(cloud, "MessageSuppressed")}
    assert (f"cmp#sale#{a}", "deferred", "bumped") in suppressed
    assert (f"cmp#vip#{b}", "suppressed", "no_consent") in suppressed

    # 22:30: a message for member c waits for the morning (quiet hours 21:00-09:00).
    advance_to(cloud, datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI))
    enqueue(cloud, send_id=f"cmp#late#{c}", campaign_id="late", member_id=c)
    cloud.advance(3600)
    assert [m["send_id"] for m in cloud.outbox] == [f"cmp#vip#{a}"]
    assert (f"cmp#late#{c}", "deferred", "quiet_hours") in {
        (s["send_id"], s["outcome"], s["reason"]) for s in bus(cloud, "MessageSuppressed")
    }

    advance_to(cloud, datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI))
    sent = {m["send_id"]: local_time(m) for m in cloud.outbox}
    assert set(sent) == {f"cmp#vip#{a}", f"cmp#sale#{a}", f"cmp#late#{c}"}  # the deferred one was not lost
    for send_id in (f"cmp#sale#{a}", f"cmp#late#{c}"):
        assert sent[send_id].date().isoformat() == "2026-11-24"
        assert 9 <= sent[send_id].hour < 10
    assert all(m["adapter"] == "LocalOutboxAdapter" and m["channel"] == "sms" for m in cloud.outbox)
    # What a person sees at GET /_local/outbox: the same three messages, with what they said.
    status, _, raw = cloud.http("GET", "/_local/outbox", {}, b"")
    shown = json.loads(raw)["messages"]
    assert status == 200 and [m["send_id"] for m in shown] == [m["send_id"] for m in cloud.outbox]
    assert all(m["body"].startswith(m["send_id"]) and m["to"] in (a, c) for m in shown)
    assert len(bus(cloud, "MessageSent")) == 3
    # Nothing waits in a dead-letter queue.
    for dlq in ("CampaignsDispatchDLQ", "CampaignsDispatchDueDLQ", "CampaignsStreamDLQ"):
        url = cloud.physical_id(dlq)
        attributes = cloud.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0", dlq


def test_birthday_coupon_issued_and_sent_at_nine(cloud: LocalCloud) -> None:
    from shared.events.contracts import MemberBirthdayToday

    member = new_ulid()
    create_coupon_template(cloud, "birthday")
    grant(cloud, member, "wechat")
    advance_to(cloud, datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))
    today = datetime(2026, 11, 23, tzinfo=SHANGHAI).date()
    publish(cloud, MemberBirthdayToday(member_id=member, birthday_on=today, mode="day"))
    publish(cloud, MemberBirthdayToday(member_id=member, birthday_on=today, mode="day"))  # redelivered
    cloud.advance(600)
    [message] = cloud.outbox
    at = local_time(message)
    assert (at.date(), at.hour, message["channel"]) == (today, 9, "wechat")
    assert message["send_id"] == f"jrn#birthday#{member}#2026"
    [issued] = [c for c in bus(cloud, "CouponIssued") if c["member_id"] == member]
    assert issued["template_id"] == "birthday"
    valid_until = clock.parse_iso(issued["valid_until"]).astimezone(SHANGHAI).date().isoformat()
    assert valid_until in message["body"]
    [sent] = bus(cloud, "MessageSent")
    assert sent["coupon_id"] == issued["coupon_id"]
    [delivered] = bus(cloud, "MessageDelivered")  # WeChat confirms at once
    assert (delivered["send_id"], delivered["channel"]) == (message["send_id"], "wechat")


def test_a_notification_goes_to_the_inbox_at_night_and_the_member_reads_it(cloud: LocalCloud) -> None:
    advance_to(cloud, datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))
    status, answer = flow.register(cloud, "o-delivery-n", "13800000888", [])
    assert status == 201, answer
    member, token = answer["member"]["member_id"], answer["token"]
    cloud.settle()
    enqueue(
        cloud,
        send_id="ntf#01HZ4444444444444444444444",
        kind="transactional",
        member_id=member,
        channels=["wechat", "inbox"],
        content={
            "wechat": {"title": "客服回复", "body": "已处理"},
            "inbox": {"title": "客服回复", "body": "已处理"},
        },
        link="/pages/tickets/detail?id=1",
    )
    # no WeChat consent: the inbox only, at once despite quiet hours (the outbox shows it too)
    assert [(m["channel"], m["adapter"]) for m in cloud.outbox] == [("inbox", "InboxAdapter")]
    [delivered] = bus(cloud, "MessageDelivered")
    assert delivered["channel"] == "inbox"
    [sent] = bus(cloud, "MessageSent")
    assert (sent["kind"], sent["channel"]) == ("transactional", "inbox")

    status, page = flow._json(cloud, "GET", "/v1/members/me/inbox", token=token)
    assert status == 200, page
    [item] = page["items"]
    assert (item["title"], item["body"], item["link"], item["clicked_at"]) == (
        "客服回复",
        "已处理",
        "/pages/tickets/detail?id=1",
        None,
    )
    for _ in range(2):
        status, clicked = flow._json(
            cloud, "POST", f"/v1/members/me/inbox/{item['message_id']}/click", token=token
        )
        assert status == 200, clicked
    cloud.settle()
    assert len(bus(cloud, "MessageClicked")) == 1
    assert cloud.http("GET", "/v1/members/me/inbox", {}, b"")[0] == 401


def scored(member: str, value_level: str, at: datetime) -> EventData:
    from shared.events.contracts import MemberProfileScored

    return MemberProfileScored(
        member_id=member,
        scored_at=at,
        rfm_segment="at_risk",
        recency_days=95,
        frequency_90d=0,
        monetary_90d_cents=0,
        churn_risk="high",
        value_level=value_level,  # type: ignore[arg-type]
        previous_churn_risk="medium",
        changed=["churn_risk"],
    )


def purchase(member: str, at: datetime) -> EventData:
    from shared.events.contracts import PurchaseRecorded

    data = {**PurchaseRecorded.EXAMPLE, "member_id": member, "occurred_at": clock.to_utc_iso(at)}
    return PurchaseRecorded.model_validate({**data, "purchase_id": new_ulid()})


def test_churn_journey_returned_escalated_and_dormant(cloud: LocalCloud) -> None:
    returning, valuable, dormant = new_ulid(), new_ulid(), new_ulid()
    create_coupon_template(cloud, "win-back")
    for member in (returning, valuable, dormant):
        grant(cloud, member, "sms")
    advance_to(cloud, datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI))
    for member, value in ((returning, "high"), (valuable, "high"), (dormant, "medium")):
        publish(cloud, scored(member, value, cloud.clock.now()))
    cloud.advance(600)
    win_backs = {m["member_id"]: m for m in cloud.outbox if m["send_id"].startswith("jrn#churn_warning#")}
    assert set(win_backs) == {returning, valuable, dormant}
    assert all("有效期至" in m["body"] for m in win_backs.values())  # the coupon's validity is in the text

    cloud.advance(3 * DAY)
    publish(cloud, purchase(returning, cloud.clock.now()))
    cloud.advance(15 * DAY)

    token = flow.staff_token(cloud, ADMIN)
    status, page = flow._json(cloud, "GET", "/v1/admin/journeys/churn_warning/executions", token=token)
    assert status == 200, page
    outcomes = {e["member_id"]: e["outcome"] for e in page["items"]}
    assert outcomes == {returning: "returned", valuable: "escalated", dormant: "dormant"}
    [escalation] = bus(cloud, "ChurnRiskEscalated")
    assert escalation["member_id"] == valuable
    coupons = {c["member_id"]: c["coupon_id"] for c in bus(cloud, "CouponIssued")}
    assert escalation["win_back_coupon_id"] == coupons[valuable]
    # tickets turned the escalation into a retention call for the member (contract E)
    opened = [t for t in bus(cloud, "TicketOpened") if t["member_id"] == valuable]
    assert [t["channel"] for t in opened] == ["journey"]
