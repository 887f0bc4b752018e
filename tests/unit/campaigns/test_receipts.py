"""Channel receipts, pure: SES's EventBridge events → receipts, the send-id tag, and what each
receipt records (fakes for the store and the consent projection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.dal.local_ses import ses_event_detail
from services.campaigns.logic.privacy import ConsentFact
from services.campaigns.logic.receipts import (
    COMPLAINT_TEXT_VERSION,
    Receipt,
    ReceiptError,
    SentMessage,
    apply_receipt,
    decode_tag,
    encode_tag,
    receipt_from_ses,
)
from shared.events.contracts import MarketingComplaintReceived, MessageClicked, MessageDelivered

SEND = "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX"
JOURNEY_SEND = "jrn#churn_warning#01HX9ZK3M5N7P9Q1R3S5T7V9WX"
SENT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
AT = datetime(2026, 11, 23, 2, 0, 3, 250_000, tzinfo=UTC)


def detail(kind: Any, send_id: str = SEND) -> dict[str, Any]:
    return ses_event_detail(
        kind, send_id=send_id, message_id="0100-abc", configuration_set="mallcrm-test", sent_at=SENT, at=AT
    )


def test_the_send_id_tag_uses_only_the_characters_ses_allows_and_comes_back_exactly() -> None:
    for send_id in (SEND, JOURNEY_SEND, "ntf#a_23b", "cmp#c#m#2026-11-23"):
        tag = encode_tag(send_id)
        assert all(c.isascii() and (c.isalnum() or c in "_-") for c in tag), tag
        assert decode_tag(tag) == send_id
    assert encode_tag(SEND) == "cmp_2301HZ5555555555555555555555_2301HX9ZK3M5N7P9Q1R3S5T7V9WX"
    # "_" is escaped too, so "a_23" and "a#" cannot be confused
    assert encode_tag("a_23") != encode_tag("a#") and decode_tag(encode_tag("a_23")) == "a_23"


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80))
def test_any_ascii_send_id_round_trips(send_id: str) -> None:
    assert decode_tag(encode_tag(send_id)) == send_id


def test_a_tag_too_long_or_not_ascii_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode_tag("#" * 90)  # 270 characters once escaped
    with pytest.raises(ValueError, match="non-ASCII"):
        encode_tag("cmp#周末")


@pytest.mark.parametrize(
    ("kind", "detail_type", "reason"),
    [
        ("delivered", "Email Delivered", None),
        ("clicked", "Email Clicked", None),
        ("bounced", "Email Bounced", "permanent_general"),
        ("complained", "Email Complaint Received", "abuse"),
    ],
)
def test_each_ses_event_becomes_its_receipt(kind: Any, detail_type: str, reason: str | None) -> None:
    receipt = receipt_from_ses(detail_type, detail(kind))
    assert receipt == Receipt(
        kind=kind,
        send_id=SEND,
        channel="email",
        at=AT.replace(microsecond=250_000),
        provider_message_id="0100-abc",
        reason=reason,
        feedback_id="local-feedback-0001" if kind in {"bounced", "complained"} else None,
    )


def test_events_we_do_not_track_or_did_not_send_are_ignored_and_broken_ones_refused() -> None:
    assert receipt_from_ses("Email Opened", detail("delivered")) is None
    untagged = detail("delivered")
    del untagged["mail"]["tags"]["send_id"]  # members' verification mail, say
    assert receipt_from_ses("Email Delivered", untagged) is None
    with pytest.raises(ReceiptError):
        receipt_from_ses("Email Delivered", {"eventType": "Delivery"})
    broken = detail("clicked")
    del broken["click"]
    with pytest.raises(ReceiptError):
        receipt_from_ses("Email Clicked", broken)
    broken = detail("delivered")
    broken["delivery"]["timestamp"] = "yesterday"
    with pytest.raises(ReceiptError):
        receipt_from_ses("Email Delivered", broken)


class Store:
    def __init__(self, message: SentMessage | None) -> None:
        self.message = message
        self.recorded: dict[tuple[str, str], tuple[Any, dict[str, int]]] = {}

    def sent_message(self, send_id: str) -> SentMessage | None:
        return self.message

    def record(self, receipt: Receipt, message: SentMessage, event: Any, counters: dict[str, int]) -> bool:
        key = (receipt.send_id, receipt.kind)
        if key in self.recorded:
            return False
        self.recorded[key] = (event, counters)
        return True


class Refusals:
    def __init__(self) -> None:
        self.facts: list[ConsentFact] = []

    def refuse(self, fact: ConsentFact) -> None:
        self.facts.append(fact)


MESSAGE = SentMessage(SEND, "01HX9ZK3M5N7P9Q1R3S5T7V9WX", "marketing", "01HZ5555555555555555555555", "A")


def receipt(kind: Any) -> Receipt:
    found = receipt_from_ses(
        {
            "delivered": "Email Delivered",
            "clicked": "Email Clicked",
            "bounced": "Email Bounced",
            "complained": "Email Complaint Received",
        }[kind],
        detail(kind),
    )
    assert found is not None
    return found


def test_a_delivery_and_a_click_are_recorded_once_with_their_events_and_counters() -> None:
    store, refusals = Store(MESSAGE), Refusals()
    assert apply_receipt(receipt("delivered"), store, refusals) == "recorded"
    assert apply_receipt(receipt("delivered"), store, refusals) == "duplicate"
    assert apply_receipt(receipt("clicked"), store, refusals) == "recorded"
    delivered, counters = store.recorded[(SEND, "delivered")]
    assert isinstance(delivered, MessageDelivered) and counters == {"delivered": 1}
    assert (delivered.channel, delivered.variant, delivered.delivered_at) == ("email", "A", AT)
    clicked, counters = store.recorded[(SEND, "clicked")]
    assert isinstance(clicked, MessageClicked) and counters == {"clicked": 1}
    assert clicked.member_id == MESSAGE.member_id and clicked.campaign_id == MESSAGE.campaign_id
    assert refusals.facts == []


def test_a_bounce_has_a_counter_and_no_event() -> None:
    store = Store(MESSAGE)
    assert apply_receipt(receipt("bounced"), store, Refusals()) == "recorded"
    assert store.recorded[(SEND, "bounced")] == (None, {"bounced": 1})


def test_a_complaint_refuses_marketing_email_every_time_it_is_seen() -> None:
    store, refusals = Store(MESSAGE), Refusals()
    assert apply_receipt(receipt("complained"), store, refusals) == "recorded"
    assert apply_receipt(receipt("complained"), store, refusals) == "duplicate"
    # members, which owns consent, is told once (the event rides on the receipt's own record)
    complained, counters = store.recorded[(SEND, "complained")]
    assert counters == {"complained": 1}
    assert complained == MarketingComplaintReceived(
        member_id=MESSAGE.member_id,
        channel="email",
        send_id=SEND,
        campaign_id=MESSAGE.campaign_id,
        complained_at=AT,
    )
    fact = refusals.facts[0]
    assert (fact.member_id, fact.purpose, fact.channel, fact.granted) == (
        MESSAGE.member_id,
        "marketing",
        "email",
        False,
    )
    assert (fact.changed_at, fact.text_version) == (AT, COMPLAINT_TEXT_VERSION)
    assert refusals.facts == [fact, fact]  # a redelivery repeats the same (idempotent) refusal


def test_a_complaint_about_a_journey_message_names_no_campaign() -> None:
    message = SentMessage(JOURNEY_SEND, MESSAGE.member_id, "marketing", None, None)
    store = Store(message)
    found = receipt_from_ses("Email Complaint Received", detail("complained", JOURNEY_SEND))
    assert found is not None and apply_receipt(found, store, Refusals()) == "recorded"
    complained, _ = store.recorded[(JOURNEY_SEND, "complained")]
    assert isinstance(complained, MarketingComplaintReceived)
    assert (complained.send_id, complained.campaign_id) == (JOURNEY_SEND, None)


def test_a_receipt_for_a_send_we_no_longer_hold_writes_nothing() -> None:
    store, refusals = Store(None), Refusals()
    assert apply_receipt(receipt("complained"), store, refusals) == "unknown_send"
    assert store.recorded == {} and refusals.facts == []


def test_a_not_spam_feedback_report_is_no_complaint() -> None:
    # RFC 5965 feedback type "not-spam": the mailbox provider takes back an earlier spam verdict.
    event = detail("complained")
    event["complaint"]["complaintFeedbackType"] = "not-spam"
    assert receipt_from_ses("Email Complaint Received", event) is None
    event["complaint"]["complaintFeedbackType"] = "abuse"
    assert receipt_from_ses("Email Complaint Received", event) is not None
