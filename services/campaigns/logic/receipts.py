"""Channel delivery receipts: what a provider tells us after a message left (e-mail through SES).

SES publishes the events of a configuration set to the account's **default** EventBridge bus
(source ``aws.ses``; detail-types ``Email Delivered``, ``Email Clicked``, ``Email Bounced``,
``Email Complaint Received``, …). The ``detail`` is SES's event record: ``eventType``, ``mail``
(``messageId``, ``timestamp``, ``tags`` — every tag of the send as ``{name: [values]}``, with SES's
own ``ses:configuration-set``) and one object per type (``delivery``, ``click``, ``bounce``,
``complaint``), each with its ``timestamp``. Events are best effort and may come out of order or
twice, so every receipt is recorded once per send and kind.

The send is named by the ``send_id`` message tag the SES adapter sets (:func:`encode_tag`: tag
values may hold only ASCII letters, digits, ``_`` and ``-``, so the send id is escaped reversibly).
Nothing else travels in the tags: the send record (``SEND#<send_id>``) knows the member, the
campaign and the variant — and a record erased with its member leaves the receipt with nothing to
attach to (dropped, nothing written).

What a receipt does (:func:`apply_receipt`):

* delivered → ``delivered_at`` on the send record, ``MessageDelivered``, counter ``delivered``;
* clicked → ``clicked_at``, ``MessageClicked``, counter ``clicked`` (the first click only);
* bounced → ``bounced_at`` + ``bounce_reason`` (``permanent_general``…), counter ``bounced``;
* complained → ``complained_at`` + ``complaint_reason``, counter ``complained``,
  ``MarketingComplaintReceived`` for members (which owns consent: it records the withdrawal and
  publishes ``MemberConsentChanged``), and at once a refusal in campaigns' consent projection so
  the member's marketing e-mail stops before members' event comes back (see
  :func:`complaint_refusal` and docs/decisions.md, 2026-11-23).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from services.campaigns.logic.privacy import ConsentFact
from shared import clock
from shared.events.contracts import MarketingComplaintReceived, MessageClicked, MessageDelivered

ReceiptKind = Literal["delivered", "clicked", "bounced", "complained"]
Outcome = Literal["recorded", "duplicate", "unknown_send", "ignored"]
ReceiptEvent = MessageDelivered | MessageClicked | MarketingComplaintReceived

SES_SOURCE = "aws.ses"
SEND_ID_TAG = "send_id"
SES_DETAIL_TYPES: dict[str, ReceiptKind] = {
    "Email Delivered": "delivered",
    "Email Clicked": "clicked",
    "Email Bounced": "bounced",
    "Email Complaint Received": "complained",
}
_SES_OBJECT: dict[ReceiptKind, str] = {
    "delivered": "delivery",
    "clicked": "click",
    "bounced": "bounce",
    "complained": "complaint",
}
COUNTERS: dict[ReceiptKind, str] = {
    "delivered": "delivered",
    "clicked": "clicked",
    "bounced": "bounced",
    "complained": "complained",
}
COMPLAINT_TEXT_VERSION = "ses-complaint"
"""The consent projection's ``text_version`` of a refusal that came from a complaint, not from
members: visible in the member's data export and to whoever reads the projection."""

_TAG_SAFE = re.compile(r"[A-Za-z0-9-]")
_ESCAPE = re.compile(r"_([0-9A-F]{2})")
TAG_MAX = 256


class ReceiptError(ValueError):
    """An SES event that claims to be ours but cannot be read (fails the record: DLQ)."""


def encode_tag(value: str) -> str:
    """A send id as an SES tag value: ``[A-Za-z0-9-]`` kept, every other character (``#``, ``_``,
    ``.``) as ``_`` + two hex digits (``cmp#C1#M1`` → ``cmp_23C1_23M1``). Reversible
    (:func:`decode_tag`); raises when the result would exceed SES's 256 characters (send ids are
    ≤ ~90 characters by construction)."""
    out = []
    for char in value:
        if _TAG_SAFE.fullmatch(char):
            out.append(char)
        elif ord(char) < 128:
            out.append(f"_{ord(char):02X}")
        else:
            raise ValueError(f"send id {value!r} has a non-ASCII character")
    encoded = "".join(out)
    if len(encoded) > TAG_MAX:
        raise ValueError(f"send id too long for an SES tag ({len(encoded)} > {TAG_MAX})")
    return encoded


