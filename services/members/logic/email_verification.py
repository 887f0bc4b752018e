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

A new or removed address (PATCH) removes ``email_verified_at`` in the same update. Limits, stored
with the pending item (none in memory): one code per member per ``RESEND_SECONDS``, at most
``MAX_CODES_PER_DAY`` in a rolling day whatever the address (changing the address does not reset
them, so a member cannot mail-bomb a list of strangers), ``MAX_ATTEMPTS`` wrong codes void a code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.members.logic.members import PRODUCER, Delete, Put, UpdateProfile, Write, member_key
from shared import clock
from shared.errors import Conflict, TooManyRequests, Unprocessable
from shared.events.contracts import MemberProfileUpdated
from shared.outbox import outbox_item

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=30)  # mail can take minutes to arrive; 6 digits, 5 attempts
RESEND_SECONDS = 60
MAX_CODES_PER_DAY = 5
MAX_ATTEMPTS = 5
PENDING_SK = "EMAILVERIFY"
VERIFIED_FIELD = "email_verified"  # the name MemberProfileUpdated carries


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def address_hash(key: bytes, address: str) -> str:
    """The address a code was sent to, as a keyed hash (the pending item holds no address)."""
    return hmac.new(key, f"email:{address}".encode(), hashlib.sha256).hexdigest()


def code_mac(key: bytes, member_id: str, hashed_address: str, code: str) -> str:
    return hmac.new(key, f"{member_id}|{hashed_address}|{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeRequest:
    code: str
    item: dict[str, Any]
    expected_version: int | None  # None: no pending item was read (attribute_not_exists)


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
    hashed = address_hash(key, address)
    version = int(pending.get("version") or 0) if pending is not None else 0
    item = {
        **member_key(member_id, PENDING_SK),
        "entity": "email_verification",
        "member_id": member_id,
        "address_hash": hashed,
        "code_mac": code_mac(key, member_id, hashed, code),
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
        or not hmac.compare_digest(str(pending.get("address_hash")), address_hash(key, address))
    ):
        raise Conflict(
            "no_email_verification_pending", "Ask for a code for your current e-mail address first."
        )
    if int(pending.get("attempts") or 0) >= MAX_ATTEMPTS:
        raise TooManyRequests("too_many_attempts", "Too many wrong codes; ask for a new one.")
    if now.timestamp() > int(pending["expires_at_epoch"]):
        raise Unprocessable("code_expired", "The code has expired; ask for a new one.")
    expected = code_mac(key, member_id, str(pending["address_hash"]), code.strip())
    if not hmac.compare_digest(expected, str(pending["code_mac"])):
        raise WrongCode()


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
        Delete(
            member_key(member_id, PENDING_SK),
            expected={"code_mac": pending["code_mac"], "attempts": int(pending.get("attempts") or 0)},
            conflict="email_code_used",
        ),
        Put(outbox_item(event, correlation_id=correlation_id, producer=PRODUCER, now=now)),
    ]
    return writes, {**profile, **changes}
