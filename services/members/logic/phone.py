"""Changing a member's phone with SMS verification. Pure.

1. ``POST /v1/members/me/phone/verification {phone}`` — the new number is normalised (E.164), must
   differ from the current one and (as a courtesy: the binding check is step 2's conditional write)
   belong to nobody. A 6-digit code is drawn, only its MAC is stored in the pending item
   ``MEMBER#<id>`` / ``PHONECHANGE`` together with the new number sealed under the member's data
   key and its lookup hash; then the code is sent by SMS to the **new** number.
2. ``POST /v1/members/me/phone {code}`` — a matching, unexpired code moves the phone lookup key in
   one transaction: profile update (version), new ``IDENT#phone#<hmac>`` Put
   (``attribute_not_exists``: one member per phone, so of two members verifying the same number at
   once exactly one wins, the other gets 409), old lookup key Delete (still ours), back-references,
   the pending item Delete (condition: the attempt count read — a code works once) and
   ``MemberProfileUpdated`` (``changed_fields: ["phone"]``).

Rate limits (all stored, none in memory): one code per member per ``RESEND_SECONDS``; at most
``MAX_CODES_PER_DAY`` codes per member in a rolling day; at most ``MAX_CODES_PER_NUMBER_PER_DAY``
codes to one number per mall day whoever asks (a counter item per number hash), so nobody can
flood a stranger's phone; at most ``MAX_ATTEMPTS`` wrong codes, then the code is void (ask again).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.members.logic.identity import lookup_hash
from services.members.logic.members import (
    PRODUCER,
    Delete,
    Put,
    UpdateProfile,
    Write,
    ident_removal,
    ident_writes,
    member_key,
)
from shared import clock
from shared.errors import Conflict, TooManyRequests, Unprocessable
from shared.events.contracts import MemberProfileUpdated
from shared.outbox import outbox_item

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
RESEND_SECONDS = 60
MAX_CODES_PER_DAY = 5
MAX_CODES_PER_NUMBER_PER_DAY = 5
MAX_ATTEMPTS = 5
PENDING_SK = "PHONECHANGE"
PENDING_FIELD = "phone"  # sealed as the member's phone field (vault.open knows it): ``phone_ct``


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_mac(key: bytes, member_id: str, phone_hash: str, code: str) -> str:
    """The stored form of a code: bound to the member and the number it was sent to."""
    return hmac.new(key, f"{member_id}|{phone_hash}|{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeRequest:
    """A code to send and the pending item to write (condition: the version read)."""

    code: str
    item: dict[str, Any]
    expected_version: int | None  # None: no pending item was read (attribute_not_exists)


def plan_code_request(
    *,
    member_id: str,
    pending: Mapping[str, Any] | None,
    phone_hash: str,
    sealed_phone: Mapping[str, str],
    key: bytes,
    now: datetime,
    code: str,
) -> CodeRequest:
    """The pending item for a new code; :class:`TooManyRequests` when the member asked too often."""
    moment = int(now.timestamp())
    window_start, sent = moment, 0
    if pending is not None:
        last = int(pending.get("last_sent_at_epoch") or 0)
        if moment - last < RESEND_SECONDS:
            raise TooManyRequests(
                "code_requested_too_soon", f"Wait {RESEND_SECONDS - (moment - last)} s before asking again."
            )
        if moment - int(pending.get("window_start_epoch") or 0) < 86_400:
            window_start, sent = int(pending["window_start_epoch"]), int(pending.get("codes_in_window") or 0)
        if sent >= MAX_CODES_PER_DAY:
            raise TooManyRequests("too_many_codes", "Too many codes today; try again tomorrow.")
    version = int(pending.get("version") or 0) if pending is not None else 0
    item = {
        "pk": f"MEMBER#{member_id}",
        "sk": PENDING_SK,
        "entity": "phone_change",
        "member_id": member_id,
        "phone_hash": phone_hash,
        **sealed_phone,
        "code_mac": code_mac(key, member_id, phone_hash, code),
        "expires_at_epoch": moment + int(CODE_TTL.total_seconds()),
        "attempts": 0,
        "last_sent_at_epoch": moment,
        "window_start_epoch": window_start,
        "codes_in_window": sent + 1,
        "version": version + 1,
        "requested_at": clock.to_utc_iso(now),
        "ttl": moment + 86_400 * 2,
    }
    return CodeRequest(code=code, item=item, expected_version=version if pending is not None else None)


class WrongCode(Unprocessable):
    CODE = "code_invalid"
    MESSAGE = "The code is not right."


def check_code(
    pending: Mapping[str, Any] | None, *, member_id: str, code: str, key: bytes, now: datetime
) -> None:
    """Raises unless ``code`` confirms the pending change: 409 ``no_phone_change_pending``, 422
    ``code_expired``, 429 ``too_many_attempts``, :class:`WrongCode` (the caller counts it)."""
    if pending is None:
        raise Conflict("no_phone_change_pending", "Ask for a code first.")
    if int(pending.get("attempts") or 0) >= MAX_ATTEMPTS:
        raise TooManyRequests("too_many_attempts", "Too many wrong codes; ask for a new one.")
    if now.timestamp() > int(pending["expires_at_epoch"]):
        raise Unprocessable("code_expired", "The code has expired; ask for a new one.")
    expected = code_mac(key, member_id, str(pending["phone_hash"]), code.strip())
    if not hmac.compare_digest(expected, str(pending["code_mac"])):
        raise WrongCode()


# --- the confirmed change ------------------------------------------------------------------------


def plan_phone_change(
    *,
    profile: Mapping[str, Any],
    old_phone: str,
    pending: Mapping[str, Any],
    sealed_phone: Mapping[str, str],
    pepper: bytes,
    now: datetime,
    correlation_id: str,
) -> list[Write]:
    """The one transaction that moves the phone (see the module doc)."""
    member_id = str(profile["member_id"])
    at = clock.to_utc_iso(now)
    version = int(profile.get("version") or 1)
    event = MemberProfileUpdated(
        member_id=member_id, changed_fields=["phone"], updated_at=now, updated_by="member"
    )
    return [
        UpdateProfile(member_id, version, {**sealed_phone, "version": version + 1, "updated_at": at}),
        *ident_writes(member_id, "phone", str(pending["phone_hash"]), at),
        *ident_removal(member_id, "phone", lookup_hash(pepper, "phone", old_phone)),
        Delete(
            member_key(member_id, PENDING_SK),
            expected={"code_mac": pending["code_mac"], "attempts": int(pending.get("attempts") or 0)},
            conflict="phone_code_used",
        ),
        Put(outbox_item(event, correlation_id=correlation_id, producer=PRODUCER, now=now)),
    ]
