"""SMS receipts, pure: the CloudWatch Logs subscription payload (base64 of gzip), SNS's SMS delivery
status records → statuses, and what a status records through the receipts' once-per-send path
(a fake store). What the handler module loads at cold start."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.campaigns.dal import dispatch as dispatch_dal
from services.campaigns.dal import receipts as receipts_dal
from services.campaigns.logic.receipts import (
    AWSLOGS_MAX_BYTES,
    Receipt,
    ReceiptError,
    SentMessage,
    SmsStatus,
    apply_sms_status,
    is_sms_log_group,
    read_awslogs,
    sms_status,
    stamps_that_exclude,
)
from shared.events.contracts import MessageDelivered
from tests.unit.campaigns.sns_sms_logs import DELIVERED_GROUP, FAILED_GROUP, awslogs_event, sms_record

ROOT = Path(__file__).resolve().parents[3]
SEND = "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX"
MESSAGE_ID = "34d9b400-c6dd-5444-820d-fbeb0f1f54cf"
PUBLISHED = datetime(2026, 11, 23, 2, 0, 0, 558_000, tzinfo=UTC)
LOGGED = datetime(2026, 11, 23, 2, 0, 2, 250_000, tzinfo=UTC)

# AWS's own sample of a CloudWatch Logs subscription event (the Lambda console's "cloudwatch-logs"
# test event, also quoted in Powertools' CloudWatchLogsEvent schema): not built by our helper.
AWS_SAMPLE = (
    "H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0bLYmibvPPN3wz00CJxmQnTO41whwWQRIctmEcB6s"
    "QbFC3CjW3XW8kxpOpP+OC22d1Wml1qZkQGtoMsScxaczKN3plG8zlaHIta5KqWsozoTYw3/djzwhpLwivWFGHGpAFe7DL68JlBU"
    "k+l7KSN7tCOEJ4M3/qOI49vMHj+zCKdlFqLaU2ZHV2a4Ct/an0/ivdX8oYc1UVX860fQDQiMdxRQEAAA=="
)


# --- the subscription payload -------------------------------------------------------------------


def test_aws_sample_subscription_event_is_read() -> None:
    batch = read_awslogs({"awslogs": {"data": AWS_SAMPLE}})
    assert (batch.message_type, batch.log_group) == ("DATA_MESSAGE", "testLogGroup")
    assert [(e.id, e.timestamp_ms, e.message) for e in batch.events] == [
        ("eventId1", 1440442987000, "[ERROR] First test message"),
        ("eventId2", 1440442987001, "[ERROR] Second test message"),
    ]
    assert not is_sms_log_group(batch.log_group)


def test_an_sms_batch_is_read_with_its_records() -> None:
    record = sms_record(MESSAGE_ID, published=PUBLISHED)
    batch = read_awslogs(awslogs_event([(record, LOGGED)], log_group=FAILED_GROUP))
    assert batch.log_group == FAILED_GROUP and is_sms_log_group(batch.log_group)
    [event] = batch.events
    assert json.loads(event.message) == record
    assert event.timestamp_ms == int(LOGGED.timestamp() * 1000)


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        (DELIVERED_GROUP, True),
        (FAILED_GROUP, True),
        ("sns/eu-west-1/210987654321/DirectPublishToPhoneNumber/Failure", True),
        ("sns/us-east-1/123456789012/DirectPublishToPhoneNumber/Other", False),
        ("sns/us-east-1/123456789012/my-topic", False),  # a topic's delivery status logs
        ("/aws/lambda/DirectPublishToPhoneNumber", False),
        ("DirectPublishToPhoneNumber", False),
    ],
)
def test_only_snss_two_sms_log_groups_are_sms_statuses(name: str, ours: bool) -> None:
    assert is_sms_log_group(name) is ours


def _gzip_b64(raw: bytes) -> str:
    return base64.b64encode(gzip.compress(raw)).decode()


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},  # an SQS event sent to the wrong function
        {"awslogs": {}},
        {"awslogs": {"data": "not base64!"}},
        {"awslogs": {"data": base64.b64encode(b'{"messageType": "DATA_MESSAGE"}').decode()}},  # not gzip
        {"awslogs": {"data": _gzip_b64(b"not json")}},
        {"awslogs": {"data": _gzip_b64(b"[1, 2]")}},
        {"awslogs": {"data": _gzip_b64(b'{"logEvents": [{"id": "1", "message": "x"}]}')}},  # no timestamp
    ],
)
def test_a_payload_that_is_not_a_subscription_batch_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(ReceiptError):
        read_awslogs(event)


def test_a_payload_that_inflates_beyond_a_lambda_event_is_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b" " * (AWSLOGS_MAX_BYTES * 4))
    with pytest.raises(ReceiptError, match="inflates"):
        read_awslogs({"awslogs": {"data": base64.b64encode(bomb).decode()}})


def test_a_control_message_is_read_as_such() -> None:
    batch = read_awslogs(awslogs_event([], message_type="CONTROL_MESSAGE"))
    assert batch.message_type == "CONTROL_MESSAGE" and batch.events == ()


# --- the status records -------------------------------------------------------------------------


def _status(record: dict[str, Any] | str, log_group: str = DELIVERED_GROUP) -> SmsStatus | None:
    [event] = read_awslogs(awslogs_event([(record, LOGGED)], log_group=log_group)).events
    return sms_status(event)


def test_a_success_record_is_delivered_at_the_time_sns_logged_it() -> None:
    status = _status(sms_record(MESSAGE_ID, published=PUBLISHED))
    assert status == SmsStatus(message_id=MESSAGE_ID, kind="delivered", at=LOGGED, reason=None)


def test_a_failure_record_is_bounced_with_the_providers_response_as_a_short_token() -> None:
    record = sms_record(MESSAGE_ID, status="FAILURE", published=PUBLISHED)
    status = _status(record, FAILED_GROUP)
    assert status == SmsStatus(
        message_id=MESSAGE_ID, kind="bounced", at=LOGGED, reason="unknown_error_attempting_to_reach_phone"
    )
    blocked = sms_record(
        MESSAGE_ID,
        status="FAILURE",
        published=PUBLISHED,
        provider_response="Phone carrier has blocked this message",
    )
    assert _status(blocked, FAILED_GROUP).reason == "phone_carrier_has_blocked_this_message"  # type: ignore[union-attr]
    long = sms_record(MESSAGE_ID, status="FAILURE", published=PUBLISHED, provider_response="x" * 300)
    assert len(_status(long, FAILED_GROUP).reason or "") == 64  # type: ignore[union-attr]


def test_the_phone_number_is_not_kept() -> None:
    status = _status(
        sms_record(MESSAGE_ID, status="FAILURE", published=PUBLISHED, destination="+8613912345678")
    )
    assert "13912345678" not in repr(status)


def test_a_status_we_do_not_record_is_ignored_and_a_broken_record_refused() -> None:
    assert _status({**sms_record(MESSAGE_ID, published=PUBLISHED), "status": "PENDING"}) is None
    with pytest.raises(ReceiptError, match="messageId"):
        _status({"status": "SUCCESS", "delivery": {}})
    with pytest.raises(ReceiptError, match="not JSON"):
        _status("[ERROR] First test message")


# --- applying a status ----------------------------------------------------------------------------


class Store:
    """The SMS index and the send record's once-per-send stamps, in memory."""

    def __init__(self, *messages: tuple[str, SentMessage]) -> None:
        self.by_provider_id = dict(messages)
        self.stamps: dict[str, set[str]] = {}
        self.events: list[Any] = []
        self.counters: dict[str, int] = {}

    def sms_message(self, provider_message_id: str) -> SentMessage | None:
        return self.by_provider_id.get(provider_message_id)

    def sent_message(self, send_id: str) -> SentMessage | None:  # pragma: no cover - e-mail only
        raise AssertionError("an SMS status finds its send through the SMS index")

    def record(self, receipt: Receipt, message: SentMessage, event: Any, counters: dict[str, int]) -> bool:
        stamps = self.stamps.setdefault(message.send_id, set())
        if stamps & set(stamps_that_exclude(receipt)):
            return False
        stamps.add(f"{receipt.kind}_at")
        if event is not None:
            self.events.append(event)
        for name, n in counters.items():
            self.counters[name] = self.counters.get(name, 0) + n
        return True


