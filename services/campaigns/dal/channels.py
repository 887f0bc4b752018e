"""Channel adapters: SMS (Amazon SNS), e-mail (Amazon SES v2), WeChat subscription messages, the
in-app inbox — and the local fakes that record what they were asked to send.

``CHANNEL_MODE=local`` (the local cloud, tests, dev) uses :class:`LocalOutboxAdapter` for SMS,
e-mail and WeChat: nothing leaves the machine, every message is recorded on the
``mallcrm.local_outbox`` logger, which the local cloud turns into ``GET /_local/outbox`` entries
(see docs/contracts/outbox.md). The inbox is real in both modes (it is our own table); locally its
messages are recorded in the outbox too, so the outbox shows every channel.

``CHANNEL_MODE=aws`` uses the real providers, which need the member's address (phone, e-mail,
WeChat openid): :class:`MembersContactDirectory` asks members' contact directory at send time, so
campaigns never stores contact data. Errors are mapped to :class:`ProviderError` with
``retryable`` set from the provider's documented error codes.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from services.campaigns.dal.wechat_token import HttpPost, WeChatTokenError, post_json
from services.campaigns.logic.dispatch import Delivery, OutgoingMessage, ProviderError
from services.campaigns.logic.receipts import SEND_ID_TAG, encode_tag
from shared.aws import client

OUTBOX_LOGGER = "mallcrm.local_outbox"


def record_local_outbox(entry: dict[str, Any]) -> None:
    """Record one message the local fakes 'sent' (read by the local cloud, see the module doc)."""
    logger = logging.getLogger(OUTBOX_LOGGER)
    logger.info("local outbox: %s to %s", entry.get("channel"), entry.get("to"), extra={"outbox": entry})


def _outbox_entry(
    adapter: str, channel: str, message: OutgoingMessage, provider_id: str | None
) -> dict[str, Any]:
    return {
        "service": "campaigns",
        "adapter": adapter,
        "channel": channel,
        "to": message.member_id,
        "member_id": message.member_id,
        "send_id": message.send_id,
        "kind": message.kind,
        "topic": message.topic,
        "campaign_id": message.campaign_id,
        "title": message.title,
        "body": message.body,
        "link": message.link,
        "provider_message_id": provider_id,
    }


class LocalOutboxAdapter:
    """The local fake for one channel: records the message, sends nothing, never fails."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, message: OutgoingMessage) -> Delivery:
        provider_id = f"local-{self.channel}-{uuid.uuid4().hex[:12]}"
        record_local_outbox(_outbox_entry(type(self).__name__, self.channel, message, provider_id))
        # Delivered at once where the real channel confirms at once (WeChat); SMS and e-mail wait
        # for provider receipts, which the fakes never get.
        return Delivery(provider_message_id=provider_id, delivered=self.channel == "wechat")


class InboxAdapter:
    """The in-app inbox: the message is written with the send record (``mark_sent``); delivered at once.

    The inbox is real in both modes; locally it is also recorded in the outbox (``record_locally``)
    so ``GET /_local/outbox`` shows every message of every channel in one place."""

    def __init__(self, *, record_locally: bool = False) -> None:
        self.record_locally = record_locally

    def send(self, message: OutgoingMessage) -> Delivery:
        if self.record_locally:
            record_local_outbox(_outbox_entry(type(self).__name__, "inbox", message, None))
        return Delivery(provider_message_id=None, delivered=True)


class ContactDirectory(Protocol):
    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        """The member's phone (E.164), e-mail or WeChat openid for one send (``purpose``: the
        send id, written to members' audit log); None when members has none."""


