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

The code itself (drawn, stored as a MAC, limits, check) is :mod:`one_time_code`'s, under the
policy ``CODES``: one code per member per minute, at most five in a rolling day, five wrong codes
void it, valid five minutes. Phone change adds one limit of its own: at most
``MAX_CODES_PER_NUMBER_PER_DAY`` codes to one number per mall day whoever asks (a counter item per
number hash, ``dal/phone.py``), so nobody can flood a stranger's phone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.members.logic import one_time_code
from services.members.logic.identity import lookup_hash
from services.members.logic.members import (
    PRODUCER,
    Put,
    UpdateProfile,
    Write,
    ident_removal,
    ident_writes,
)
from services.members.logic.one_time_code import CodeRequest, OneTimeCodePolicy, WrongCode, code_mac, new_code
from shared import clock
from shared.events.contracts import MemberProfileUpdated
from shared.outbox import outbox_item

__all__ = [  # WrongCode, code_mac and new_code: one_time_code's, under this purpose's names too
    "CODES",
    "MAX_ATTEMPTS",
    "MAX_CODES_PER_DAY",
    "MAX_CODES_PER_NUMBER_PER_DAY",
    "PENDING_FIELD",
    "CodeRequest",
    "WrongCode",
    "check_code",
    "code_mac",
    "new_code",
    "plan_code_request",
    "plan_phone_change",
]

CODES = OneTimeCodePolicy(
    purpose="phone_change",
    pending_sk="PHONECHANGE",
    target_field="phone_hash",
    ttl=timedelta(minutes=5),
    resend_seconds=60,
    max_codes_per_day=5,
    max_attempts=5,
    not_pending=("no_phone_change_pending", "Ask for a code first."),
    request_conflict="phone_change_conflict",
    code_used="phone_code_used",
)
MAX_CODES_PER_DAY = CODES.max_codes_per_day
MAX_ATTEMPTS = CODES.max_attempts
MAX_CODES_PER_NUMBER_PER_DAY = 5
PENDING_FIELD = "phone"  # sealed as the member's phone field (vault.open knows it): ``phone_ct``


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
    """The pending item for a new code (the new number sealed in it); :class:`TooManyRequests`
    when the member asked too often."""
    return one_time_code.plan_code_request(
        CODES,
        member_id=member_id,
        pending=pending,
        target_hash=phone_hash,
        key=key,
        now=now,
        code=code,
        extra=sealed_phone,
    )


def check_code(
    pending: Mapping[str, Any] | None, *, member_id: str, code: str, key: bytes, now: datetime
) -> None:
    """Raises unless ``code`` confirms the pending change: 409 ``no_phone_change_pending``, 422
    ``code_expired``, 429 ``too_many_attempts``, :class:`WrongCode` (the caller counts it)."""
    one_time_code.check_code(CODES, pending, member_id=member_id, code=code, key=key, now=now)


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
        one_time_code.consume(CODES, member_id, pending),
        Put(outbox_item(event, correlation_id=correlation_id, producer=PRODUCER, now=now)),
    ]