SENT = SentMessage(
    send_id=SEND, member_id="01HX9ZK3M5N7P9Q1R3S5T7V9WX", kind="marketing", campaign_id="C", variant="A"
)


def test_a_delivered_sms_is_recorded_once_with_its_event_and_counter() -> None:
    store = Store((MESSAGE_ID, SENT))
    status = SmsStatus(message_id=MESSAGE_ID, kind="delivered", at=LOGGED, reason=None)
    assert apply_sms_status(status, store) == "recorded"
    assert apply_sms_status(status, store) == "duplicate"  # CloudWatch Logs / Lambda redeliver
    assert store.counters == {"delivered": 1}
    [event] = store.events
    assert isinstance(event, MessageDelivered)
    assert (event.send_id, event.channel, event.delivered_at, event.variant) == (SEND, "sms", LOGGED, "A")


def test_an_sms_has_one_final_status_the_first_recorded() -> None:
    store = Store((MESSAGE_ID, SENT))
    failed = SmsStatus(message_id=MESSAGE_ID, kind="bounced", at=LOGGED, reason="unknown_error")
    assert apply_sms_status(failed, store) == "recorded"
    later = SmsStatus(message_id=MESSAGE_ID, kind="delivered", at=LOGGED, reason=None)
    assert apply_sms_status(later, store) == "duplicate"
    assert store.counters == {"bounced": 1} and store.events == []


