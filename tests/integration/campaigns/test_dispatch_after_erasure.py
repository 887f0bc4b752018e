"""A send request queued before its member's erasure — a launch page in flight, a journey step, a
deferral released from the due index — reaches dispatch after the erasure cleaned campaigns'
table. Dispatch drops it without a send record, an outbox event or a contact that would name the
member again (logic/recent_erasures.split_erased), and sends the rest of the batch as usual."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.campaigns.dal.recent_erasures import recent_erasure_item
from services.campaigns.handlers import dispatch
from services.campaigns.logic.privacy import pseudonym
from shared import clock
from shared.dynamo import to_item
from tests.integration.helpers import ACCOUNT, REGION, FakeContext, all_items, aws, create_table, sqs_event

TABLE = "mallcrm-test-campaigns"
ERASED = "01HX9ZK3M5N7P9Q1R3S5T7V9WA"
KEPT = "01HX9ZK3M5N7P9Q1R3S5T7V9WB"
KEY = "k" * 64
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    create_table(TABLE)
    url = aws("sqs").create_queue(QueueName="mallcrm-test-campaigns-dispatch")["QueueUrl"]
    secret = aws("secretsmanager").create_secret(Name="campaigns-pseudonym-key", SecretString=KEY)["ARN"]
    for name, value in {
        "SERVICE_NAME": "campaigns",
        "POWERTOOLS_SERVICE_NAME": "campaigns",
        "TABLE_NAME": TABLE,
        "DISPATCH_QUEUE_URL": url,
        "DUE_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:due",
        "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/due",
        "CHANNEL_MODE": "local",
        "DECISION_WINDOW_SECONDS": "0",
        "PSEUDONYM_KEY_SECRET_ARN": secret,
    }.items():
        monkeypatch.setenv(name, value)
    clock.set_clock(lambda: NOW)
    for member in (ERASED, KEPT):  # the erased member's consent was there when the page was queued
        aws("dynamodb").put_item(
            TableName=TABLE,
            Item=to_item(
                {"pk": f"MEMBER#{member}", "sk": "CONSENT#marketing#sms", "purpose": "marketing",
                 "channel": "sms", "granted": True}
            ),
        )  # fmt: skip
    yield
    clock.set_clock(None)


def request(member: str) -> str:
    return json.dumps(
        {
            "send_id": f"ntf#ticket-1#{member}",
            "kind": "transactional",
            "member_id": member,
            "channels": ["sms"],
            "content": {"sms": {"body": "your ticket was answered"}},
            "requested_at": clock.to_utc_iso(NOW),
        }
    )


def mentions(member: str) -> list[dict[str, object]]:
    return [i for i in all_items(TABLE) if member in json.dumps(i, default=str)]


@pytest.mark.usefixtures("env")
def test_a_request_for_a_member_erased_after_it_was_queued_leaves_no_trace() -> None:
    # The erasure: the member's items are gone, the recent-erasures set holds the pseudonym.
    aws("dynamodb").delete_item(
        TableName=TABLE, Key=to_item({"pk": f"MEMBER#{ERASED}", "sk": "CONSENT#marketing#sms"})
    )
    aws("dynamodb").put_item(
        TableName=TABLE, Item=to_item(recent_erasure_item(pseudonym(KEY.encode(), ERASED), NOW))
    )
    result = dispatch.handler(sqs_event([request(ERASED), request(KEPT)]), FakeContext())
    assert result == {"batchItemFailures": []}  # the erased member's message is acknowledged
    assert mentions(ERASED) == []
    sent = [i for i in all_items(TABLE) if i["pk"] == f"SEND#ntf#ticket-1#{KEPT}"]
    assert [i["status"] for i in sent] == ["sent"]


@pytest.mark.usefixtures("env")
def test_without_recent_erasures_the_key_is_not_even_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PSEUDONYM_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"
    )
    result = dispatch.handler(sqs_event([request(KEPT)]), FakeContext())
    assert result == {"batchItemFailures": []}
    assert [i["status"] for i in all_items(TABLE) if i["pk"].startswith("SEND#")] == ["sent"]
