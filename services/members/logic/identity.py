"""Identities as lookup keys: normalisation, keyed hashes and masked forms. Pure.

Every identity (WeChat openid and unionid, phone, physical card number, car plate) is a lookup key
``IDENT#<kind>#<hmac_hex>`` where ``hmac_hex = HMAC-SHA256(pepper, "<kind>:<normalised value>")``:
the table never holds the plain value as a key, and without the pepper (Secrets Manager
``LookupPepperSecret``) a leaked key cannot be reversed by enumerating phone numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date
from typing import Literal

from shared.errors import Unprocessable
from shared.observability import mask_email, mask_name, mask_phone

__all__ = [
    "EMAIL_SOURCE_MEMBER",
    "IdentityKind",
    "ident_key",
    "lookup_hash",
    "mask_birthday",
    "mask_card",
    "mask_member_email",
    "mask_member_name",
    "mask_member_phone",
    "mask_plate",
    "normalise_card",
    "normalise_email",
    "normalise_phone",
    "normalise_plate",
]

IdentityKind = Literal["openid", "unionid", "phone", "card", "plate"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = ("openid", "unionid", "phone", "card", "plate")

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Mainland plates: province, issuing-authority letter, 5 characters (6 for new-energy vehicles).
_PLATE_RE = re.compile(rf"^[{_PROVINCES}][A-Z][A-HJ-NP-Z0-9]{{4,5}}[A-HJ-NP-Z0-9挂学警]$")
_CARD_RE = re.compile(r"^[A-Z0-9]{6,32}$")
# E-mail: RFC 5322's dot-atom local part (no quoted strings, comments or IP literals: real mailboxes
# do not use them, and Amazon SES wants a 7-bit ASCII address) and a host name of LDH labels.
# Matched with fullmatch: ``$`` would accept a trailing newline.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LOCAL_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_EMAIL_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL_TLD_RE = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
EMAIL_MAX_LENGTH = 254  # RFC 5321's path limit (256) less the angle brackets
EMAIL_LOCAL_MAX_LENGTH = 64
# Who gave the e-mail address, kept in clear beside ``email_ct``. The contact directory hands an
# address to campaigns only when the member entered it themselves and confirmed it
# (docs/decisions.md, 2026-11-23); registration and PATCH are the only writers today, and an
# address from anywhere else (staff, an import) is not the member's own choice of mailbox.
EMAIL_SOURCE_MEMBER = "member"


def lookup_hash(pepper: bytes, kind: IdentityKind, normalised: str) -> str:
    return hmac.new(pepper, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def ident_key(kind: IdentityKind, hash_hex: str) -> str:
    return f"IDENT#{kind}#{hash_hex}"


def normalise_phone(raw: str, default_region: str = "CN") -> str:
    """E.164 (``+8613812341234``) of a valid mobile number; 422 ``phone_invalid`` otherwise."""
    import phonenumbers  # noqa: PLC0415 - ~50 ms: only the routes that take a phone pay for it

    error = Unprocessable(
        "phone_invalid",
        "The phone number is not valid.",
        [{"field": "phone", "message": "Not a valid number."}],
    )
    if not isinstance(raw, str) or len(raw) > 32:
        raise error
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise error from None
    if not phonenumbers.is_valid_number(number):
        raise error
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise Unprocessable(
            "phone_not_mobile",
            "A mobile number is needed.",
            [{"field": "phone", "message": "Not a mobile number."}],
        )
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_plate(raw: str) -> str:
    """``沪a·12345`` → ``沪A12345``; 422 ``plate_invalid`` for anything not a mainland plate."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    text = re.sub(r"[\s·.\-•]", "", text)
    if not _PLATE_RE.match(text):
        raise Unprocessable(
            "plate_invalid", "The car plate is not valid.", [{"field": "plates", "message": "Not a plate."}]
        )
    return text


def normalise_card(raw: str) -> str:
    text = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", raw or "")).upper()
    if not _CARD_RE.match(text):
        raise Unprocessable(
            "card_invalid",
            "The card number is not valid.",
            [{"field": "card_number", "message": "6-32 letters or digits."}],
        )
    return text


def normalise_email(raw: str) -> str:
    """``  Zhang.San@Example.COM `` → ``Zhang.San@example.com``; 422 ``email_invalid`` otherwise.

    Trimmed; the domain lower-cased (host names are case-insensitive; the local part may not be, so
    it is kept as written); at most 254 characters (64 before the ``@``); 7-bit ASCII only — Amazon
    SES does not support SMTPUTF8, and an international domain must be given in its Punycode
    (``xn--``) form. Syntax only: whether the mailbox exists is not checked (docs/decisions.md).
    """

    def invalid(message: str) -> Unprocessable:
        return Unprocessable(
            "email_invalid", "The e-mail address is not valid.", [{"field": "email", "message": message}]
        )

    text = (raw or "").strip()
    if not text.isascii():
        raise invalid("Letters, digits and ASCII symbols only; an international domain in its xn-- form.")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise invalid("Not an e-mail address.")
    domain = domain.lower().removesuffix(".")  # a trailing root dot names the same host
    address = f"{local}@{domain}"
    if len(address) > EMAIL_MAX_LENGTH or len(local) > EMAIL_LOCAL_MAX_LENGTH:
        raise invalid(f"At most {EMAIL_MAX_LENGTH} characters ({EMAIL_LOCAL_MAX_LENGTH} before the @).")
    if not _EMAIL_LOCAL_RE.fullmatch(local):
        raise invalid("Not an e-mail address.")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_EMAIL_LABEL_RE.fullmatch(label) for label in labels):
        raise invalid("Not an e-mail domain.")
    if not _EMAIL_TLD_RE.fullmatch(labels[-1]):
        raise invalid("Not an e-mail domain.")
    return address


def mask_member_email(email: str) -> str:
    """``zhang.san@example.com`` → ``z***@example.com`` (the log redaction's form)."""
    return mask_email(email)


def mask_member_phone(e164: str) -> str:
    """Mainland numbers as staff know them (``138****1234``); others keep their country code."""
    if e164.startswith("+86"):
        return mask_phone(e164[3:])
    return mask_phone(e164)


def mask_member_name(name: str) -> str:
    return mask_name(name)


def mask_plate(plate: str) -> str:
    return plate[:2] + "*" * max(len(plate) - 3, 1) + plate[-1:] if len(plate) > 3 else "****"


def mask_card(card: str) -> str:
    return "****" + card[-4:] if len(card) > 4 else "****"


def mask_birthday(birthday: date) -> str:
    """The year hidden: month and day are what the birthday journey uses (and kept clear in gsi2)."""
    return f"****-{birthday.month:02d}-{birthday.day:02d}"
