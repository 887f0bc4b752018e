"""SMS receipts on moto: a campaign SMS goes out through the dispatch handler with real channels
(``CHANNEL_MODE=aws``: moto's SNS ``Publish``; members' contact directory replaced by a recorded
fake), ``mark_sent`` indexes the send record by SNS's message id, and SNS's delivery status log
records for it — as a CloudWatch Logs subscription invokes CampaignsOnSmsReceiptsFunction — are
recorded once: delivered with MessageDelivered and the campaign's counter, a failure with SNS's
reason, replays and a second final status ignored, a status for someone else's SMS or an erased
member's writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.campaign_stats import stats_by_variant
from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.handlers import dispatch, on_member_privacy, on_sms_receipts
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
from tests.unit.campaigns.sns_sms_logs import DELIVERED_GROUP, FAILED_GROUP, awslogs_event, sms_record

TABLE = "mallcrm-test-campaigns"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
CAMPAIGN = "01HZ5555555555555555555555"
SEND = f"cmp#{CAMPAIGN}#{MEMBER}"
PHONE = "+8613800000001"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEY = "campaigns-pseudonym-key-0123456789abcdef"


class RecordedContacts:
    """Stands in for members' contact directory (a Lambda invoke): the member's phone, and what it
    was asked."""

    asked: list[tuple[str, str, str]] = []

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        RecordedContacts.asked.append((member_id, channel, purpose))
        return PHONE if (member_id, channel) == (MEMBER, "sms") else None


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
        "CHANNEL_MODE": "aws",
        "CONTACT_DIRECTORY_FUNCTION": "mallcrm-test-members-contact-directory",
        "DECISION_WINDOW_SECONDS": "0",
        "PSEUDONYM_KEY_SECRET_ARN": arn,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(dispatch, "MembersContactDirectory", RecordedContacts)
    monkeypatch.setattr(dispatch, "_noted", set())
    RecordedContacts.asked = []
    shared_secrets.clear_cache()
    clock.set_clock(lambda: NOW)
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item(
            {
                "pk": f"MEMBER#{MEMBER}",
                "sk": "CONSENT#marketing#sms",
                "entity": "consent_projection",
                "member_id": MEMBER,
                "purpose": "marketing",
                "channel": "sms",
                "granted": True,
                "changed_at": "2026-11-01T00:00:00.000000Z",
                "event_id": "e0",
            }
        ),
    )


def send_sms(send_id: str = SEND, variant: str = "A") -> str:
    """Dispatch one campaign SMS; SNS's MessageId (moto's) as the send record keeps it."""
    body = {
        "send_id": send_id,
        "kind": "marketing",
        "campaign_id": CAMPAIGN,
        "variant": variant,
        "member_id": MEMBER,
        "channels": ["sms"],
        "content": {"sms": {"body": "周末全场8折"}},
        "requested_at": clock.to_utc_iso(clock.now()),
    }
    assert dispatch.handler(sqs_event([json.dumps(body)]), FakeContext()) == {"batchItemFailures": []}
    [item] = [i for i in all_items(TABLE) if i["pk"] == f"SEND#{send_id}"]
    assert item["status"] == "sent" and item["channel"] == "sms"
    return str(item["provider_message_id"])


def sns_published() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    return [(phone, text) for phone, text in sns_backends[ACCOUNT][REGION].sms_messages.values()]


def statuses(
    *records: dict[str, Any], group: str = DELIVERED_GROUP, at: datetime | None = None
) -> dict[str, Any]:
    logged = at or NOW + timedelta(seconds=4)
    return awslogs_event([(r, logged) for r in records], log_group=group)


def receive(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = on_sms_receipts.handler(event, FakeContext())
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


def record(send_id: str = SEND) -> dict[str, Any]:
    [item] = [i for i in all_items(TABLE) if i["pk"] == f"SEND#{send_id}"]
    return item


@pytest.mark.usefixtures("env")
def test_a_delivered_sms_is_counted_once_and_replays_are_ignored() -> None:
    message_id = send_sms()
    assert sns_published() == [(PHONE, "周末全场8折")]
    assert RecordedContacts.asked == [(MEMBER, "sms", SEND)]
    assert record()["gsi1pk"] == f"SMSMSG#{message_id}"  # mark_sent indexed it
    assert outbox("MessageDelivered") == []  # an SMS waits for SNS's word
    assert counters()["A"].get("delivered", 0) == 0

    delivered = statuses(sms_record(message_id, published=NOW, destination=PHONE))
    assert receive(delivered) == {"outcomes": {"delivered_recorded": 1}}
    assert receive(delivered) == {"outcomes": {"delivered_duplicate": 1}}  # Lambda's async retry

    [event] = outbox("MessageDelivered")
    assert (event["send_id"], event["channel"], event["variant"]) == (SEND, "sms", "A")
    assert event["delivered_at"] == "2026-11-23T02:00:04.000000Z"
    stats = counters()["A"]
    assert (stats["sent"], stats["delivered"]) == (1, 1)
    assert record()["delivered_at"] == "2026-11-23T02:00:04.000000Z"
    assert PHONE not in json.dumps(all_items(TABLE), default=str)  # the log's destination is not kept


@pytest.mark.usefixtures("env")
def test_a_failed_sms_is_bounced_with_snss_reason_and_its_final_status_stays() -> None:
    message_id = send_sms()
    failure = sms_record(
        message_id,
        status="FAILURE",
        published=NOW,
        provider_response="Phone is currently unreachable/unavailable",
    )
    assert receive(statuses(failure, group=FAILED_GROUP)) == {"outcomes": {"bounced_recorded": 1}}
    item = record()
    assert (item["bounce_reason"], "delivered_at" in item) == (
        "phone_is_currently_unreachable_unavailable",
        False,
    )
    # A later contradicting status does not count twice.
    assert receive(statuses(sms_record(message_id, published=NOW))) == {
        "outcomes": {"delivered_duplicate": 1}
    }
    stats = counters()["A"]
    assert (stats.get("bounced"), stats.get("delivered", 0)) == (1, 0)
    assert outbox("MessageDelivered") == []


@pytest.mark.usefixtures("env")
def test_a_batch_of_several_sends_with_foreign_and_broken_records() -> None:
    first = send_sms()
    second_send = f"cmp#{CAMPAIGN}#{MEMBER}#2"
    clock.set_clock(lambda: NOW + timedelta(days=8))  # past the weekly frequency cap
    second = send_sms(second_send, variant="B")
    event = awslogs_event(
        [
            (sms_record(first, published=NOW), NOW + timedelta(seconds=3)),
            (sms_record("5b3a1c8e-someone-elses-sms", published=NOW), NOW + timedelta(seconds=3)),
            ("not a status record", NOW + timedelta(seconds=3)),
            (sms_record(second, published=NOW), NOW + timedelta(days=8, seconds=2)),
        ]
    )
    assert receive(event) == {
        "outcomes": {"delivered_recorded": 2, "delivered_unknown_send": 1, "unreadable": 1}
    }
    assert counters()["A"]["delivered"] == 1 and counters()["B"]["delivered"] == 1


@pytest.mark.usefixtures("env")
def test_a_control_message_or_another_log_group_writes_nothing() -> None:
    message_id = send_sms()
    before = all_items(TABLE)
    assert receive(awslogs_event([], message_type="CONTROL_MESSAGE")) == {"outcomes": {"ignored": 0}}
    other = awslogs_event([(sms_record(message_id, published=NOW), NOW)], log_group="/aws/lambda/x")
    assert receive(other) == {"outcomes": {"ignored": 1}}
    assert all_items(TABLE) == before


@pytest.mark.usefixtures("env")
def test_statuses_for_an_erased_members_sms_write_nothing() -> None:
    message_id = send_sms()
    assert record()["gsi1pk"] == f"SMSMSG#{message_id}"
    erased = MemberErased(member_id=MEMBER, erased_at=NOW + timedelta(seconds=1), requested_by="member")
    assert on_member_privacy.handler(sqs_event([contract_bus_event(erased)]), FakeContext()) == {
        "batchItemFailures": []
    }
    before = all_items(TABLE)
    # The send record, and with it its SMS index entry, went with the member.
    assert not [i for i in before if i.get("gsi1pk") == f"SMSMSG#{message_id}"]
    assert receive(statuses(sms_record(message_id, published=NOW))) == {
        "outcomes": {"delivered_unknown_send": 1}
    }
    after = all_items(TABLE)
    assert MEMBER not in json.dumps([i for i in after if i not in before], default=str)


@pytest.mark.usefixtures("env")
def test_a_write_that_fails_fails_the_invocation_after_trying_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = send_sms()
    from services.campaigns.dal.receipts import DynamoReceiptStore

    real = DynamoReceiptStore.sms_message
    calls: list[str] = []

    def flaky(self: DynamoReceiptStore, provider_message_id: str) -> Any:
        calls.append(provider_message_id)
        if provider_message_id == "throttled":
            raise RuntimeError("ProvisionedThroughputExceededException")
        return real(self, provider_message_id)

    monkeypatch.setattr(DynamoReceiptStore, "sms_message", flaky)
    event = statuses(sms_record("throttled", published=NOW), sms_record(first, published=NOW))
    with pytest.raises(on_sms_receipts.SmsReceiptsFailed):
        receive(event)
    assert calls == ["throttled", first]
    assert counters()["A"]["delivered"] == 1
    # Lambda retries the whole batch: what was recorded is a replay.
    monkeypatch.setattr(DynamoReceiptStore, "sms_message", real)
    assert receive(event) == {"outcomes": {"delivered_unknown_send": 1, "delivered_duplicate": 1}}
    assert counters()["A"]["delivered"] == 1


@pytest.mark.usefixtures("env")
def test_an_sms_sent_after_its_decision_window_is_indexed_by_the_update_too() -> None:
    """The handler above decides and sends in one pass (a created record written whole); with a
    decision window the record is held first and ``mark_sent`` is an update of it."""
    from services.campaigns.dal.channels import SnsSmsAdapter
    from services.campaigns.logic.dispatch import Dependencies, Policy, process
    from services.campaigns.logic.guardrails import Limits, QuietHours
    from services.campaigns.models.dispatch import SendRequest

    class NoOffers:
        def issue(self, request: SendRequest) -> Any:  # pragma: no cover - no offer in this request
            raise AssertionError("no offer")

    class NoWaker:
        def ensure(self, at: datetime) -> None:
            return None

    deps = Dependencies(
        store=DynamoDispatchStore(TABLE),
        channels={"sms": SnsSmsAdapter(RecordedContacts("directory"))},
        offers=NoOffers(),
        waker=NoWaker(),
    )
    policy = Policy(
        zone=clock.zone("Asia/Shanghai"),
        limits=Limits(per_day=1, per_week=3),
        quiet=QuietHours(21, 9),
        decision_window=timedelta(seconds=60),
        rate_per_minute=1000,
        max_attempts=3,
    )
    request = SendRequest.model_validate(
        {
            "send_id": SEND,
            "kind": "marketing",
            "campaign_id": CAMPAIGN,
            "variant": "A",
            "member_id": MEMBER,
            "channels": ["sms"],
            "content": {"sms": {"body": "周末全场8折"}},
            "requested_at": clock.to_utc_iso(NOW),
        }
    )
    assert process(request, deps, policy, NOW) == "held"
    assert "gsi1pk" not in record()
    assert process(request, deps, policy, NOW + timedelta(minutes=1)) == "sent"
    message_id = str(record()["provider_message_id"])
    assert record()["gsi1pk"] == f"SMSMSG#{message_id}" and record()["gsi1sk"] == "SEND"
    assert receive(statuses(sms_record(message_id, published=NOW))) == {"outcomes": {"delivered_recorded": 1}}
    assert counters()["A"]["delivered"] == 1