class MembersContactDirectory:
    """Members' ``MembersContactDirectoryFunction`` (``CONTACT_DIRECTORY_FUNCTION``), invoked
    synchronously for each message: ``{member_id, channel, purpose}`` → ``{"found": true,
    "address"}`` or ``{"found": false, "reason"}``. Nothing is kept: the address lives for the
    provider call only, campaigns never stores contact data.

    ``found: false`` (erased, missing, channel not held) is an answer → None (the send fails
    ``no_address``, final); a failing invocation is retryable (the send is retried with backoff).
    """

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        try:
            response = client("lambda").invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps({"member_id": member_id, "channel": channel, "purpose": purpose}).encode(),
            )
            raw = response["Payload"].read()
        except Exception as exc:
            raise ProviderError("contact_directory_unavailable", retryable=True) from exc
        answer = json.loads(raw) if raw else {}
        if response.get("FunctionError") or not isinstance(answer, dict):
            raise ProviderError("contact_directory_failed", retryable=True)
        if "error" in answer:  # members refused the request itself: a defect here, not transient
            raise ProviderError("contact_directory_refused", retryable=False)
        if not answer.get("found"):
            return None
        value = answer.get("address")
        return str(value) if value else None


class SnsSmsAdapter:
    """SMS through Amazon SNS ``Publish`` with ``PhoneNumber`` (transactional SMS type).

    SNS documents ``ThrottledException``/``InternalErrorException`` as retryable and
    ``InvalidParameter``/``OptedOutException``-style failures as final.

    The ``MessageId`` Publish returns is the delivery's ``provider_message_id``: SNS's delivery
    status log names the message by it alone (``notification.messageId``), so dispatch's
    ``mark_sent`` indexes the send record by it and ``CampaignsOnSmsReceiptsFunction`` finds the
    send from the log (logic/receipts.py). An answer without one is not a send we could ever
    match, so it is not invented (``None``).
    """

    RETRYABLE = frozenset({"ThrottledException", "InternalErrorException", "KMSThrottlingException"})

    def __init__(self, contacts: ContactDirectory, sender_id: str | None = None) -> None:
        self.contacts = contacts
        self.sender_id = sender_id

    def send(self, message: OutgoingMessage) -> Delivery:
        phone = self.contacts.address(message.member_id, "sms", message.send_id)
        if not phone:
            raise ProviderError("no_address", retryable=False)
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {
                "DataType": "String",
                "StringValue": "Transactional" if message.kind == "transactional" else "Promotional",
            }
        }
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            response = client("sns").publish(
                PhoneNumber=phone, Message=message.body, MessageAttributes=attributes
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise ProviderError(f"sns_{code}", retryable=code in self.RETRYABLE) from exc
        message_id = response.get("MessageId")
        return Delivery(provider_message_id=str(message_id) if message_id else None)


class SesEmailAdapter:
    """E-mail through Amazon SES v2 ``SendEmail`` (simple content).

    Sent with campaigns' configuration set (``ConfigurationSetName``), whose event destination puts
    SES's delivery, bounce, complaint and click events on the default EventBridge bus, and with the
    message tag ``send_id`` (``EmailTags``; escaped to the characters tag values allow, see
    ``logic/receipts.encode_tag``) — all the receipt consumer needs to find the send record. Without
    a configuration set the message goes out but no receipt will ever come back.
    """

    RETRYABLE = frozenset({"TooManyRequestsException", "LimitExceededException", "InternalFailure"})

    def __init__(
        self, contacts: ContactDirectory, from_address: str, configuration_set: str | None = None
    ) -> None:
        self.contacts = contacts
        self.from_address = from_address
        self.configuration_set = configuration_set

    def send(self, message: OutgoingMessage) -> Delivery:
        email = self.contacts.address(message.member_id, "email", message.send_id)
        if not email:
            raise ProviderError("no_address", retryable=False)
        try:
            tag = encode_tag(message.send_id)
        except ValueError as exc:  # a send id no tag can carry: a defect, retrying will not help
            raise ProviderError("ses_untaggable_send_id", retryable=False) from exc
        body = message.body + (f"\n\n{message.link}" if message.link else "")
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": {"ToAddresses": [email]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.title or "", "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                }
            },
            "EmailTags": [{"Name": SEND_ID_TAG, "Value": tag}],
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        try:
            response = client("sesv2").send_email(**kwargs)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise ProviderError(f"ses_{code}", retryable=code in self.RETRYABLE) from exc
        return Delivery(provider_message_id=str(response.get("MessageId")))


