"""Logger, tracer and metrics for a service, with PII kept out of the logs.

Why a redacting formatter rather than discipline alone: a phone number in an exception message,
an ``extra={"phone": ...}`` added while debugging, or a whole request logged by a library ends up
in CloudWatch, which staff and vendors can read and which outlives an erasure request (PIPL).
The formatter masks values of PII keys at any depth and scrubs mainland-China mobile numbers,
e-mail addresses and resident id numbers out of every string before the line is written.

The masking helpers (:func:`mask_phone`, :func:`mask_name`, :func:`mask_email`) are the same ones
staff views use, so "masked" means one thing across the product.

Powertools is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools import Logger, Metrics, Tracer

__all__ = [
    "METRICS_NAMESPACE",
    "PII_KEYS",
    "get_logger",
    "get_metrics",
    "get_tracer",
    "mask_email",
    "mask_name",
    "mask_phone",
    "redact",
    "redact_text",
    "redacting_formatter",
]

METRICS_NAMESPACE = "MallCRM"
MASK = "****"

# Keys whose values are personal data, compared after lower-casing and turning "-" into "_".
PII_KEYS: frozenset[str] = frozenset(
    {
        "phone",
        "mobile",
        "phone_number",
        "mobile_number",
        "tel",
        "telephone",
        "name",
        "full_name",
        "real_name",
        "first_name",
        "last_name",
        "nickname",
        "member_name",
        "contact_name",
        "id_card",
        "id_card_number",
        "id_number",
        "openid",
        "unionid",
        "plate",
        "plates",
        "car_plate",
        "car_plates",
        "plate_number",
        "license_plate",
        "email",
        "email_address",
        "address",
        "home_address",
        "birthday",
        "birth_date",
        "date_of_birth",
        "password",
        "authorization",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
    }
)
# Suffixes that mark a PII key whatever the prefix ("member_phone", "wechat_openid", ...).
# "name" is deliberately not a suffix: function_name, table_name and service_name are not PII.
_PII_SUFFIXES: tuple[str, ...] = (
    "_phone",
    "_mobile",
    "_email",
    "_openid",
    "_unionid",
    "_id_card",
    "_plate",
    "_address",
    "_birthday",
)

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
# Mainland mobile: 1[3-9] + 9 digits, optionally +86 / 86 / 0086 and separators in between.
_PHONE_RE = re.compile(
    _NOT_ALNUM_BEFORE + r"(?P<cc>(?:\+|00)?86[- ]?)?(?P<num>1[3-9]\d[- ]?\d{4}[- ]?\d{4})" + _NOT_ALNUM_AFTER
)
# The local part takes every character an address may carry (RFC 5322 atext, as members accepts),
# so a logged "o'brien+news@…" is masked whole rather than from the apostrophe on.
_EMAIL_RE = re.compile(
    r"(?P<local>[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+)@(?P<domain>[A-Za-z0-9.-]+\.[A-Za-z]{2,})"
)
_FOUR_DIGITS_RE = re.compile(r"\d{4}")  # phones and id cards both contain a run of 4 digits
# Resident identity card: 17 digits + digit or X.
_ID_CARD_RE = re.compile(_NOT_ALNUM_BEFORE + r"\d{6}(?:19|20)\d{9}[\dXx]" + _NOT_ALNUM_AFTER)


def mask_phone(phone: str) -> str:
    """``13812341234`` → ``138****1234`` (a country code is kept: ``+86138****1234``)."""
    digits = re.sub(r"\D", "", phone)
    prefix = ""
    if len(digits) == 13 and digits.startswith("86"):
        prefix, digits = ("+86" if phone.strip().startswith("+") else "86"), digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        prefix, digits = "0086", digits[4:]
    if len(digits) < 7:
        return MASK
    return f"{prefix}{digits[:3]}{MASK}{digits[-4:]}"


def mask_email(email: str) -> str:
    """``alice@example.com`` → ``a***@example.com``."""
    local, sep, domain = email.strip().partition("@")
    if not sep or not local:
        return MASK
    return f"{local[0]}***@{domain}"


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``; ``Alice`` → ``A****``: the first character only, as staff screens show it."""
    stripped = name.strip()
    if len(stripped) <= 1:
        return "*"
    return stripped[0] + "*" * (len(stripped) - 1)


def _mask_id_card(value: str) -> str:
    return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else MASK


def redact_text(text: str) -> str:
    """Mask phone numbers, e-mail addresses and id-card numbers found anywhere in ``text``."""
    if not text:
        return text
    # Cheap pre-checks first: every log record passes through here, most of its strings hold
    # neither four digits in a row (phones and id cards do) nor an "@" (addresses do).
    if _FOUR_DIGITS_RE.search(text):
        text = _ID_CARD_RE.sub(lambda m: _mask_id_card(m.group(0)), text)
        text = _PHONE_RE.sub(lambda m: mask_phone((m.group("cc") or "").strip() + m.group("num")), text)
    if "@" not in text:
        return text
    return _EMAIL_RE.sub(lambda m: f"{m.group('local')[0]}***@{m.group('domain')}", text)


