"""Members' two local fake senders record alike through one helper (dal/local_outbox.py): a fake
provider id per channel, their own ``sent`` list (what tests read), and one entry on the
``mallcrm.local_outbox`` logger with the same fields (docs/contracts/outbox.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.members.dal.email import SUBJECT, FakeVerificationMail
from services.members.dal.local_outbox import OUTBOX_LOGGER
from services.members.dal.sms import FakeSmsSender
from shared import clock

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    FakeSmsSender.sent.clear()
    FakeVerificationMail.sent.clear()
    clock.set_clock(lambda: AT)
    yield
    clock.set_clock(None)
    FakeSmsSender.sent.clear()
    FakeVerificationMail.sent.clear()


def entries(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.outbox for r in caplog.records if r.name == OUTBOX_LOGGER]  # type: ignore[attr-defined]


def test_both_fakes_record_the_same_entry_shape_and_keep_their_own_lists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=OUTBOX_LOGGER):
        sms_id = FakeSmsSender().send_code("+8613900001111", "123456")
        mail_id = FakeVerificationMail().send_code("li@example.com", "654321")

    sms_entry, mail_entry = entries(caplog)
    assert sms_entry == {
        "service": "members",
        "adapter": "FakeSmsSender",
        "channel": "sms",
        "to": "+8613900001111",
        "kind": "verification_code",
        "title": None,
        "body": FakeSmsSender.sent[0].text,
        "provider_message_id": sms_id,
    }
    assert mail_entry == {
        "service": "members",
        "adapter": "FakeVerificationMail",
        "channel": "email",
        "to": "li@example.com",
        "kind": "verification_code",
        "title": SUBJECT,
        "body": FakeVerificationMail.sent[0].text,
        "provider_message_id": mail_id,
    }
    assert sms_id.startswith("fake-sms-") and mail_id.startswith("fake-email-")
    [sms] = FakeSmsSender.sent
    [mail] = FakeVerificationMail.sent
    assert (sms.to, sms.params, sms.sent_at) == ("+8613900001111", {"code": "123456"}, AT)
    assert sms.message_id == sms_id
    assert (mail.to, mail.subject, mail.sent_at, mail.message_id) == ("li@example.com", SUBJECT, AT, mail_id)
    assert "123456" in sms.text and "654321" in mail.text


def test_every_message_gets_its_own_id() -> None:
    ids = {FakeSmsSender().send_code("+8613900001111", "123456") for _ in range(3)}
    assert len(ids) == 3 and len(FakeSmsSender.sent) == 3 and FakeVerificationMail.sent == []