def decode_tag(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


@dataclass(frozen=True)
class Receipt:
    kind: ReceiptKind
    send_id: str
    channel: Literal["email"]
    at: datetime
    provider_message_id: str
    reason: str | None = None  # bounces and complaints: what the provider said, short
    feedback_id: str | None = None  # SES's id of a bounce or complaint report


def _reason(kind: ReceiptKind, body: dict[str, Any]) -> str | None:
    if kind == "bounced":
        parts = [str(body.get("bounceType") or "unknown"), str(body.get("bounceSubType") or "")]
    elif kind == "complained":
        # complaintFeedbackType (abuse, fraud, not-spam…) is present only when the mailbox provider
        # sends one; the sub-type names a complaint SES suppressed itself.
        parts = [str(body.get("complaintFeedbackType") or body.get("complaintSubType") or "complaint")]
    else:
        return None
    text = "_".join(p for p in parts if p).lower()
    return re.sub(r"[^a-z0-9_]+", "_", text)[:64]


def receipt_from_ses(detail_type: str, detail: dict[str, Any]) -> Receipt | None:
    """The receipt in one SES event from EventBridge, or None when it is not one we record (an
    event type we do not track, or a message campaigns did not send: no ``send_id`` tag)."""
    kind = SES_DETAIL_TYPES.get(detail_type)
    if kind is None:
        return None
    mail = detail.get("mail")
    if not isinstance(mail, dict):
        raise ReceiptError("SES event without mail")
    values = (mail.get("tags") or {}).get(SEND_ID_TAG)
    if not values:
        return None
    body = detail.get(_SES_OBJECT[kind])
    if not isinstance(body, dict):
        raise ReceiptError(f"SES {detail_type} without {_SES_OBJECT[kind]}")
    if kind == "complained" and str(body.get("complaintFeedbackType") or "").lower() == "not-spam":
        # A feedback report (RFC 5965) of type not-spam is the mailbox provider taking back an
        # earlier spam verdict: the member did not refuse anything, so nothing is recorded.
        return None
    try:
        at = clock.parse_iso(str(body.get("timestamp") or mail.get("timestamp")))
    except (TypeError, ValueError) as exc:
        raise ReceiptError(f"SES {detail_type} with an unreadable timestamp") from exc
    return Receipt(
        kind=kind,
        send_id=decode_tag(str(values[0])),
        channel="email",
        at=at,
        provider_message_id=str(mail.get("messageId") or ""),
        reason=_reason(kind, body),
        feedback_id=str(body["feedbackId"]) if body.get("feedbackId") else None,
    )


@dataclass(frozen=True)
class SentMessage:
    """What the send record says about the message a receipt is for."""

    send_id: str
    member_id: str
    kind: str  # marketing | transactional
    campaign_id: str | None
    variant: str | None


class ReceiptStore(Protocol):
    def sent_message(self, send_id: str) -> SentMessage | None:
        """The send record (None: never sent by us, or erased with its member)."""

    def record(
        self,
        receipt: Receipt,
        message: SentMessage,
        event: ReceiptEvent | None,
        counters: dict[str, int],
    ) -> bool:
        """One transaction: ``<kind>_at`` (+ reason) on the send record if not there yet, the
        outbox item of ``event``, the campaign's counters. False when recorded before."""


class ConsentRefusals(Protocol):
    def refuse(self, fact: ConsentFact) -> None:
        """Store the refusal in the consent projection unless a newer decision is there (or the
        member was erased)."""


def receipt_event(receipt: Receipt, message: SentMessage) -> ReceiptEvent | None:
    if receipt.kind == "delivered":
        return MessageDelivered(
            send_id=message.send_id,
            member_id=message.member_id,
            campaign_id=message.campaign_id,
            variant=message.variant,
            channel=receipt.channel,
            delivered_at=receipt.at,
        )
    if receipt.kind == "clicked":
        return MessageClicked(
            send_id=message.send_id,
            member_id=message.member_id,
            campaign_id=message.campaign_id,
            variant=message.variant,
            channel=receipt.channel,
            clicked_at=receipt.at,
        )
    if receipt.kind == "complained":
        # For members, which owns consent: published once per message (in the transaction that
        # records the complaint), so a redelivered SES event publishes nothing more.
        return MarketingComplaintReceived(
            member_id=message.member_id,
            channel=receipt.channel,
            send_id=message.send_id,
            campaign_id=message.campaign_id,
            complained_at=receipt.at,
        )
    return None


def complaint_refusal(receipt: Receipt, message: SentMessage) -> ConsentFact:
    """A complaint ("this is spam") is the member refusing our marketing e-mail. Members owns
    consent and records the withdrawal when ``MarketingComplaintReceived`` reaches it; its
    ``MemberConsentChanged`` comes back to this projection outbox → bus → queue later. The refusal
    must hold from the next send on, so it also goes into campaigns' consent projection at once, as
    a newer decision (``granted`` false for ``marketing`` / ``email`` at the complaint's time):
    dispatch reads that projection at send time (suppressed ``no_consent``) and the next audience
    snapshot leaves the member out of e-mail audiences. Members' event agrees with it (withdrawn,
    same ``changed_at``); a later grant the member makes in members (a newer ``changed_at``)
    replaces both, as the member's own decision should."""
    return ConsentFact(
        member_id=message.member_id,
        purpose="marketing",
        channel="email",
        granted=False,
        changed_at=receipt.at,
        text_version=COMPLAINT_TEXT_VERSION,
        event_id=f"ses-complaint-{receipt.feedback_id or receipt.provider_message_id}",
    )


def apply_receipt(receipt: Receipt, store: ReceiptStore, refusals: ConsentRefusals) -> Outcome:
    message = store.sent_message(receipt.send_id)
    if message is None:
        return "unknown_send"
    if receipt.kind == "complained":
        # First, and on every redelivery: the refusal is idempotent, and it must not depend on
        # the receipt's own bookkeeping having succeeded.
        refusals.refuse(complaint_refusal(receipt, message))
    counters = {COUNTERS[receipt.kind]: 1}
    recorded = store.record(receipt, message, receipt_event(receipt, message), counters)
    return "recorded" if recorded else "duplicate"
