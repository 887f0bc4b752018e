"""WeChat's message push for the mini-program: the server URL check and the
``subscribe_msg_sent_event`` that says what became of a subscription message (pure; no boto3).

What WeChat documents (mini-program "消息推送" and "订阅消息" guides, read 2026-11-23; see
docs/decisions.md for the addresses):

* **Server configuration** (mini-program console, 开发 → 开发管理 → 消息推送): URL, Token (ours, any
  text), EncodingAESKey, the mode — plaintext (明文, the default), compatible (兼容) or safe (安全,
  AES) — and the data format, XML (the default) or JSON.
* **URL check:** a ``GET`` with ``signature``, ``timestamp``, ``nonce`` and ``echostr``;
  ``signature`` = SHA-1 (hex) of the three strings Token, ``timestamp`` and ``nonce`` sorted
  lexicographically and joined. When it matches, the answer is ``echostr`` exactly, as plain text.
  Documented vector: Token ``AAAAA``, timestamp ``1714036504``, nonce ``1514711492`` →
  ``f464b24fc39322e44b38aa78f5edd27bd1441696``.
* **Pushes:** a ``POST`` to the same URL whose query carries ``signature``, ``timestamp`` and
  ``nonce`` (the same algorithm; vector: ``AAAAA``, ``1714037059``, ``486452656`` →
  ``899cf89e464efb63f54ddac96b0a0a235f53aa78``); compatible and safe modes add ``encrypt_type=aes``
  and ``msg_signature`` and put the body in ``Encrypt``. The answer ``success`` (or an empty body)
  tells WeChat the push was received; otherwise it retries.
* **subscribe_msg_sent_event** (订阅消息事件推送, 3: the final result of a ``subscribeMessage.send``):
  ``ToUserName`` (the mini-program), ``FromUserName`` (the member's openid), ``CreateTime`` (epoch
  seconds), ``MsgType`` ``event``, ``Event`` ``subscribe_msg_sent_event`` and one ``List`` entry per
  message: ``TemplateId``, ``MsgID`` (the ``msgid`` the send call returned), ``ErrorCode`` (0 =
  success) and ``ErrorStatus`` (its meaning, e.g. ``success``). In XML the entries are
  ``<SubscribeMsgSentEvent><List>…</List></SubscribeMsgSentEvent>``; in JSON ``List`` is at the top
  level — one object when there is one entry, an array when there are more — and the documented
  sample carries numbers as strings (``"ErrorCode": "0"``).

Only plaintext mode is accepted: safe/compatible mode (``encrypt_type=aes``) is refused with a
clear error (see :class:`SafeModeUnsupported`). In plaintext mode the signature covers only the
Token, ``timestamp`` and ``nonce`` — not the body — so a request is also refused when its
``timestamp`` is further than ``max_skew_seconds`` from now (our rule, not WeChat's), which bounds
how long a captured URL could be replayed with another body.

A result maps to a receipt of the send whose ``gsi1`` entry is ``WXMSG#<MsgID>`` (``mark_sent``):
``ErrorCode`` 0 → delivered; anything else → bounced, the reason being ``ErrorStatus`` without its
``fail:`` prefix as a token (``fail:user refuse to accept the msg`` → ``user_refuse_to_accept_the_msg``,
``fail:system error`` → ``system_error``). A WeChat message has one final status, like an SMS: the
first recorded wins, replays change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from services.campaigns.logic.receipts import (
    Outcome,
    Receipt,
    ReceiptStore,
    SentMessage,
    record_receipt,
)

SENT_EVENT = "subscribe_msg_sent_event"
MAX_BODY_BYTES = 64 * 1024
"""A push is a few hundred bytes; a body larger than this is not one."""
_FORBIDDEN_XML = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_TOKEN_CHARS = re.compile(r"[^a-z0-9]+")


class PushError(ValueError):
    """A push that cannot be read: answered 400, nothing recorded."""

    code = "wechat_push_unreadable"


class SafeModeUnsupported(PushError):
    """``encrypt_type=aes`` (safe or compatible mode): the AES body is not decrypted here."""

    code = "wechat_safe_mode_unsupported"


class SignatureRejected(ValueError):
    """Missing or wrong signature, or a timestamp outside the window: answered 401."""


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature: SHA-1 hex of Token, ``timestamp`` and ``nonce`` sorted and joined."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's algorithm


def verify(
    token: str,
    query: dict[str, str],
    *,
    now: datetime,
    max_skew_seconds: int,
) -> None:
    """Raise :class:`SignatureRejected` unless ``query`` carries WeChat's signature for ``token`` and
    a ``timestamp`` within ``max_skew_seconds`` of ``now``."""
    given = str(query.get("signature") or "")
    timestamp = str(query.get("timestamp") or "")
    nonce = str(query.get("nonce") or "")
    if not token or not given or not timestamp or not nonce:
        raise SignatureRejected("signature, timestamp and nonce are required")
    if not hmac.compare_digest(signature(token, timestamp, nonce), given.lower()):
        raise SignatureRejected("signature does not match")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise SignatureRejected("timestamp is not a number") from exc
    if abs(now.timestamp() - sent_at) > max_skew_seconds:
        raise SignatureRejected("timestamp outside the accepted window")


def refuse_safe_mode(query: dict[str, str]) -> None:
    if str(query.get("encrypt_type") or "raw").lower() not in {"", "raw"}:
        raise SafeModeUnsupported(
            "Safe and compatible modes (encrypt_type=aes) are not supported: set the mini-program's "
            "message push to plaintext mode (明文模式)."
        )


@dataclass(frozen=True)
class SentResult:
    """One ``List`` entry of a ``subscribe_msg_sent_event``."""

    msg_id: str
    template_id: str
    error_code: int
    error_status: str
    at: datetime  # the push's CreateTime


@dataclass(frozen=True)
class Push:
    event: str  # "" when the push is not an event (a message a member sent)
    results: tuple[SentResult, ...]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _entries(value: Any) -> list[dict[str, Any]]:
    """JSON ``List``: one object, or an array of them (WeChat sends both)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) for item in items):
        raise PushError("List entries are not objects")
    return items


