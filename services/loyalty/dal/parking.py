"""Parking sessions and the plate → member projection in LoyaltyTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| session | ``PARKING#<source>#<external_id>`` | ``SESSION`` |
| the car's latest open session | ``VEHICLE_OPEN#<vehicle_ref>`` | ``OPEN`` (stale once it settles) |
| plate → member projection | ``VEHICLE#<vehicle_ref>`` | ``MEMBER`` (``member_id``, ``changed_at``) |
| the member's pointer (erasure) | ``WALLET#<member_id>`` | ``PLATE#<vehicle_ref>`` |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from services.loyalty.dal.coupons import update_op
from services.loyalty.dal.keys import coupon_key, dt, expiry_key, iso
from services.loyalty.dal.purchases import nonce_item
from services.loyalty.dal.vehicles import apply_vehicles, vehicle_key
from services.loyalty.dal.wallet_common import outbox_put
from services.loyalty.dal.wallet_points import LedgerPoints
from services.loyalty.logic import ledger as L
from services.loyalty.logic.purchases import NonceClaim
from services.loyalty.models.coupons import Coupon
from services.loyalty.models.parking import ParkingSession
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)
from shared.events.contracts import CouponRedeemed, EventData, ParkingSessionSettled, PointsRedeemed

NOT_EXISTS = "attribute_not_exists(pk)"
_TIMES = ("entered_at", "exited_at", "settled_at")


def session_key(source_system: str, external_id: str) -> dict[str, str]:
    return {"pk": f"PARKING#{source_system}#{external_id}", "sk": "SESSION"}


def open_key(ref: str) -> dict[str, str]:
    return {"pk": f"VEHICLE_OPEN#{ref}", "sk": "OPEN"}


def session_item(s: ParkingSession) -> dict[str, Any]:
    return {
        **session_key(s.source_system, s.external_id),
        "entity": "parking_session",
        **s.model_dump(exclude=set(_TIMES)),
        **{k: iso(getattr(s, k)) for k in _TIMES},
    }


def session_from_item(item: Mapping[str, Any]) -> ParkingSession:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
    for k in _TIMES:
        data[k] = dt(item.get(k))
    return ParkingSession.model_validate(data)


def _open_session_update(
    table: str, session: ParkingSession, sets: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Record an offset on a session that is still open and has none yet."""
    return {
        "Update": {
            "TableName": table,
            **update_op(
                session_key(session.source_system, session.external_id),
                "SET " + sets,
                {":open": "open", **values},
                condition="#s = :open AND attribute_not_exists(offset_method)",
                names={"#s": "status"},
            ),
        }
    }


