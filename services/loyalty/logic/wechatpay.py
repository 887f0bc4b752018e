"""WeChat Pay API v3 notifications of the smart business district (智慧商圈), as WeChat documents them.

WeChat Pay POSTs ``{"id", "create_time", "event_type", "resource_type", "summary", "resource":
{"algorithm": "AEAD_AES_256_GCM", "ciphertext", "associated_data", "nonce", "original_type"}}``
with the headers ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``, ``Wechatpay-Signature`` and
``Wechatpay-Serial`` (the platform certificate serial, or the platform public key id):

1. **Signature** — ``Wechatpay-Signature`` is base64 RSA-SHA256 (PKCS#1 v1.5) over
   ``"<timestamp>\\n<nonce>\\n<body>\\n"`` (the raw body bytes), verified with the platform public
   key named by ``Wechatpay-Serial``; a timestamp more than 5 minutes off is refused (WeChat's SDKs
   use the same window).
2. **Resource** — AES-256-GCM with the merchant's 32-byte APIv3 key, the resource's ``nonce`` (12
   bytes) and ``associated_data`` as AAD; the ciphertext carries the 16-byte tag at its end.
3. **Events** — ``MALL_TRANSACTION.SUCCESS`` (商圈会员场内支付结果通知: ``mchid, merchant_name,
   shop_name, shop_number, appid, openid, amount`` (fen), ``time_end, transaction_id``…) and
   ``MALL_REFUND.SUCCESS`` (场内退款通知: ``… refund_time, pay_amount, refund_amount,
   transaction_id, refund_id``). Others (``MALL_AUTH.ACTIVATE_CARD``) are acknowledged.
4. **Answer** — HTTP 2xx (``{"code": "SUCCESS"}``) when handled; anything else makes WeChat retry
   (15 s … 6 h, 24 h in all), so a notice is idempotent on its ``transaction_id`` / ``refund_id``.

:class:`WeChatPayV3Notifications` is the real verifier; :class:`LocalFakeWeChatPayNotifications`
is the local cloud's fake (plain resource, no signature), which records what it was given and
refuses to run outside the local targets.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError

from services.loyalty.logic.wallet_errors import WeChatPaySignatureInvalid
from services.loyalty.models.api import PurchaseItemIn, PurchaseRequest
from services.loyalty.models.refunds import RefundRequest
from shared.api import validation_fields
from shared.errors import BadRequest, Unprocessable

HEADER_TIMESTAMP = "wechatpay-timestamp"
HEADER_NONCE = "wechatpay-nonce"
HEADER_SIGNATURE = "wechatpay-signature"
HEADER_SERIAL = "wechatpay-serial"
MAX_CLOCK_OFFSET_SECONDS = 300
PAYMENT = "MALL_TRANSACTION.SUCCESS"
REFUND = "MALL_REFUND.SUCCESS"


@dataclass(frozen=True)
class Notice:
    notification_id: str
    event_type: str
    resource: Mapping[str, Any]
    """The decrypted resource (``original_type`` e.g. ``transaction``)."""


class NotificationOpener(Protocol):
    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Notice:
        """Verify and decrypt; :class:`WeChatPaySignatureInvalid` (401) when not from WeChat Pay."""


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(name)
    if not value:
        raise WeChatPaySignatureInvalid(
            "wechatpay_headers_missing", "WeChat Pay signature headers are missing."
        )
    return str(value)


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise BadRequest("malformed_json", "The notification body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise BadRequest("malformed_notification", "The notification body is not an object.")
    return parsed


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: bytes) -> dict[str, Any]:
    """AEAD_AES_256_GCM → the resource's JSON (``cryptography`` imported here: this route only)."""
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise BadRequest("unsupported_algorithm", "Only AEAD_AES_256_GCM resources are supported.")
    try:
        plain = AESGCM(apiv3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"])),
            str(resource.get("associated_data") or "").encode(),
        )
    except (InvalidTag, KeyError, ValueError):
        # A resource we cannot open was not encrypted for us: same as a bad signature.
        raise WeChatPaySignatureInvalid(
            "wechatpay_resource_undecryptable", "The resource cannot be decrypted."
        ) from None
    decoded = json.loads(plain)
    if not isinstance(decoded, dict):
        raise BadRequest("malformed_notification", "The decrypted resource is not an object.")
    return decoded


