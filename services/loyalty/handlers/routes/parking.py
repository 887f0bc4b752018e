"""Parking: the car park's signed sessions, the member's quote and fee offset.

``POST /v1/integrations/parking-sessions`` (signed like purchases: shared.auth HMAC per source);
``GET /v1/members/me/parking/{plate}/quote`` and ``POST /v1/members/me/parking/{plate}/offset``
(member).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from services.loyalty.handlers.routes.wallet_deps import correlation_id, parse_body
from services.loyalty.models.parking import OffsetRequest, ParkingSession, ParkingSessionIn
from services.loyalty.models.wallet_settings import ParkingSettings
from shared import clock
from shared.api import json_response
from shared.auth import event_body_bytes, principal_from_event, require_member
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics
from shared.secrets import secret_bytes
from shared.settings import load
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.parking import DynamoParkingRepository
    from services.loyalty.dal.wallet_points import LedgerPoints
    from services.loyalty.logic import parking as logic

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")
SESSIONS_PATH = "/v1/integrations/parking-sessions"


@dataclass
class ParkingDeps:
    settings: ParkingSettings

    @classmethod
    def load(cls) -> ParkingDeps:
        return cls(load(ParkingSettings))

    @property
    def tz(self) -> Any:
        return clock.zone(self.settings.mall_timezone)

    def pepper(self) -> bytes:
        return secret_bytes(self.settings.lookup_pepper_secret_arn, self.settings.secret_cache_seconds)

    def tariff(self) -> logic.Tariff:
        from services.loyalty.logic import parking as logic  # noqa: PLC0415 - cold start

        return logic.Tariff(self.settings.parking_rate_cents_per_hour, self.settings.parking_daily_cap_cents)

    def points(self) -> LedgerPoints:
        from services.loyalty.dal.privacy import pseudonym_key  # noqa: PLC0415 - cold start
        from services.loyalty.dal.wallet_points import LedgerPoints  # noqa: PLC0415 - cold start
        from services.loyalty.logic.privacy import pseudonym  # noqa: PLC0415 - cold start

        key = pseudonym_key(self.settings.pseudonym_key_secret_arn)
        return LedgerPoints(
            self.settings.table_name,
            lambda member_id: pseudonym(key, member_id),
            self.tz,
            expiry_policy=self.settings.points_expiry_policy,
            expiry_days=self.settings.points_expiry_days,
        )

    def repo(self) -> DynamoParkingRepository:
        from services.loyalty.dal.parking import DynamoParkingRepository  # noqa: PLC0415 - cold start

        return DynamoParkingRepository(self.settings.table_name, self.tz, self.points())

    def free_minutes_of(self) -> Callable[[str], int]:
        """The member's tier free parking hours (L1's tiers; the floor applies), in minutes."""

        def minutes(member_id: str) -> int:
            from services.loyalty.dal.loyalty_config import cached_config  # noqa: PLC0415
            from services.loyalty.logic.tiers import benefits_of  # noqa: PLC0415

            config = cached_config(self.settings.table_name, self.settings.loyalty_config_cache_seconds)
            return benefits_of(self.points().balance(member_id), config.tiers).free_parking_hours * 60

        return minutes


def session_view(s: ParkingSession, *, replayed: bool | None = None) -> dict[str, Any]:
    data = s.model_dump(mode="json", exclude={"entered_at", "exited_at", "settled_at", "offset_request_id"})
    for name in ("entered_at", "exited_at", "settled_at"):
        value = getattr(s, name)
        data[name] = clock.to_utc_iso(value) if value else None
    if replayed is not None:
        data["replayed"] = replayed
    return data


@router.post(
    SESSIONS_PATH,
    request_body=ParkingSessionIn,
    summary="Record a car park entry or exit (signed integration request)",
    description="Signed like purchases (X-MallCRM-* headers). ParkingSessionIn: an entry (no exited_at) "
    "opens a session; an exit with the car park's fee settles it with the plate's member's tier free "
    "hours and any offset the member paid; the answer's paid_cents is what the gate charges. A repeat "
    "answers 200 replayed, other content 409 parking_session_conflict.",
    tags=["integrations"],
)
def post_session() -> Any:
    from services.loyalty.handlers.routes.signed import verify_integration_post  # noqa: PLC0415 - cold start
    from services.loyalty.logic import parking as logic  # noqa: PLC0415 - cold start
    from services.loyalty.logic.purchases import NonceClaim  # noqa: PLC0415 - cold start

    deps = ParkingDeps.load()
    settings = deps.settings
    event = router.current_event
    raw = event_body_bytes(event.raw_event)
    now = clock.now()
    signed = verify_integration_post(event.headers, SESSIONS_PATH, raw, settings, now)
    request = parse_body(ParkingSessionIn, event.raw_event)
    recorded = logic.record_session(
        request,
        signed_source=signed.source,
        nonce=NonceClaim(
            source=signed.source,
            nonce=signed.nonce,
            expires_at=now + timedelta(seconds=2 * settings.signature_max_skew_seconds + 60),
        ),
        repo=deps.repo(),
        pepper=deps.pepper(),
        tariff=deps.tariff(),
        free_minutes_of=deps.free_minutes_of(),
        now=now,
        new_id=new_ulid,
        correlation_id=correlation_id(event.raw_event),
    )
    if not recorded.replayed:
        metrics.add_metric(
            name="ParkingSessionSettled" if recorded.session.status == "settled" else "ParkingSessionOpened",
            unit="Count",
            value=1,
        )
    return json_response(
        200 if recorded.replayed else 201, session_view(recorded.session, replayed=recorded.replayed)
    )


def _quote_view(
    member_id: str, session: ParkingSession, bill: logic.Charge, minutes: int, deps: ParkingDeps
) -> dict[str, Any]:
    from services.loyalty.dal.coupons import DynamoCouponRepository  # noqa: PLC0415 - cold start
    from services.loyalty.logic import parking as logic  # noqa: PLC0415 - cold start
    from services.loyalty.logic.coupons import effective_status  # noqa: PLC0415 - cold start

    now = clock.now()
    tariff = deps.tariff()
    coupons = DynamoCouponRepository(deps.settings.table_name, deps.tz).wallet(member_id)
    usable = [
        {
            "coupon_id": c.coupon_id,
            "code": c.code,
            "parking_minutes": c.parking_minutes,
            "covers_cents": min(bill.due_cents, tariff.value_of_last(minutes, c.parking_minutes or 0)),
            "valid_until": clock.to_utc_iso(c.valid_until),
        }
        for c in coupons
        if c.kind == "parking" and effective_status(c, now) == "issued" and c.valid_from <= now
    ]
    balance = deps.points().balance(member_id)
    return {
        "session_id": session.session_id,
        "entered_at": clock.to_utc_iso(session.entered_at),
        "quoted_at": clock.to_utc_iso(now),
        "minutes": minutes,
        "fee_cents": bill.fee_cents,
        "free_minutes": bill.free_minutes if bill.free_cents else 0,
        "free_cents": bill.free_cents,
        "offset_cents": bill.offset_cents,
        "offset_method": session.offset_method,
        "due_cents": bill.due_cents,
        "points_needed": logic.points_for_cents(bill.due_cents, deps.settings.parking_points_per_yuan),
        "points_available": balance.available if balance else 0,
        "parking_coupons": usable,
    }


@router.get(
    "/v1/members/me/parking/<plate>/quote",
    summary="What the car's stay costs now: free hours, offset, what is due, points or coupons to pay it",
    description="404 parking_session_not_found when the car is not in the car park; 422 plate_invalid.",
    tags=["member-parking"],
)
def get_quote(plate: str) -> Any:
    from services.loyalty.logic import parking as logic  # noqa: PLC0415 - cold start

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    plate = unquote(plate)  # the path arrives percent-encoded (Chinese characters)
    deps = ParkingDeps.load()
    session, bill, minutes = logic.quote(
        member_id,
        plate,
        repo=deps.repo(),
        pepper=deps.pepper(),
        tariff=deps.tariff(),
        free_minutes_of=deps.free_minutes_of(),
        now=clock.now(),
    )
    return json_response(200, _quote_view(member_id, session, bill, minutes, deps))


@router.post(
    "/v1/members/me/parking/<plate>/offset",
    request_body=OffsetRequest,
    summary="Pay what is due now with points or a parking coupon (once per stay)",
    description="OffsetRequest. 409 insufficient_points, parking_fee_already_offset, parking_nothing_due; "
    "403 coupon_not_yours; 404 parking_session_not_found, coupon_not_found.",
    tags=["member-parking"],
)
def post_offset(plate: str) -> Any:
    from services.loyalty.dal.coupons import DynamoCouponRepository  # noqa: PLC0415 - cold start
    from services.loyalty.logic import parking as logic  # noqa: PLC0415 - cold start

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    plate = unquote(plate)  # the path arrives percent-encoded (Chinese characters)
    request = parse_body(OffsetRequest, router.current_event.raw_event)
    deps = ParkingDeps.load()
    coupons = DynamoCouponRepository(deps.settings.table_name, deps.tz)
    logic.offset_fee(
        member_id,
        plate,
        request,
        repo=deps.repo(),
        find_coupon=coupons.by_code,
        pepper=deps.pepper(),
        tariff=deps.tariff(),
        free_minutes_of=deps.free_minutes_of(),
        points_per_yuan=deps.settings.parking_points_per_yuan,
        now=clock.now(),
        correlation_id=correlation_id(router.current_event.raw_event),
    )
    metrics.add_metric(name=f"ParkingOffset{request.method.title()}", unit="Count", value=1)
    session, bill, minutes = logic.quote(
        member_id,
        plate,
        repo=deps.repo(),
        pepper=deps.pepper(),
        tariff=deps.tariff(),
        free_minutes_of=deps.free_minutes_of(),
        now=clock.now(),
    )
    return json_response(200, _quote_view(member_id, session, bill, minutes, deps))
