"""Verifying the member's e-mail address with a code sent to it. Pure.

The address is entered with registration or ``PATCH /v1/members/me`` and kept unverified; the
contact directory hands it to campaigns only once it is verified (docs/decisions.md, 2026-11-23):
a mistyped address that belongs to a stranger would otherwise receive the member's marketing.

1. ``POST /v1/members/me/email/verification`` — a 6-digit code is drawn for the member's current
   address; only its MAC is stored, bound to the member and the address's keyed hash, in
   ``MEMBER#<id>`` / ``EMAILVERIFY`` (no address in that item: the profile's sealed one is the
   address); then the code goes to the address by e-mail.
2. ``POST /v1/members/me/email/confirmation {code}`` — a matching, unexpired code for the address the
   profile holds *now* sets ``email_verified_at`` in one transaction: the profile update (condition:
   the version read, so an address changed meanwhile fails), the pending item's Delete (condition:
   the attempt count read — a code works once) and ``MemberProfileUpdated`` ``["email_verified"]``.

A new or removed address (PATCH) removes ``email_verified_at`` in the same update. The code itself
(drawn, stored as a MAC, limits, check) is :mod:`one_time_code`'s, under the policy ``CODES``: one
code per member per minute, at most five in a rolling day whatever the address (the pending item,
and so its counters, is one per member: changing the address does not reset them, so a member
cannot mail-bomb a list of strangers), five wrong codes void a code, valid 30 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.members.logic import one_time_code
from services.members.logic.members import PRODUCER, Put, UpdateProfile, Write
from services.members.logic.one_time_code import CodeRequest, OneTimeCodePolicy, WrongCode, new_code
from shared import clock
from shared.errors import Conflict
from shared.events.contracts import MemberProfileUpdated
from shared.outbox import outbox_item

__all__ = [  # WrongCode and new_code: one_time_code's, under this purpose's names too
    "CODES",
    "MAX_ATTEMPTS",
    "MAX_CODES_PER_DAY",
    "VERIFIED_FIELD",
    "CodeRequest",
    "WrongCode",
    "address_hash",
    "check_code",
    "new_code",
    "plan_code_request",
    "plan_verified",
]

CODES = OneTimeCodePolicy(
    purpose="email_verification",
    pending_sk="EMAILVERIFY",
    target_field="address_hash",
    ttl=timedelta(minutes=30),  # mail can take minutes to arrive; 6 digits, 5 attempts
    resend_seconds=60,
    max_codes_per_day=5,
    max_attempts=5,
    not_pending=("no_email_verification_pending", "Ask for a code for your current e-mail address first."),
    request_conflict="email_verification_conflict",
    code_used="email_code_used",
)
MAX_CODES_PER_DAY = CODES.max_codes_per_day
MAX_ATTEMPTS = CODES.max_attempts
VERIFIED_FIELD = "email_verified"  # the name MemberProfileUpdated carries


def address_hash(key: bytes, address: str) -> str:
    """The address a code was sent to, as a keyed hash (the pending item holds no address)."""
    return hmac.new(key, f"email:{address}".encode(), hashlib.sha256).hexdigest()


def plan_code_request(
    *,
    member_id: str,
    profile: Mapping[str, Any],
    address: str | None,
    pending: Mapping[str, Any] | None,
    key: bytes,
    now: datetime,
    code: str,
) -> CodeRequest:
    """The pending item for a new code: 409 without an address or when it is verified already; 429
    when the member asked too often."""
    if not address:
        raise Conflict("no_email", "Add an e-mail address first (PATCH /v1/members/me).")
    if profile.get("email_verified_at"):
        raise Conflict("email_already_verified", "This e-mail address is verified already.")
    return one_time_code.plan_code_request(
        CODES,
        member_id=member_id,
        pending=pending,
        target_hash=address_hash(key, address),
        key=key,
        now=now,
        code=code,
    )


def check_code(
    pending: Mapping[str, Any] | None,
    *,
    member_id: str,
    address: str | None,
    code: str,
    key: bytes,
    now: datetime,
) -> None:
    """Raises unless ``code`` verifies the address the profile holds now: 409
    ``no_email_verification_pending`` (none asked for, or asked for another address), 429
    ``too_many_attempts``, 422 ``code_expired``, :class:`WrongCode` (the caller counts it)."""
    if (
        pending is None
        or not address
        or not hmac.compare_digest(str(pending.get(CODES.target_field)), address_hash(key, address))
    ):
        raise CODES.nothing_pending()
    one_time_code.check_code(CODES, pending, member_id=member_id, code=code, key=key, now=now)


def plan_verified(
    *, profile: Mapping[str, Any], pending: Mapping[str, Any], now: datetime, correlation_id: str
) -> tuple[list[Write], dict[str, Any]]:
    """The one transaction that marks the address verified, and the profile after it."""
    member_id = str(profile["member_id"])
    at = clock.to_utc_iso(now)
    version = int(profile.get("version") or 1)
    changes = {"email_verified_at": at, "version": version + 1, "updated_at": at}
    event = MemberProfileUpdated(
        member_id=member_id, changed_fields=[VERIFIED_FIELD], updated_at=now, updated_by="member"
    )
    writes: list[Write] = [
        UpdateProfile(member_id, version, changes),
        one_time_code.consume(CODES, member_id, pending),
        Put(outbox_item(event, correlation_id=correlation_id, producer=PRODUCER, now=now)),
    ]
    return writes, {**profile, **changes}