class WeChatPayV3Notifications:
    """The real thing: platform public keys by serial (certificates' keys or the platform public key
    id's key, PEM) and the APIv3 key (32 bytes)."""

    def __init__(self, platform_keys: Mapping[str, str], apiv3_key: bytes) -> None:
        if len(apiv3_key) != 32:
            raise ValueError("the WeChat Pay APIv3 key is 32 bytes")
        self.platform_keys = dict(platform_keys)
        self.apiv3_key = apiv3_key

    def _public_key(self, serial: str) -> Any:
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives.serialization import load_pem_public_key  # noqa: PLC0415

        pem = self.platform_keys.get(serial)
        if pem is None:
            raise WeChatPaySignatureInvalid("wechatpay_serial_unknown", "Unknown WeChat Pay platform key.")
        data = pem.encode()
        if b"BEGIN CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return load_pem_public_key(data)

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Notice:
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import padding  # noqa: PLC0415

        timestamp = _header(headers, HEADER_TIMESTAMP)
        nonce = _header(headers, HEADER_NONCE)
        signature = _header(headers, HEADER_SIGNATURE)
        serial = _header(headers, HEADER_SERIAL)
        try:
            offset = abs(now.timestamp() - int(timestamp))
        except ValueError:
            raise WeChatPaySignatureInvalid() from None
        if offset > MAX_CLOCK_OFFSET_SECONDS:
            raise WeChatPaySignatureInvalid(
                "wechatpay_timestamp_stale", "The notification timestamp is too far off."
            )
        key = self._public_key(serial)
        try:
            key.verify(
                base64.b64decode(signature),
                signed_message(timestamp, nonce, body),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise WeChatPaySignatureInvalid() from None
        parsed = _json(body)
        resource = parsed.get("resource")
        if not isinstance(resource, Mapping):
            raise BadRequest("malformed_notification", "The notification has no resource.")
        return Notice(
            notification_id=str(parsed.get("id") or ""),
            event_type=str(parsed.get("event_type") or ""),
            resource=decrypt_resource(resource, self.apiv3_key),
        )


@dataclass
class LocalFakeWeChatPayNotifications:
    """The local cloud's WeChat Pay: no signature, the resource sent in clear as
    ``resource.plaintext`` (a JSON object). Records every notice it opened (``opened``), so a
    demo or a test can see what it was asked to do. Never used on AWS (the route refuses)."""

    opened: ClassVar[list[Notice]] = []
    marker: str = field(default="LOCAL-FAKE")

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Notice:
        parsed = _json(body)
        resource = parsed.get("resource") or {}
        plain = resource.get("plaintext") if isinstance(resource, Mapping) else None
        if not isinstance(plain, Mapping):
            raise BadRequest("malformed_notification", "The fake expects resource.plaintext (an object).")
        notice = Notice(
            notification_id=str(parsed.get("id") or ""),
            event_type=str(parsed.get("event_type") or ""),
            resource=dict(plain),
        )
        type(self).opened.append(notice)
        return notice


# --- from a notice to a purchase or a refund ---------------------------------------------------------

WECHATPAY_SOURCE = "wechatpay"


def _time(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise BadRequest("malformed_notification", f"{name} is not a time.") from None
    if parsed.tzinfo is None:
        raise BadRequest("malformed_notification", f"{name} has no time zone.")
    return parsed


def purchase_request(notice: Notice, member_id: str | None) -> PurchaseRequest:
    """A MALL_TRANSACTION.SUCCESS as a purchase of source ``wechatpay``, external id the WeChat Pay
    transaction id (so WeChat's retries are one purchase), store = the shop number the mall gave
    the shop when it listed it in the business district."""
    r = notice.resource
    amount = int(r.get("amount") or 0)
    try:
        return PurchaseRequest(
            external_id=str(r.get("transaction_id") or ""),
            source_system=WECHATPAY_SOURCE,
            store_id=str(r.get("shop_number") or ""),
            tenant_id=None,
            member_id=member_id,
            amount_cents=amount,
            currency="CNY",
            channel="pos",
            items=[PurchaseItemIn(sku="wechatpay", category="wechatpay", quantity=1, amount_cents=amount)],
            occurred_at=_time(r.get("time_end"), "time_end"),
        )
    except ValidationError as exc:
        raise Unprocessable(
            fields=validation_fields(exc.errors(include_input=False, include_url=False))
        ) from None


def refund_request(notice: Notice) -> RefundRequest:
    r = notice.resource
    try:
        return RefundRequest(
            external_id=str(r.get("refund_id") or ""),
            source_system=WECHATPAY_SOURCE,
            purchase_external_id=str(r.get("transaction_id") or ""),
            store_id=str(r.get("shop_number") or ""),
            amount_cents=int(r.get("refund_amount") or 0),
            currency="CNY",
            occurred_at=_time(r.get("refund_time"), "refund_time"),
            reason="wechatpay refund",
        )
    except ValidationError as exc:
        raise Unprocessable(
            fields=validation_fields(exc.errors(include_input=False, include_url=False))
        ) from None
