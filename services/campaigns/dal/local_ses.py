"""Local stand-in for SES's event publishing (moto's SES sends nothing and publishes no events).

In AWS, SES itself puts an event on the account's default EventBridge bus for every delivery,
click, bounce and complaint of a message sent with campaigns' configuration set. Locally the e-mail
fake (:class:`~services.campaigns.dal.channels.LocalOutboxAdapter`) records the message in the
outbox instead, and :class:`LocalSesEventSimulator` lets a person or a test say what happened to it
next: it posts the event SES would publish, shaped as the SES developer guide documents its event
records (``eventType``, ``mail`` with ``messageId``, ``timestamp`` and ``tags`` — SES's own
``ses:configuration-set`` and the send's ``send_id`` — and one object per event type), to the
default bus, where the same rule as in AWS routes it to the receipt consumer.

Never used outside the local cloud and tests: nothing in a deployed function imports it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from services.campaigns.logic.receipts import SEND_ID_TAG, SES_SOURCE, encode_tag

SimulatedKind = Literal["delivered", "clicked", "bounced", "complained"]

DETAIL_TYPES: dict[SimulatedKind, str] = {
    "delivered": "Email Delivered",
    "clicked": "Email Clicked",
    "bounced": "Email Bounced",
    "complained": "Email Complaint Received",
}


def _ms(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def ses_event_detail(
    kind: SimulatedKind,
    *,
    send_id: str,
    message_id: str,
    configuration_set: str,
    sent_at: datetime,
    at: datetime,
    link: str = "https://mall.example/promo",
    feedback_id: str = "local-feedback-0001",
) -> dict[str, Any]:
    """The ``detail`` of one SES event as EventBridge delivers it (no e-mail addresses: the
    simulator never knows one, and the consumer never reads them)."""
    mail = {
        "timestamp": _ms(sent_at),
        "source": "news@mall.example",
        "sendingAccountId": "000000000000",
        "messageId": message_id,
        "destination": ["member@example.invalid"],
        "headersTruncated": False,
        "tags": {
            "ses:configuration-set": [configuration_set],
            "ses:source-ip": ["127.0.0.1"],
            "ses:from-domain": ["mall.example"],
            SEND_ID_TAG: [encode_tag(send_id)],
        },
    }
    record: dict[str, Any] = {"mail": mail}
    if kind == "delivered":
        record["eventType"] = "Delivery"
        record["delivery"] = {
            "timestamp": _ms(at),
            "processingTimeMillis": 1200,
            "recipients": ["member@example.invalid"],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        }
    elif kind == "clicked":
        record["eventType"] = "Click"
        record["click"] = {
            "timestamp": _ms(at),
            "ipAddress": "192.0.2.1",
            "userAgent": "Mozilla/5.0",
            "link": link,
            "linkTags": {},
        }
    elif kind == "bounced":
        record["eventType"] = "Bounce"
        record["bounce"] = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "member@example.invalid", "action": "failed"}],
            "timestamp": _ms(at),
            "feedbackId": feedback_id,
        }
    else:
        record["eventType"] = "Complaint"
        record["complaint"] = {
            "complainedRecipients": [{"emailAddress": "member@example.invalid"}],
            "timestamp": _ms(at),
            "feedbackId": feedback_id,
            "complaintFeedbackType": "abuse",
        }
    return record


def ses_eventbridge_event(kind: SimulatedKind, detail: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The whole event as a rule's target receives it."""
    return {
        "version": "0",
        "id": f"local-ses-{kind}-{detail['mail']['messageId']}",
        "detail-type": DETAIL_TYPES[kind],
        "source": SES_SOURCE,
        "account": "000000000000",
        "time": _ms(at).split(".")[0] + "Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


class LocalSesEventSimulator:
    """Posts SES-shaped events for messages the local e-mail fake recorded (local cloud only)."""

    def __init__(self, events_client: Any, configuration_set: str) -> None:
        self.events = events_client
        self.configuration_set = configuration_set

    def post(
        self, kind: SimulatedKind, *, send_id: str, message_id: str, sent_at: datetime, at: datetime
    ) -> None:
        detail = ses_event_detail(
            kind,
            send_id=send_id,
            message_id=message_id,
            configuration_set=self.configuration_set,
            sent_at=sent_at,
            at=at,
            feedback_id=f"local-{kind}-{message_id}",
        )
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": SES_SOURCE,
                    "DetailType": DETAIL_TYPES[kind],
                    "Detail": json.dumps(detail),
                    "Time": at,
                    "EventBusName": "default",
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"the local bus refused the simulated SES event: {answer}")