def _result(entry: dict[str, Any], at: datetime) -> SentResult:
    msg_id = _text(entry.get("MsgID"))
    if not msg_id:
        raise PushError("a subscribe_msg_sent_event entry without MsgID")
    try:
        code = int(_text(entry.get("ErrorCode")) or "0")
    except ValueError as exc:
        raise PushError("ErrorCode is not a number") from exc
    return SentResult(
        msg_id=msg_id,
        template_id=_text(entry.get("TemplateId")),
        error_code=code,
        error_status=_text(entry.get("ErrorStatus")),
        at=at,
    )


def _created(value: Any, received_at: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(_text(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return received_at


def _from_json(body: str, received_at: datetime) -> Push:
    try:
        doc = json.loads(body)  # MsgID as a bare number stays exact: Python ints are unbounded
    except ValueError as exc:
        raise PushError("body is not JSON") from exc
    if not isinstance(doc, dict):
        raise PushError("body is not a JSON object")
    if "Encrypt" in doc:
        raise SafeModeUnsupported("an encrypted body (Encrypt): set the message push to plaintext mode")
    event = _text(doc.get("Event")) if _text(doc.get("MsgType")) == "event" else ""
    if event != SENT_EVENT:
        return Push(event=event, results=())
    at = _created(doc.get("CreateTime"), received_at)
    entries = _entries(doc.get("List"))
    return Push(event=event, results=tuple(_result(entry, at) for entry in entries))


def _from_xml(body: str, received_at: datetime) -> Push:
    # The body is WeChat's (the query is signed), but it is still parsed defensively: no DTD, no
    # entities (expat would expand them), and it is small (MAX_BODY_BYTES).
    if _FORBIDDEN_XML.search(body):
        raise PushError("XML with a DTD or entities")
    from xml.etree import ElementTree  # noqa: PLC0415 - only XML pushes need it; no DTD above

    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - DOCTYPE/ENTITY refused above
    except ElementTree.ParseError as exc:
        raise PushError("body is not XML") from exc
    if root.find("Encrypt") is not None:
        raise SafeModeUnsupported("an encrypted body (Encrypt): set the message push to plaintext mode")
    event = _text(root.findtext("Event")) if _text(root.findtext("MsgType")) == "event" else ""
    if event != SENT_EVENT:
        return Push(event=event, results=())
    at = _created(root.findtext("CreateTime"), received_at)
    entries = [
        {child.tag: child.text for child in item} for item in root.findall("SubscribeMsgSentEvent/List")
    ]
    return Push(event=event, results=tuple(_result(entry, at) for entry in entries))


def parse_push(body: str, received_at: datetime) -> Push:
    """A plaintext push in either data format (told apart by its first character, so a console
    switch from XML to JSON needs no redeploy). Raises :class:`PushError`."""
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise PushError("body too large for a push")
    text = body.strip()
    if not text:
        raise PushError("empty body")
    if text.startswith("<"):
        return _from_xml(text, received_at)
    return _from_json(text, received_at)


def _token(text: str) -> str:
    return _TOKEN_CHARS.sub("_", text.lower()).strip("_")[:64] or "unknown"


def receipt_kind(result: SentResult) -> Literal["delivered", "bounced"]:
    return "delivered" if result.error_code == 0 else "bounced"


def failure_reason(result: SentResult) -> str | None:
    """``fail:user refuse to accept the msg`` → ``user_refuse_to_accept_the_msg``; None on success."""
    if result.error_code == 0:
        return None
    status = result.error_status
    if status.lower().startswith("fail:"):
        status = status[len("fail:") :]
    return _token(status) if status.strip() else f"errorcode_{result.error_code}"


class WeChatReceiptStore(ReceiptStore, Protocol):
    def wechat_message(self, msg_id: str) -> SentMessage | None:
        """The send a WeChat message with this msgid was (None: not ours, or erased)."""


def apply_sent_result(result: SentResult, store: WeChatReceiptStore) -> Outcome:
    message = store.wechat_message(result.msg_id)
    if message is None:
        return "unknown_send"
    receipt = Receipt(
        kind=receipt_kind(result),
        send_id=message.send_id,
        channel="wechat",
        at=result.at,
        provider_message_id=result.msg_id,
        reason=failure_reason(result),
    )
    return record_receipt(receipt, message, store)
