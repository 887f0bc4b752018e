"""One-time codes sent to a member's phone or e-mail address. Pure.

A code proves that the member reads the target it was sent to (a new phone number, the e-mail
address on the profile). The rules are the same whatever the target, so they live here once and
:mod:`services.members.logic.phone` and :mod:`services.members.logic.email_verification` state
only their :class:`OneTimeCodePolicy` and what a confirmed code changes.

* A code is ``CODE_DIGITS`` random digits (``secrets``; the confirm routes' models take six). It
  is never stored: the pending item ``MEMBER#<id>`` / ``<policy.pending_sk>`` holds its HMAC bound
  to the member and to the keyed hash of the target (``<policy.target_field>``), so a code works
  only for the member and the target it was sent to, and a leaked item tells nothing. Each purpose
  MACs under its own key (derived from the member-token secret, ``Deps.phone_code_key`` /
  ``Deps.email_code_key``).
* Limits, all stored in the pending item (none in memory, so they hold across Lambda instances):
  one code per ``resend_seconds``; at most ``max_codes_per_day`` in a rolling day
  (``window_start_epoch`` / ``codes_in_window``, kept when a new code replaces the old one);
  ``max_attempts`` wrong codes void the code (ask for a new one); a code expires after ``ttl``.
* Concurrency: the pending item carries ``version``; the DAL writes it on condition that it is the
  version read (or that none existed), so of two requests at once one wins. Confirming deletes it
  on condition that ``code_mac`` and ``attempts`` are as read (:func:`consume`): a code works once,
  and a wrong guess counted meanwhile voids the confirmation.
* Codes are compared with :func:`hmac.compare_digest` (constant time), so timing does not tell how
  much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.members.logic.members import Delete, member_key
from shared import clock
from shared.errors import Conflict, TooManyRequests, Unprocessable

CODE_DIGITS = 6
ROLLING_DAY_SECONDS = 86_400
PENDING_KEPT_SECONDS = 86_400 * 2  # the pending item's DynamoDB ttl: outlives the daily window


@dataclass(frozen=True)
class OneTimeCodePolicy:
    """What differs between the uses of one-time codes: limits, item and error names."""

    purpose: str  # the pending item's ``entity``
    pending_sk: str  # the pending item's sort key under ``MEMBER#<id>``
    target_field: str  # the attribute holding the target's keyed hash
    ttl: timedelta
    resend_seconds: int
    max_codes_per_day: int
    max_attempts: int
    not_pending: tuple[str, str]  # 409 (code, message) when no code was asked for (this target)
    request_conflict: str  # 409 code when another code request wrote the pending item meanwhile
    code_used: str  # 409 code when the pending item changed between check and confirmation

    @property
    def expires_in(self) -> int:
        """The code's lifetime in seconds (the 202 answer's ``expires_in``)."""
        return int(self.ttl.total_seconds())

    def nothing_pending(self) -> Conflict:
        return Conflict(*self.not_pending)


def new_code(digits: int = CODE_DIGITS) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_mac(key: bytes, member_id: str, target_hash: str, code: str) -> str:
    """The stored form of a code: bound to the member and the (hashed) target it was sent to."""
    return hmac.new(key, f"{member_id}|{target_hash}|{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeRequest:
    """A code to send and the pending item to write (condition: the version read)."""

    code: str
    item: dict[str, Any]
    expected_version: int | None  # None: no pending item was read (attribute_not_exists)


def plan_code_request(
    policy: OneTimeCodePolicy,
    *,
    member_id: str,
    pending: Mapping[str, Any] | None,
    target_hash: str,
    key: bytes,
    now: datetime,
    code: str,
    extra: Mapping[str, Any] | None = None,
) -> CodeRequest:
    """The pending item for a new code (``extra``: further attributes, e.g. the sealed new phone);
    :class:`TooManyRequests` when the member asked too soon or too often."""
    moment = int(now.timestamp())
    window_start, sent = moment, 0
    if pending is not None:
        last = int(pending.get("last_sent_at_epoch") or 0)
        if moment - last < policy.resend_seconds:
            raise TooManyRequests(
                "code_requested_too_soon",
                f"Wait {policy.resend_seconds - (moment - last)} s before asking again.",
            )
        if moment - int(pending.get("window_start_epoch") or 0) < ROLLING_DAY_SECONDS:
            window_start, sent = int(pending["window_start_epoch"]), int(pending.get("codes_in_window") or 0)
        if sent >= policy.max_codes_per_day:
            raise TooManyRequests("too_many_codes", "Too many codes today; try again tomorrow.")
    version = int(pending.get("version") or 0) if pending is not None else 0
    item = {
        **member_key(member_id, policy.pending_sk),
        "entity": policy.purpose,
        "member_id": member_id,
        policy.target_field: target_hash,
        **(extra or {}),
        "code_mac": code_mac(key, member_id, target_hash, code),
        "expires_at_epoch": moment + policy.expires_in,
        "attempts": 0,
        "last_sent_at_epoch": moment,
        "window_start_epoch": window_start,
        "codes_in_window": sent + 1,
        "version": version + 1,
        "requested_at": clock.to_utc_iso(now),
        "ttl": moment + PENDING_KEPT_SECONDS,
    }
    return CodeRequest(code=code, item=item, expected_version=version if pending is not None else None)


class WrongCode(Unprocessable):
    CODE = "code_invalid"
    MESSAGE = "The code is not right."


def attempts_read(pending: Mapping[str, Any]) -> int:
    return int(pending.get("attempts") or 0)


def check_code(
    policy: OneTimeCodePolicy,
    pending: Mapping[str, Any] | None,
    *,
    member_id: str,
    code: str,
    key: bytes,
    now: datetime,
) -> None:
    """Raises unless ``code`` matches the pending one: 409 ``policy.not_pending``, 429
    ``too_many_attempts``, 422 ``code_expired``, :class:`WrongCode` (the caller counts it, see
    :func:`wrong_code_answer`). Exhaustion is told before expiry, whatever the code."""
    if pending is None:
        raise policy.nothing_pending()
    if attempts_read(pending) >= policy.max_attempts:
        raise TooManyRequests("too_many_attempts", "Too many wrong codes; ask for a new one.")
    if now.timestamp() > int(pending["expires_at_epoch"]):
        raise Unprocessable("code_expired", "The code has expired; ask for a new one.")
    expected = code_mac(key, member_id, str(pending[policy.target_field]), code.strip())
    if not hmac.compare_digest(expected, str(pending["code_mac"])):
        raise WrongCode()


def wrong_code_answer(policy: OneTimeCodePolicy, attempts: int) -> WrongCode:
    """The 422 a member gets for a wrong code once it is counted (``attempts``: the count read)."""
    left = max(policy.max_attempts - attempts - 1, 0)
    return WrongCode("code_invalid", f"The code is not right ({left} attempts left).")


def consume(policy: OneTimeCodePolicy, member_id: str, pending: Mapping[str, Any]) -> Delete:
    """The confirming transaction's Delete of the pending item: only while its code and attempt
    count are as read (a code works once; a wrong guess counted meanwhile voids it)."""
    return Delete(
        member_key(member_id, policy.pending_sk),
        expected={"code_mac": pending["code_mac"], "attempts": attempts_read(pending)},
        conflict=policy.code_used,
    )
