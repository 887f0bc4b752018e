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

**SMS (Amazon SNS).** SNS reports the final status of an SMS sent with ``Publish(PhoneNumber=…)``
only as a CloudWatch Logs record, when the account's SMS attributes ``DeliveryStatusIAMRole`` /
``DeliveryStatusSuccessSamplingRate`` are set: successes in ``sns/<region>/<account>/
DirectPublishToPhoneNumber``, failures in ``…/DirectPublishToPhoneNumber/Failure``. A record is
JSON: ``notification`` (``messageId`` — the ``MessageId`` Publish returned —, ``timestamp``),
``delivery`` (``destination`` — the phone number, never read here —, ``providerResponse``,
``dwellTimeMs``, ``priceInUSD``, …) and ``status`` (``SUCCESS`` | ``FAILURE``). A subscription
filter hands them to a function as ``{"awslogs": {"data": <base64 of gzip of JSON>}}`` whose JSON
holds ``messageType`` (``DATA_MESSAGE``; ``CONTROL_MESSAGE`` only checks the destination is
reachable), ``logGroup`` and ``logEvents`` (``id``, ``timestamp`` in epoch milliseconds,
``message`` = the record). :func:`read_awslogs` and :func:`sms_status` read them;
:func:`apply_sms_status` finds the send by the SNS message id (no tag travels with an SMS) and
records it through the same once-per-send path as e-mail:

* ``SUCCESS`` → delivered (``delivered_at``, ``MessageDelivered``, counter ``delivered``);
* ``FAILURE`` → bounced (``bounced_at`` + ``bounce_reason`` = SNS's ``providerResponse`` as a short
  token, counter ``bounced``): accepted by the provider, refused on the way to the phone — what a
  bounce is for e-mail. An SMS has one final status: the first one recorded wins.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
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
    channel: Literal["email", "sms", "wechat"]
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
    return record_receipt(receipt, message, store)


def record_receipt(receipt: Receipt, message: SentMessage, store: ReceiptStore) -> Outcome:
    """The receipt's stamp, event and counter, once per send (``duplicate`` on a replay)."""
    counters = {COUNTERS[receipt.kind]: 1}
    recorded = store.record(receipt, message, receipt_event(receipt, message), counters)
    return "recorded" if recorded else "duplicate"


# --- SMS: SNS delivery status logs through a CloudWatch Logs subscription -------------------------

SNS_SMS_LOG_GROUP = "DirectPublishToPhoneNumber"
"""The last part of the success log group's name (``sns/<region>/<account>/…``); failures go to
``…/DirectPublishToPhoneNumber/Failure``."""
SMS_STATUSES: dict[str, ReceiptKind] = {"SUCCESS": "delivered", "FAILURE": "bounced"}
SMS_FINAL_KINDS: tuple[ReceiptKind, ...] = ("delivered", "bounced")
"""An SMS has one final status: a receipt of either kind is recorded only while neither is."""
AWSLOGS_MAX_BYTES = 6 * 1024 * 1024
"""A decompressed subscription payload larger than a Lambda event could ever carry (6 MB) is not
one CloudWatch Logs sent: refuse it rather than inflate it."""


@dataclass(frozen=True)
class LogEvent:
    id: str
    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class LogBatch:
    message_type: str  # DATA_MESSAGE | CONTROL_MESSAGE
    log_group: str
    events: tuple[LogEvent, ...]


@dataclass(frozen=True)
class SmsStatus:
    """One SNS SMS delivery status record (the phone number in it is not kept)."""

    message_id: str
    kind: ReceiptKind  # delivered | bounced
    at: datetime  # the log event's time: when SNS logged the final status
    reason: str | None  # failures: SNS's providerResponse, as a short token


