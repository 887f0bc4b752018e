"""Parking: sessions from the car park, the member's quote before exit, the fee offset with points
or a parking coupon, and settlement with the tier's free hours (pure).

**Plates** never appear in loyalty's data: a plate becomes ``vehicle_ref`` = HMAC-SHA256(members'
lookup pepper, ``"plate:" + normalised plate``) — exactly members' lookup hash for plates (members
shares the pepper read-only), so the ParkingSessionSettled ``vehicle_ref`` matches members' key.

**Who is the member?** The plate → member projection (``MemberVehiclesChanged`` from members): a
bound plate gets its member's tier free hours at exit. Any member may quote and pay the fee for a
plate from the mini-program (paying for a friend's car is common); free hours need the binding.

**Money**: the car park's fee at exit is authoritative. Free hours are worth what the tariff charges
for the last ``free`` minutes of the stay (``fee(total) - fee(total - free)``), never more than the
fee; an offset paid before exit is subtracted; the gate charges the rest (``paid_cents``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.loyalty.logic.coupons import normalise_code
from services.loyalty.logic.errors import NonceReused, SourceMismatch
from services.loyalty.logic.purchases import NonceClaim
from services.loyalty.logic.wallet_errors import (
    CouponAlreadyRedeemed,
    CouponNotFound,
    CouponNotUsable,
    CouponNotYours,
    ParkingConflict,
    ParkingSessionNotFound,
)
from services.loyalty.models.coupons import Coupon
from services.loyalty.models.parking import OffsetRequest, ParkingSession, ParkingSessionIn
from shared.errors import Unprocessable
from shared.events.contracts import ParkingSessionSettled

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Same rule as members' identity.normalise_plate (a contract test compares the two).
_PLATE_RE = re.compile(rf"^[{_PROVINCES}][A-Z][A-HJ-NP-Z0-9]{{4,5}}[A-HJ-NP-Z0-9挂学警]$")
DAY_MINUTES = 24 * 60
MAX_DRIFT = timedelta(minutes=5)


def normalise_plate(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw or "").upper()
    text = re.sub(r"[\s·.\-•]", "", text)
    if not _PLATE_RE.match(text):
        raise Unprocessable(
            "plate_invalid", "The car plate is not valid.", [{"field": "plate", "message": "Not a plate."}]
        )
    return text


def vehicle_ref(pepper: bytes, plate: str) -> str:
    """Members' lookup hash of a normalised plate (``lookup_hash(pepper, "plate", plate)``)."""
    return hmac.new(pepper, f"plate:{plate}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Tariff:
    rate_cents_per_hour: int
    daily_cap_cents: int

    def fee(self, minutes: int) -> int:
        """Each started hour at the rate; each started 24 h at most the daily cap."""
        if minutes <= 0:
            return 0
        days, rest = divmod(minutes, DAY_MINUTES)
        return days * self.daily_cap_cents + min(
            math.ceil(rest / 60) * self.rate_cents_per_hour, self.daily_cap_cents
        )

    def value_of_last(self, total_minutes: int, minutes: int) -> int:
        """What the last ``minutes`` of a ``total_minutes`` stay cost: free hours, parking coupons."""
        return self.fee(total_minutes) - self.fee(max(0, total_minutes - minutes))


def minutes_between(start: datetime, end: datetime) -> int:
    return max(0, math.ceil((end - start).total_seconds() / 60))


@dataclass(frozen=True)
class Charge:
    fee_cents: int
    free_minutes: int
    free_cents: int
    offset_cents: int
    due_cents: int


def charge(*, fee_cents: int, minutes: int, free_minutes: int, offset_cents: int, tariff: Tariff) -> Charge:
    free_cents = min(fee_cents, tariff.value_of_last(minutes, free_minutes)) if free_minutes else 0
    due = max(0, fee_cents - free_cents - offset_cents)
    return Charge(
        fee_cents=fee_cents,
        free_minutes=min(free_minutes, minutes),
        free_cents=free_cents,
        offset_cents=offset_cents,
        due_cents=due,
    )


def points_for_cents(cents: int, points_per_yuan: int) -> int:
    """Points that pay ``cents`` (rounded up: a fen short is still short)."""
    return math.ceil(cents * points_per_yuan / 100)


# --- flows -----------------------------------------------------------------------------------------


class ParkingRepository(Protocol):
    def get_session(self, source_system: str, external_id: str) -> ParkingSession | None: ...

    def open_session_for(self, ref: str) -> ParkingSession | None: ...

    def bound_member(self, ref: str) -> str | None: ...

    def claim_nonce(self, nonce: NonceClaim) -> bool: ...

    def open(self, session: ParkingSession, nonce: NonceClaim) -> bool:
        """Store a new open session (and the car's open pointer); False when it exists."""

    def settle(
        self,
        before: ParkingSession | None,
        settled: ParkingSession,
        event: ParkingSessionSettled,
        nonce: NonceClaim,
        correlation_id: str,
    ) -> bool:
        """Store the settled session if ``before`` is still what is stored; False otherwise."""

    def offset_with_points(
        self,
        session: ParkingSession,
        member_id: str,
        *,
        points: int,
        cents: int,
        request_id: str,
        now: datetime,
        correlation_id: str,
    ) -> bool: ...

    def offset_with_coupon(
        self,
        session: ParkingSession,
        member_id: str,
        coupon: Coupon,
        *,
        cents: int,
        request_id: str,
        now: datetime,
        correlation_id: str,
    ) -> bool: ...


@dataclass(frozen=True)
class Recorded:
    session: ParkingSession
    replayed: bool


def _same_entry(a: ParkingSession, request: ParkingSessionIn, ref: str) -> bool:
    return a.vehicle_ref == ref and a.entered_at == request.entered_at


def record_session(
    request: ParkingSessionIn,
    *,
    signed_source: str,
    nonce: NonceClaim,
    repo: ParkingRepository,
    pepper: bytes,
    tariff: Tariff,
    free_minutes_of: Callable[[str], int],
    now: datetime,
    new_id: Callable[[], str],
    correlation_id: str,
) -> Recorded:
    """An entry opens a session; an exit settles it (creating it when the entry never came), with the
    plate's member's free hours and the member's offset; ParkingSessionSettled. Idempotent per
    external id: a repeat answers the stored session, other content is 409."""
    if request.source_system != signed_source:
        raise SourceMismatch()
    latest = request.exited_at or request.entered_at
    if latest > now + MAX_DRIFT:
        raise Unprocessable(fields=[{"field": "exited_at", "message": "Must not be in the future."}])
    ref = vehicle_ref(pepper, normalise_plate(request.plate))
    for _ in range(3):
        existing = repo.get_session(request.source_system, request.external_id)
        if existing is not None and (request.exited_at is None or existing.status == "settled"):
            if not repo.claim_nonce(nonce):
                raise NonceReused()
            same = _same_entry(existing, request, ref) and (
                request.exited_at is None
                or (existing.exited_at == request.exited_at and existing.fee_cents == request.fee_cents)
            )
            if not same:
                raise ParkingConflict()
            return Recorded(existing, replayed=True)
        if existing is not None and not _same_entry(existing, request, ref):
            raise ParkingConflict()
        if request.exited_at is None:
            session = ParkingSession(
                session_id=new_id(),
                source_system=request.source_system,
                external_id=request.external_id,
                vehicle_ref=ref,
                entered_at=request.entered_at,
            )
            if repo.open(session, nonce):
                return Recorded(session, replayed=False)
            continue  # a concurrent duplicate: answer as a repeat
        assert request.fee_cents is not None
        base = existing or ParkingSession(
            session_id=new_id(),
            source_system=request.source_system,
            external_id=request.external_id,
            vehicle_ref=ref,
            entered_at=request.entered_at,
        )
        member_id = repo.bound_member(ref)
        minutes = minutes_between(base.entered_at, request.exited_at)
        bill = charge(
            fee_cents=request.fee_cents,
            minutes=minutes,
            free_minutes=free_minutes_of(member_id) if member_id else 0,
            offset_cents=base.offset_cents,
            tariff=tariff,
        )
        settled = base.model_copy(
            update={
                "status": "settled",
                "exited_at": request.exited_at,
                "fee_cents": request.fee_cents,
                "member_id": member_id,
                "free_minutes_applied": bill.free_minutes if bill.free_cents else 0,
                "free_cents": bill.free_cents,
                "paid_cents": bill.due_cents,
                "settled_at": now,
            }
        )
        event = ParkingSessionSettled(
            session_id=settled.session_id,
            member_id=member_id or base.offset_member_id,
            vehicle_ref=ref,
            entered_at=settled.entered_at,
            exited_at=request.exited_at,
            fee_cents=request.fee_cents,
            paid_cents=bill.due_cents,
            free_minutes_applied=settled.free_minutes_applied,
        )
        if repo.settle(existing, settled, event, nonce, correlation_id):
            return Recorded(settled, replayed=False)
    raise ParkingConflict("parking_session_busy", "The session changed while it was settled; retry.")


def quote(
    member_id: str,
    plate: str,
    *,
    repo: ParkingRepository,
    pepper: bytes,
    tariff: Tariff,
    free_minutes_of: Callable[[str], int],
    now: datetime,
) -> tuple[ParkingSession, Charge, int]:
    """The open session of ``plate`` as of ``now``: (session, charge, minutes). Free hours apply when
    the plate is bound to this member."""
    ref = vehicle_ref(pepper, normalise_plate(plate))
    session = repo.open_session_for(ref)
    if session is None:
        raise ParkingSessionNotFound()
    minutes = minutes_between(session.entered_at, now)
    free = free_minutes_of(member_id) if repo.bound_member(ref) == member_id else 0
    bill = charge(
        fee_cents=tariff.fee(minutes),
        minutes=minutes,
        free_minutes=free,
        offset_cents=session.offset_cents,
        tariff=tariff,
    )
    return session, bill, minutes


def offset_fee(
    member_id: str,
    plate: str,
    request: OffsetRequest,
    *,
    repo: ParkingRepository,
    find_coupon: Callable[[str], Coupon | None],
    pepper: bytes,
    tariff: Tariff,
    free_minutes_of: Callable[[str], int],
    points_per_yuan: int,
    now: datetime,
    correlation_id: str,
) -> ParkingSession:
    """Pay what is due now with points (all of it) or a parking coupon (its minutes' worth, at most
    what is due). One offset per session; the same ``request_id`` again answers the session."""
    session, bill, minutes = quote(
        member_id, plate, repo=repo, pepper=pepper, tariff=tariff, free_minutes_of=free_minutes_of, now=now
    )
    if session.offset_method is not None:
        if session.offset_request_id == request.request_id and session.offset_member_id == member_id:
            return session
        raise ParkingConflict("parking_fee_already_offset", "The fee of this stay was already offset.")
    if bill.due_cents == 0:
        raise ParkingConflict("parking_nothing_due", "Nothing is due for this stay.")
    if request.method == "points":
        points = points_for_cents(bill.due_cents, points_per_yuan)
        done = repo.offset_with_points(
            session,
            member_id,
            points=points,
            cents=bill.due_cents,
            request_id=request.request_id,
            now=now,
            correlation_id=correlation_id,
        )
    else:
        coupon = find_coupon(normalise_code(request.coupon_code or ""))
        if coupon is None:
            raise CouponNotFound()
        if coupon.member_id != member_id:
            raise CouponNotYours()
        if coupon.kind != "parking":
            raise CouponNotUsable("coupon_not_for_parking", "This coupon is not a parking coupon.")
        if coupon.status == "redeemed":
            raise CouponAlreadyRedeemed()
        if coupon.status != "issued" or not (coupon.valid_from <= now <= coupon.valid_until):
            raise CouponNotUsable()
        cents = min(bill.due_cents, tariff.value_of_last(minutes, coupon.parking_minutes or 0))
        done = repo.offset_with_coupon(
            session,
            member_id,
            coupon,
            cents=cents,
            request_id=request.request_id,
            now=now,
            correlation_id=correlation_id,
        )
    if not done:
        raise ParkingConflict("parking_fee_already_offset", "The fee of this stay was already offset.")
    updated = repo.open_session_for(session.vehicle_ref)
    if updated is None:  # settled in between: the offset was recorded on it
        raise ParkingSessionNotFound()
    return updated