@runtime_checkable
class RenewableToken(Protocol):
    """An access token source that can drop a token WeChat rejected (see ``dal/wechat_token.py``)."""

    def __call__(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class WeChatSubscribeAdapter:
    """WeChat mini-program subscription message: ``POST
    https://api.weixin.qq.com/cgi-bin/message/subscribe/send?access_token=…`` with ``touser``
    (openid), ``template_id``, ``page`` and ``data`` (``{"<keyword>": {"value": …}}``). ``errcode`` 0
    is success; -1 (system busy) and 45009/45011 (quota) are retried; 43101 (the member did not
    subscribe, or used up the one-time subscription), 40003 (bad openid), 40037 (bad template id),
    47003 (data does not fit the template's keywords) and 41030 (bad page) are final.

    ``data`` keys are the template's own keyword names (``thing1``, ``time2``…: kind + position, as
    the template in the mini-program's console lists them). ``keywords`` names the two ``thing``
    keywords (free text, at most 20 characters each) that carry the title and the body; a template
    needing other keywords cannot be used (docs/decisions.md, 2026-11-23).

    ``token_provider`` gives the access token (``dal.wechat_token.StableAccessToken`` in
    production). When WeChat says the token is invalid or expired (40001, 40014, 42001) and the
    provider is a :class:`RenewableToken`, the token is dropped, a fresh one fetched and the send
    retried once; a second rejection is a retryable failure (dispatch retries with backoff).

    **At most once.** ``subscribeMessage.send`` takes no idempotency key, so a POST that may have
    reached WeChat is never sent again: a transport failure is retryable only when the request
    certainly did not arrive whole (:func:`wechat_send_failure`: urllib's ``URLError`` — DNS,
    connect refused or timed out, TLS handshake, the request not written out; HTTP 408, 429, 503).
    A failure after the request was written (read timeout, connection dropped before or during the
    answer, HTTP 500/502/504, an answer that is not WeChat's JSON or has no ``errcode``) fails the
    send ``wechat_outcome_unknown``, final — like dispatch's ``outcome_unknown`` for an expired
    lease: the member may have the message, so it is not sent twice.
    """

    URL = "https://api.weixin.qq.com/cgi-bin/message/subscribe/send"
    RETRYABLE = frozenset({-1, 45009, 45011})
    TOKEN_REJECTED = frozenset({40001, 40014, 42001})
    TEXT_LIMIT = 20  # a thing keyword's value: 20 characters (a Chinese character counts as one)

    def __init__(
        self,
        contacts: ContactDirectory,
        template_id: str,
        token_provider: Callable[[], str],
        http_post: HttpPost | None = None,
        keywords: tuple[str, str] = ("thing1", "thing2"),
    ) -> None:
        self.contacts = contacts
        self.template_id = template_id
        self.token_provider = token_provider
        self.http_post = http_post or post_json
        self.keywords = keywords

    def send(self, message: OutgoingMessage) -> Delivery:
        openid = self.contacts.address(message.member_id, "wechat", message.send_id)
        if not openid:
            raise ProviderError("no_address", retryable=False)
        title_key, body_key = self.keywords
        payload = {
            "touser": openid,
            "template_id": self.template_id,
            "page": message.link or "pages/index/index",
            "data": {
                # An empty keyword value is refused (47003): a message without a title shows its body.
                title_key: {"value": (message.title or message.body)[: self.TEXT_LIMIT]},
                body_key: {"value": message.body[: self.TEXT_LIMIT]},
            },
            "miniprogram_state": "formal",
            "lang": "zh_CN",
        }
        token, answer = self._post(payload)
        code = _errcode(answer)
        if code in self.TOKEN_REJECTED and isinstance(self.token_provider, RenewableToken):
            # Rejected before anything was sent: safe to send again, once, with a fresh token.
            self.token_provider.invalidate(token)
            token, answer = self._post(payload)
            code = _errcode(answer)
        if code is None:  # an answer, but not one WeChat documents: it may have sent the message
            _wechat_logger.warning("wechat send answered without an errcode")
            raise ProviderError(WECHAT_OUTCOME_UNKNOWN, retryable=False)
        if code != 0:
            retryable = code in self.RETRYABLE or code in self.TOKEN_REJECTED
            raise ProviderError(f"wechat_{code}", retryable=retryable)
        # errcode 0: WeChat accepted the message. Its final result comes later as the message push
        # subscribe_msg_sent_event naming this msgid (handlers/routes/wechat_push.py: delivered or
        # failed); without a msgid nothing can name it, so acceptance is all we will know.
        msgid = str(answer["msgid"]) if answer.get("msgid") not in (None, "") else None
        return Delivery(provider_message_id=msgid, delivered=msgid is None)

    def _post(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        try:
            token = self.token_provider()
        except WeChatTokenError as exc:  # nothing was sent: retried or failed as the cause says
            raise ProviderError(exc.reason, retryable=exc.retryable) from None
        try:
            answer = self.http_post(f"{self.URL}?access_token={token}", payload)
        except Exception as exc:
            failure = wechat_send_failure(exc)
            if not failure.retryable:
                # The class name only: the URL (in urllib's messages) carries the token.
                _wechat_logger.warning(
                    "wechat send failed", extra={"reason": failure.reason, "error": type(exc).__name__}
                )
            # from None: the URL carries the token, keep it out of any traceback that gets logged
            raise failure from None
        return token, answer


# The send's failure reason when WeChat may have received the request (see the adapter's doc).
WECHAT_OUTCOME_UNKNOWN = "wechat_outcome_unknown"
# HTTP statuses by which a server says it did not act on the request (RFC 9110: 408, it did not
# receive the whole request; 429 and 503, it will not handle it now): safe to send again.
WECHAT_NOT_HANDLED_STATUSES = frozenset({408, 429, 503})
_wechat_logger = logging.getLogger("campaigns.wechat_send")


def wechat_send_failure(exc: Exception) -> ProviderError:
    """A failed ``subscribeMessage.send`` POST (``post_json``: urllib) → retryable only when WeChat
    certainly did not get the whole request.

    urllib (``AbstractHTTPHandler.do_open``, the same in 3.11, 3.12 and 3.13) wraps every
    ``OSError`` raised while connecting and writing the request — DNS, connect refused or timed
    out, the TLS handshake, a send that could not write it all — in ``URLError``; what fails after
    the request was written (``getresponse``: a read timeout is a bare ``TimeoutError``, a dropped
    connection ``RemoteDisconnected``/``ConnectionResetError``; reading the body:
    ``TimeoutError``, ``IncompleteRead``; the JSON: ``ValueError``) is raised as it is. An HTTP
    error status comes as ``HTTPError``, a ``URLError`` subclass, after the request was sent: only
    408/429/503 say it was not acted on, other 4xx are final refusals, 5xx (500, 502/504 from a
    gateway) leave the outcome unknown. Anything else — including a defect in the transport — is
    an unknown outcome too: never a second send."""
    from urllib.error import HTTPError, URLError  # noqa: PLC0415 - only on a failure (cold import)

    if isinstance(exc, HTTPError):
        status = exc.code
        if status in WECHAT_NOT_HANDLED_STATUSES:
            return ProviderError(f"wechat_http_{status}", retryable=True)
        if 400 <= status < 500:
            return ProviderError(f"wechat_http_{status}", retryable=False)
        return ProviderError(WECHAT_OUTCOME_UNKNOWN, retryable=False)
    if isinstance(exc, URLError):
        return ProviderError("wechat_unreachable", retryable=True)
    return ProviderError(WECHAT_OUTCOME_UNKNOWN, retryable=False)


def _errcode(answer: dict[str, Any]) -> int | None:
    """The answer's ``errcode``; None when it has none or not a number (not WeChat's answer)."""
    try:
        return int(answer["errcode"])
    except (KeyError, TypeError, ValueError):
        return None


def local_adapters() -> dict[str, Any]:
    return {
        "sms": LocalOutboxAdapter("sms"),
        "email": LocalOutboxAdapter("email"),
        "wechat": LocalOutboxAdapter("wechat"),
        "inbox": InboxAdapter(record_locally=True),
    }