def _is_pii_key(key: str) -> bool:
    normalised = key.lower().replace("-", "_")
    return normalised in PII_KEYS or normalised.endswith(_PII_SUFFIXES)


def _mask_value(key: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    normalised = key.lower().replace("-", "_")
    if isinstance(value, str):
        if "phone" in normalised or "mobile" in normalised or normalised in {"tel", "telephone"}:
            return mask_phone(value)
        if "email" in normalised:
            return mask_email(value)
        if normalised.endswith("name"):
            return mask_name(value)
    return MASK


def redact(value: Any, _key: str | None = None) -> Any:
    """A copy of ``value`` with PII keys masked at any depth and PII patterns scrubbed from strings."""
    if _key is not None and _is_pii_key(_key):
        return _mask_value(_key, value)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else (an exception in stack_trace.value, a datetime, a Decimal) would be written
    # with str() by the JSON serialiser anyway; do it here so the text can be scrubbed.
    return redact_text(str(value))


@lru_cache(maxsize=1)
def _formatter_class() -> type[Any]:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter  # noqa: PLC0415

    class RedactingFormatter(LambdaPowertoolsFormatter):
        """Powertools' JSON formatter, redacting the structured record just before serialisation."""

        def serialize(self, log: Any) -> str:
            return str(super().serialize(redact(log)))

    return RedactingFormatter


def redacting_formatter(**options: Any) -> Any:
    """A Powertools ``LambdaPowertoolsFormatter`` that redacts every record before serialising it.

    Usable with any Powertools logger: ``Logger(service=..., logger_formatter=redacting_formatter())``.
    """
    return _formatter_class()(**options)


_lock = threading.Lock()
_loggers: dict[str, Logger] = {}


def get_logger(service: str | None = None) -> Logger:
    """The Powertools logger for ``service`` (default ``POWERTOOLS_SERVICE_NAME``), with redaction.

    Loggers are cached per service: Powertools configures the underlying ``logging.Logger`` once
    per name, so the first configuration (with the redacting formatter) must be ours.
    """
    from aws_lambda_powertools import Logger  # noqa: PLC0415

    name = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "mallcrm"
    with _lock:
        existing = _loggers.get(name)
        if existing is None:
            existing = Logger(service=name, logger_formatter=redacting_formatter())
            _loggers[name] = existing
        return existing


class LazyTracer:
    """The Powertools tracer, created on the function's first invocation rather than at import.

    Creating a Powertools ``Tracer`` imports the X-Ray SDK, whose sampler imports botocore: about
    150 ms that every handler module would pay at import. botocore is loaded by the first AWS
    client in the first invocation anyway, so building the tracer there costs the cold start
    almost nothing extra and keeps the handler modules light. Only ``capture_lambda_handler`` is
    offered: it is all the handlers use."""

    def __init__(self, service: str | None) -> None:
        self.service = service
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def tracer(self) -> Tracer:
        """The real tracer (created on first use; it does not patch libraries when created:
        the AWS SDK is patched by :func:`instrument_aws_sdk` with the first real AWS client)."""
        if self._tracer is None:
            with self._lock:
                if self._tracer is None:
                    from aws_lambda_powertools import Tracer  # noqa: PLC0415

                    self._tracer = Tracer(service=self.service, auto_patch=False)
        return self._tracer

    def capture_lambda_handler(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        traced: Callable[..., Any] | None = None

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            nonlocal traced
            if traced is None:
                traced = self.tracer.capture_lambda_handler(handler)
            return traced(event, context)

        return wrapper


def get_tracer(service: str | None = None) -> LazyTracer:
    """The tracer for a handler module (off outside Lambda via ``POWERTOOLS_TRACE_DISABLED``)."""
    return LazyTracer(service)


_aws_sdk_instrumented = False


def instrument_aws_sdk() -> None:
    """Trace AWS SDK calls as X-Ray subsegments, once per process (a no-op while tracing is off)."""
    global _aws_sdk_instrumented  # noqa: PLW0603 - process-wide, set once
    if _aws_sdk_instrumented:
        return
    from aws_lambda_powertools import Tracer  # noqa: PLC0415

    Tracer(auto_patch=False).patch(["botocore"])
    _aws_sdk_instrumented = True


def get_metrics(service: str | None = None) -> Metrics:
    """Powertools EMF metrics in the ``MallCRM`` namespace, one dimension per service."""
    from aws_lambda_powertools import Metrics  # noqa: PLC0415

    return Metrics(namespace=METRICS_NAMESPACE, service=service)