def test_a_status_for_a_message_we_did_not_send_or_no_longer_hold_writes_nothing() -> None:
    store = Store()
    status = SmsStatus(message_id="someone-elses", kind="delivered", at=LOGGED, reason=None)
    assert apply_sms_status(status, store) == "unknown_send"
    assert store.counters == {} and store.stamps == {}


def test_email_receipts_stay_once_per_kind() -> None:
    email = Receipt(kind="clicked", send_id=SEND, channel="email", at=LOGGED, provider_message_id="m")
    assert stamps_that_exclude(email) == ("clicked_at",)
    sms = Receipt(kind="delivered", send_id=SEND, channel="sms", at=LOGGED, provider_message_id="m")
    assert stamps_that_exclude(sms) == ("delivered_at", "bounced_at")


def test_the_receipts_send_key_is_dispatchs() -> None:
    assert receipts_dal.send_key(SEND) == dispatch_dal.send_key(SEND)


# --- cold import -----------------------------------------------------------------------------------


def _imported_by(module: str) -> set[str]:
    code = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


DISPATCH_MODULES = (
    "services.campaigns.dal.dispatch",
    "services.campaigns.logic.dispatch",
    "services.campaigns.logic.guardrails",
    "services.campaigns.models.dispatch",
)


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("services.campaigns.handlers.on_channel_receipts", DISPATCH_MODULES),
        (
            "services.campaigns.handlers.on_sms_receipts",
            (*DISPATCH_MODULES, "services.campaigns.dal.privacy", "shared.secrets"),
        ),
    ],
)
def test_the_receipt_handlers_do_not_load_dispatchs_store_at_import(
    module: str, absent: tuple[str, ...]
) -> None:
    loaded = _imported_by(module)
    assert module in loaded
    assert [m for m in absent if m in loaded] == []
    assert "boto3" not in loaded
