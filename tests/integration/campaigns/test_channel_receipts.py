"""E-mail receipts on moto: a campaign e-mail goes out through the dispatch handler (local e-mail
fake), then SES's events for it — as EventBridge delivers them to the receipt queue — reach
CampaignsOnChannelReceiptsFunction: delivered and clicked once each with MessageDelivered /
MessageClicked in the outbox and the campaign's counters; a bounce and a complaint with their
reason; a complaint stops the member's next marketing e-mail (suppressed ``no_consent``); a receipt
for an erased member's message writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.campaign_stats import stats_by_variant
from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.dal.local_ses import SimulatedKind, ses_event_detail, ses_eventbridge_event
from services.campaigns.handlers import dispatch, on_channel_receipts, on_member_privacy
from services.campaigns.logic.exports import send_entry
from shared import clock
from shared import secrets as shared_secrets
from shared.dynamo import to_item
from shared.events.contracts import MemberErased
from tests.integration.helpers import (
    ACCOUNT,
    REGION,
    FakeContext,
    all_items,
    aws,
    contract_bus_event,
    sqs_event,
)

TABLE = "mallcrm-test-campaigns"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
CAMPAIGN = "01HZ5555555555555555555555"
SEND = f"cmp#{CAMPAIGN}#{MEMBER}"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEY = "campaigns-pseudonym-key-0123456789abcdef"
CONFIG_SET = "mallcrm-test-campaigns-email"


@pytest.fixture
def env(campaigns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = aws("sqs").create_queue(QueueName="mallcrm-test-campaigns-dispatch")["QueueUrl"]
    arn = aws("secretsmanager").create_secret(Name="mallcrm/test/campaigns-pseudonym", SecretString=KEY)[
        "ARN"
    ]
    for name, value in {
        "DISPATCH_QUEUE_URL": url,
        "DUE_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:due",
        "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/due",
        "CHANNEL_MODE": "local",
        "DECISION_WINDOW_SECONDS": "0",
        "PSEUDONYM_KEY_SECRET_ARN": arn,
    }.items():
        monkeypatch.setenv(name, value)
    shared_secrets.clear_cache()
    clock.set_clock(lambda: NOW)
    grant("email")


def grant(channel: str) -> None:
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item(
            {
                "pk": f"MEMBER#{MEMBER}",
                "sk": f"CONSENT#marketing#{channel}",
                "entity": "consent_projection",
                "member_id": MEMBER,
                "purpose": "marketing",
                "channel": channel,
                "granted": True,
                "changed_at": "2026-11-01T00:00:00.000000Z",
                "event_id": "e0",
            }
        ),
    )


def send_email(send_id: str = SEND, variant: str = "A") -> None:
    body = {
        "send_id": send_id,
        "kind": "marketing",
        "campaign_id": CAMPAIGN,
        "variant": variant,
        "member_id": MEMBER,
        "channels": ["email"],
        "content": {"email": {"title": "周末特惠", "body": "hello"}},
        "requested_at": clock.to_utc_iso(clock.now()),
    }
    assert dispatch.handler(sqs_event([json.dumps(body)]), FakeContext()) == {"batchItemFailures": []}


def ses(kind: SimulatedKind, send_id: str = SEND, at: datetime | None = None) -> dict[str, Any]:
    moment = at or NOW + timedelta(seconds=5)
    detail = ses_event_detail(
        kind, send_id=send_id, message_id="0100-msg", configuration_set=CONFIG_SET, sent_at=NOW, at=moment
    )
    return ses_eventbridge_event(kind, detail, moment)


def receive(*events: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = on_channel_receipts.handler(sqs_event(list(events)), FakeContext())
    return answer


def outbox(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i.get("detail_type") == detail_type
    ]


def counters() -> dict[str, Any]:
    items = [
        i for i in all_items(TABLE) if i["pk"] == f"CAMPAIGN#{CAMPAIGN}" and i["sk"].startswith("STATS#")
    ]
    return stats_by_variant(items)


def record() -> dict[str, Any]:
    [item] = [i for i in all_items(TABLE) if i["pk"] == f"SEND#{SEND}"]
    return item


@pytest.mark.usefixtures("env")
def test_an_email_becomes_delivered_then_clicked_once_each() -> None:
    send_email()
    assert DynamoDispatchStore(TABLE).get(SEND).status == "sent"  # type: ignore[union-attr]
    assert outbox("MessageDelivered") == []  # e-mail waits for SES's receipt
    assert counters()["A"].get("delivered", 0) == 0

    assert receive(ses("delivered"), ses("clicked")) == {"batchItemFailures": []}
    assert receive(ses("delivered"), ses("clicked")) == {"batchItemFailures": []}  # SES redelivers

    [delivered] = outbox("MessageDelivered")
    assert (delivered["send_id"], delivered["member_id"], delivered["channel"], delivered["variant"]) == (
        SEND,
        MEMBER,
        "email",
        "A",
    )
    assert delivered["delivered_at"] == "2026-11-23T02:00:05.000000Z"
    [clicked] = outbox("MessageClicked")
    assert (clicked["send_id"], clicked["campaign_id"]) == (SEND, CAMPAIGN)
    stats = counters()["A"]
    assert (stats["sent"], stats["delivered"], stats["clicked"]) == (1, 1, 1)
    item = record()
    assert item["delivered_at"] == "2026-11-23T02:00:05.000000Z" and item["clicked_at"]
    # the member's data export tells them what the provider reported
    exported = send_entry(item)
    assert (exported["delivered_at"], exported["clicked_at"]) == (item["delivered_at"], item["clicked_at"])
    # the outbox items are kept in the member's partition (erasure finds them), with no reference
    kept = {
        i["detail_type"]
        for i in all_items(TABLE)
        if i["pk"] == f"MEMBER#{MEMBER}" and i["sk"].startswith("OUTBOX#") and i["entity"] == "outbox"
    }
    assert {"MessageSent", "MessageDelivered", "MessageClicked"} <= kept
    assert not [i for i in all_items(TABLE) if i["sk"].startswith("OUTBOXREF#")]


@pytest.mark.usefixtures("env")
def test_a_bounce_is_counted_with_its_reason_and_no_event() -> None:
    send_email()
    assert receive(ses("bounced"), ses("bounced")) == {"batchItemFailures": []}
    assert record()["bounce_reason"] == "permanent_general"
    assert counters()["A"]["bounced"] == 1
    assert outbox("MessageDelivered") == [] and outbox("MessageClicked") == []


@pytest.mark.usefixtures("env")
def test_a_complaint_stops_the_members_next_marketing_email() -> None:
    send_email()
    assert receive(ses("complained")) == {"batchItemFailures": []}
    assert receive(ses("complained")) == {"batchItemFailures": []}  # SES redelivers
    assert record()["complaint_reason"] == "abuse"
    assert counters()["A"]["complained"] == 1
    [consent] = [i for i in all_items(TABLE) if i["sk"] == "CONSENT#marketing#email"]
    assert (consent["granted"], consent["text_version"]) == (False, "ses-complaint")
    # members, which owns consent, is told once, through the outbox (kept in the member's
    # partition, so an erasure finds it)
    [complained] = outbox("MarketingComplaintReceived")
    assert complained == {
        "member_id": MEMBER,
        "channel": "email",
        "send_id": SEND,
        "campaign_id": CAMPAIGN,
        "complained_at": "2026-11-23T02:00:05.000000Z",
    }
    [item] = [
        i
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i.get("detail_type") == "MarketingComplaintReceived"
    ]
    assert (item["pk"], item["sk"]) == (f"MEMBER#{MEMBER}", f"OUTBOX#{item['event_id']}")

    clock.set_clock(lambda: NOW + timedelta(days=3))
    later = f"cmp#01HZ6666666666666666666666#{MEMBER}"
    send_email(later)
    after = DynamoDispatchStore(TABLE).get(later)
    assert after is not None and (after.status, after.reason) == ("suppressed", "no_consent")


@pytest.mark.usefixtures("env")
def test_a_member_granting_email_again_after_the_complaint_is_heard(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.events.contracts import MemberConsentChanged

    send_email()
    receive(ses("complained"))
    regrant = MemberConsentChanged(
        member_id=MEMBER,
        purpose="marketing",
        channel="email",
        granted=True,
        changed_at=NOW + timedelta(days=1),
        text_version="mkt-2",
    )
    assert on_member_privacy.handler(sqs_event([contract_bus_event(regrant)]), FakeContext()) == {
        "batchItemFailures": []
    }
    [consent] = [i for i in all_items(TABLE) if i["sk"] == "CONSENT#marketing#email"]
    assert consent["granted"] is True


@pytest.mark.usefixtures("env")
def test_receipts_for_an_erased_member_write_nothing() -> None:
    send_email()
    erased = MemberErased(member_id=MEMBER, erased_at=NOW + timedelta(seconds=1), requested_by="member")
    assert on_member_privacy.handler(sqs_event([contract_bus_event(erased)]), FakeContext()) == {
        "batchItemFailures": []
    }
    before = all_items(TABLE)
    assert receive(ses("delivered"), ses("complained")) == {"batchItemFailures": []}
    after = all_items(TABLE)
    assert MEMBER not in json.dumps([i for i in after if i not in before], default=str)
    assert not [i for i in after if i.get("sk") == "CONSENT#marketing#email"]


@pytest.mark.usefixtures("env")
def test_unreadable_records_fail_alone_and_foreign_events_are_acknowledged() -> None:
    send_email()
    broken = ses("delivered")
    del broken["detail"]["delivery"]
    untagged = ses("delivered")
    del untagged["detail"]["mail"]["tags"]["send_id"]
    foreign = {**ses("delivered"), "source": "mallcrm.members"}
    event = sqs_event([broken, "{not json", untagged, foreign, ses("delivered")])
    answer = receive_raw(event)
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {event["Records"][0]["messageId"], event["Records"][1]["messageId"]}
    assert len(outbox("MessageDelivered")) == 1


def receive_raw(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = on_channel_receipts.handler(event, FakeContext())
    return answer