class DynamoParkingRepository:
    """:class:`~services.loyalty.logic.parking.ParkingRepository` on DynamoDB."""

    def __init__(self, table_name: str, tz: tzinfo, points: LedgerPoints | None = None) -> None:
        self.table = table_name
        self.tz = tz
        self.points = points

    def get_session(self, source_system: str, external_id: str) -> ParkingSession | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key=to_item(session_key(source_system, external_id)),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return session_from_item(from_item(item)) if item else None

    def open_session_for(self, ref: str) -> ParkingSession | None:
        pointer = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(open_key(ref)), ConsistentRead=True)
            .get("Item")
        )
        if not pointer:
            return None
        ref_item = from_item(pointer)
        session = self.get_session(str(ref_item["source_system"]), str(ref_item["external_id"]))
        return session if session is not None and session.status == "open" else None

    def bound_member(self, ref: str) -> str | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(vehicle_key(ref)), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            return None
        member = from_item(item).get("member_id")
        return str(member) if member else None

    def claim_nonce(self, nonce: NonceClaim) -> bool:
        try:
            client("dynamodb").put_item(
                TableName=self.table, Item=to_item(nonce_item(nonce)), ConditionExpression=NOT_EXISTS
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def open(self, session: ParkingSession, nonce: NonceClaim) -> bool:
        ops = [
            put_op(self.table, nonce_item(nonce), condition=NOT_EXISTS),
            put_op(self.table, session_item(session), condition=NOT_EXISTS),
            put_op(
                self.table,
                {
                    **open_key(session.vehicle_ref),
                    "entity": "vehicle_open",
                    "source_system": session.source_system,
                    "external_id": session.external_id,
                },
            ),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if 0 in failed.failed_indexes:
                from services.loyalty.logic.errors import NonceReused  # noqa: PLC0415

                raise NonceReused() from None
            return False
        return True

    def settle(
        self,
        before: ParkingSession | None,
        settled: ParkingSession,
        event: ParkingSessionSettled,
        nonce: NonceClaim,
        correlation_id: str,
    ) -> bool:
        if before is None:
            session_put = put_op(self.table, session_item(settled), condition=NOT_EXISTS)
        else:
            session_put = put_op(
                self.table,
                session_item(settled),
                condition="#s = :open AND offset_cents = :seen",
                names={"#s": "status"},
                values={":open": "open", ":seen": before.offset_cents},
            )
        ops = [
            put_op(self.table, nonce_item(nonce), condition=NOT_EXISTS),
            session_put,
            outbox_put(
                self.table, event, correlation_id, "loyalty.api", settled.settled_at or event.exited_at
            ),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if 0 in failed.failed_indexes:
                from services.loyalty.logic.errors import NonceReused  # noqa: PLC0415

                raise NonceReused() from None
            return False
        return True

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
    ) -> bool:
        if self.points is None:
            raise RuntimeError("paying parking with points needs the ledger")

        def extra(change: L.LedgerChange) -> Sequence[Mapping[str, Any]]:
            return [
                _open_session_update(
                    self.table,
                    session,
                    "offset_cents = :c, offset_method = :m, offset_points = :p, offset_member_id = :who, "
                    "offset_request_id = :req, offset_movement_id = :mov",
                    {
                        ":c": cents,
                        ":m": "points",
                        ":p": points,
                        ":who": member_id,
                        ":req": request_id,
                        ":mov": change.movement.movement_id,
                    },
                )
            ]

        def events(change: L.LedgerChange) -> Sequence[EventData]:
            return [
                PointsRedeemed(
                    member_id=member_id,
                    movement_id=change.movement.movement_id,
                    points=points,
                    reason="parking",
                    reference_id=session.session_id,
                    balance_after=change.movement.balance_after,
                    redeemed_at=now,
                    balance_version=change.version_after,
                )
            ]

        try:
            self.points.debit(
                member_id,
                points,
                kind="redeem",
                reason=f"parking fee {cents} cents",
                source=L.Source("parking", session.session_id),
                actor="member",
                idempotency_key=f"parking#{session.session_id}",
                correlation_id=correlation_id,
                producer="loyalty.api",
                now=now,
                extra=extra,
                events=events,
            )
        except L.ExtraItemsFailed:
            return False
        return True

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
    ) -> bool:
        event = CouponRedeemed(
            coupon_id=coupon.coupon_id,
            template_id=coupon.template_id,
            member_id=member_id,
            campaign_id=coupon.campaign_id,
            store_id="parking",
            redeemed_at=now,
            discount_cents=cents,
        )
        ops = [
            _open_session_update(
                self.table,
                session,
                "offset_cents = :c, offset_method = :m, offset_coupon_id = :cid, offset_member_id = :who, "
                "offset_request_id = :req",
                {
                    ":c": cents,
                    ":m": "coupon",
                    ":cid": coupon.coupon_id,
                    ":who": member_id,
                    ":req": request_id,
                },
            ),
            {
                "Update": {
                    "TableName": self.table,
                    **update_op(
                        coupon_key(coupon.member_id, coupon.coupon_id),
                        "SET #s = :redeemed, redeemed_at = :at, redeemed_store_id = :store, "
                        "discount_cents = :d",
                        {
                            ":redeemed": "redeemed",
                            ":issued": "issued",
                            ":at": iso(now),
                            ":store": "parking",
                            ":d": cents,
                        },
                        condition="#s = :issued",
                        names={"#s": "status"},
                    ),
                }
            },
            {"Delete": {"TableName": self.table, "Key": to_item(expiry_key(coupon, self.tz))}},
            outbox_put(self.table, event, correlation_id, "loyalty.api", now),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return False
        return True

    # projection (MemberVehiclesChanged): dal/vehicles.py
    def apply_vehicles(
        self, member_id: str, linked: Sequence[str], unlinked: Sequence[str], changed_at: datetime
    ) -> int:
        return apply_vehicles(self.table, member_id, linked, unlinked, changed_at)