def read_awslogs(event: dict[str, Any]) -> LogBatch:
    """The payload a CloudWatch Logs subscription filter invokes a function with:
    ``{"awslogs": {"data": base64(gzip(JSON))}}``. Raises :class:`ReceiptError` when it is not one."""
    data = (event.get("awslogs") or {}).get("data") if isinstance(event, dict) else None
    if not isinstance(data, str) or not data:
        raise ReceiptError("not a CloudWatch Logs subscription event (no awslogs.data)")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
        raw = inflater.decompress(base64.b64decode(data, validate=True), AWSLOGS_MAX_BYTES + 1)
    except (binascii.Error, zlib.error) as exc:
        raise ReceiptError("awslogs.data is not base64 of gzip") from exc
    if len(raw) > AWSLOGS_MAX_BYTES:
        raise ReceiptError("awslogs.data inflates beyond a Lambda payload")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ReceiptError("awslogs.data is not JSON") from exc
    if not isinstance(body, dict):
        raise ReceiptError("awslogs.data is not a JSON object")
    events = []
    for item in body.get("logEvents") or []:
        if not isinstance(item, dict):
            raise ReceiptError("a log event is not an object")
        try:
            events.append(LogEvent(str(item.get("id") or ""), int(item["timestamp"]), str(item["message"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReceiptError("a log event without timestamp or message") from exc
    return LogBatch(
        message_type=str(body.get("messageType") or ""),
        log_group=str(body.get("logGroup") or ""),
        events=tuple(events),
    )


def is_sms_log_group(name: str) -> bool:
    """``sns/<region>/<account>/DirectPublishToPhoneNumber`` or ``…/Failure``."""
    parts = name.split("/")
    return (
        len(parts) in {4, 5}
        and parts[0] == "sns"
        and parts[3] == SNS_SMS_LOG_GROUP
        and (len(parts) == 4 or parts[4] == "Failure")
    )


def _token(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64] or "unknown"


def sms_status(event: LogEvent) -> SmsStatus | None:
    """The status in one SNS SMS delivery log record, or None for a status we do not record.
    Raises :class:`ReceiptError` for a record that is not one (no message id, not JSON)."""
    try:
        record = json.loads(event.message)
    except ValueError as exc:
        raise ReceiptError("SMS delivery log record is not JSON") from exc
    if not isinstance(record, dict):
        raise ReceiptError("SMS delivery log record is not a JSON object")
    notification = record.get("notification")
    message_id = notification.get("messageId") if isinstance(notification, dict) else None
    if not isinstance(message_id, str) or not message_id:
        raise ReceiptError("SMS delivery log record without notification.messageId")
    kind = SMS_STATUSES.get(str(record.get("status") or "").upper())
    if kind is None:
        return None
    delivery = record.get("delivery")
    response = delivery.get("providerResponse") if isinstance(delivery, dict) else None
    return SmsStatus(
        message_id=message_id,
        kind=kind,
        at=datetime.fromtimestamp(event.timestamp_ms / 1000, tz=UTC),
        reason=_token(str(response or "unknown")) if kind == "bounced" else None,
    )


class SmsReceiptStore(ReceiptStore, Protocol):
    def sms_message(self, provider_message_id: str) -> SentMessage | None:
        """The send an SMS with this SNS message id was (None: not ours, or erased)."""


def stamps_that_exclude(receipt: Receipt) -> tuple[str, ...]:
    """The send record's stamps whose presence makes ``receipt`` a replay: its own (``<kind>_at``,
    once per send and kind); for an SMS or a WeChat subscription message, either final status
    (``delivered_at``, ``bounced_at``: one final status each, logic/wechat_push.py)."""
    kinds = SMS_FINAL_KINDS if receipt.channel in {"sms", "wechat"} else (receipt.kind,)
    return tuple(f"{kind}_at" for kind in kinds)


def apply_sms_status(status: SmsStatus, store: SmsReceiptStore) -> Outcome:
    message = store.sms_message(status.message_id)
    if message is None:
        return "unknown_send"
    receipt = Receipt(
        kind=status.kind,
        send_id=message.send_id,
        channel="sms",
        at=status.at,
        provider_message_id=status.message_id,
        reason=status.reason,
    )
    return record_receipt(receipt, message, store)
