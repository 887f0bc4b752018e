"""SMS adapters for verification codes (phone change).

* :class:`AliyunSms` — the real one: Alibaba Cloud SMS (短信服务) ``SendSms``, API version
  ``2017-05-25``, RPC style at ``https://dysmsapi.aliyuncs.com/`` (help.aliyun.com, "SendSms" and
  "签名机制"): parameters ``PhoneNumbers`` (mainland numbers without ``+86``; others as country
  code + number), ``SignName``, ``TemplateCode``, ``TemplateParam`` (JSON, here ``{"code": …}``),
  plus the common ones (``Action``, ``Version``, ``Format=JSON``, ``AccessKeyId``,
  ``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``, ``SignatureNonce`` (UUID),
  ``Timestamp`` (UTC ``YYYY-MM-DDThh:mm:ssZ``)) and ``Signature`` = Base64(HMAC-SHA1(AccessKey
  secret + "&", ``POST&%2F&`` + percentEncode(canonical query))), where the canonical query is the
  parameters sorted by name, each name and value RFC 3986-encoded (space ``%20``, ``*`` ``%2A``,
  ``~`` kept). The answer is ``{"Code": "OK", "BizId", "RequestId", "Message"}`` or an error
  ``Code`` (``isv.BUSINESS_LIMIT_CONTROL``: the provider's own per-number limit;
  ``isv.MOBILE_NUMBER_ILLEGAL``).
  SendSms is not idempotent (Aliyun says so): the caller sends once per recorded code, never retries.
  Credentials: Secrets Manager ``SmsProviderSecret`` ``{"access_key_id", "access_key_secret",
  "sign_name", "template_code"}``; the template reads e.g. "您的验证码为${code}, 5分钟内有效".
* :class:`FakeSmsSender` — the local cloud's and the tests': sends nothing, records every message
  (to, text, template parameters, when) in ``sent`` and as one record on the logger
  ``mallcrm.local_outbox`` (docs/contracts/outbox.md: the local cloud shows it at
  ``GET /_local/outbox``; elsewhere it is an INFO line), so a person or a local flow reads the code
  (the recording step is shared with the e-mail fake: :mod:`services.members.dal.local_outbox`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from services.members.dal.local_outbox import record_fake_send
from shared import clock
from shared.errors import MallCrmError, TooManyRequests, Unprocessable

ALIYUN_SMS_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
ALIYUN_SMS_VERSION = "2017-05-25"


class SmsSender(Protocol):
    def send_code(self, phone_e164: str, code: str) -> str:
        """Send a verification code; returns the provider's message id."""
        ...


class SmsUnavailable(MallCrmError):
    def __init__(self) -> None:
        super().__init__(503, "sms_unavailable", "The SMS could not be sent; try again shortly.")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's signature wants it (space %20, ``*`` %2A, ``~`` unencoded)."""
    return urllib.parse.quote(value, safe="-_.~")


def aliyun_signature(method: str, params: dict[str, str], access_key_secret: str) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def aliyun_phone(phone_e164: str) -> str:
    """Mainland numbers without the country code; others as country code + number, no ``+``."""
    digits = phone_e164.lstrip("+")
    return digits[2:] if digits.startswith("86") else digits


@dataclass(frozen=True)
class SmsCredentials:
    """SmsProviderSecret's fields."""

    access_key_id: str
    access_key_secret: str
    sign_name: str
    template_code: str

    @classmethod
    def from_secret(cls, secret_string: str) -> SmsCredentials:
        parsed = json.loads(secret_string)
        names = ("access_key_id", "access_key_secret", "sign_name", "template_code")
        if not isinstance(parsed, dict) or not all(parsed.get(n) for n in names):
            raise ValueError(
                "SmsProviderSecret must hold access_key_id, access_key_secret, sign_name, template_code"
            )
        return cls(*(str(parsed[n]) for n in names))


class AliyunSms:
    def __init__(
        self, credentials: SmsCredentials, *, endpoint: str = ALIYUN_SMS_ENDPOINT, timeout: float = 3.0
    ) -> None:
        self.credentials = credentials
        self.endpoint = endpoint
        self.timeout = timeout

    def request_params(self, phone_e164: str, code: str, *, now: datetime, nonce: str) -> dict[str, str]:
        """The signed form parameters of one SendSms call."""
        creds = self.credentials
        params = {
            "AccessKeyId": creds.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": aliyun_phone(phone_e164),
            "SignName": creds.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce,
            "SignatureVersion": "1.0",
            "TemplateCode": creds.template_code,
            "TemplateParam": json.dumps({"code": code}, separators=(",", ":")),
            "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": ALIYUN_SMS_VERSION,
        }
        params["Signature"] = aliyun_signature("POST", params, creds.access_key_secret)
        return params

    def _post(self, body: bytes) -> dict[str, object]:
        request = urllib.request.Request(  # noqa: S310 - fixed https endpoint
            self.endpoint,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            parsed = json.loads(response.read().decode("utf-8"))
        return parsed if isinstance(parsed, dict) else {}

    def send_code(self, phone_e164: str, code: str) -> str:
        params = self.request_params(phone_e164, code, now=clock.now(), nonce=str(uuid.uuid4()))
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items()).encode()
        try:
            answer = self._post(body)
        except (OSError, ValueError):
            raise SmsUnavailable() from None
        result = answer.get("Code")
        if result == "OK":
            return str(answer.get("BizId") or answer.get("RequestId") or "")
        if result in ("isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"):
            raise TooManyRequests("sms_rate_limited", "Too many codes for this number; try again later.")
        if result == "isv.MOBILE_NUMBER_ILLEGAL":
            raise Unprocessable("phone_invalid", "This number cannot receive SMS.")
        raise SmsUnavailable()


@dataclass(frozen=True)
class SentSms:
    """One message the fake was asked to send."""

    to: str
    text: str
    params: dict[str, str]
    sent_at: datetime
    message_id: str


class FakeSmsSender:
    """Local cloud and tests only: records what it was asked to send, sends nothing."""

    sent: ClassVar[list[SentSms]] = []

    def send_code(self, phone_e164: str, code: str) -> str:
        text = f"【MallCRM】您的验证码为{code}, 5分钟内有效. Your code is {code}."
        return record_fake_send(
            self.sent,
            lambda message_id, at: SentSms(
                to=phone_e164, text=text, params={"code": code}, sent_at=at, message_id=message_id
            ),
            adapter=type(self).__name__,
            channel="sms",
            to=phone_e164,
            title=None,
            body=text,
        )
