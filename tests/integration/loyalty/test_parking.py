"""Parking: signed sessions, plate → member through the MemberVehiclesChanged projection, tier free
hours, the member's quote and offset (points or a parking coupon), ParkingSessionSettled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
from services.loyalty.handlers import offers, on_member_vehicles
from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from services.loyalty.logic.parking import normalise_plate, vehicle_ref
from services.loyalty.models.earning import Tier, TierBenefits
from services.members.logic.identity import lookup_hash
from services.members.logic.identity import normalise_plate as members_normalise_plate
from shared import clock
from shared import secrets as shared_secrets
from shared.events.contracts import MemberVehiclesChanged
from tests.integration.helpers import (
    FakeContext,
    aws,
    contract_bus_event,
    http_event,
    signed_headers,
    sqs_event,
)
from tests.integration.loyalty.conftest import KEY, NOW, TABLE
from tests.integration.loyalty.wallet_support import ALICE, BOB, call, entities, member, outbox, staff

PEPPER = b"members-lookup-pepper-0123456789abcdef"
PLATE = "沪A·12345"
PATH = "/v1/integrations/parking-sessions"
ENTERED = NOW - timedelta(hours=3, minutes=10)


@pytest.fixture
def parking(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    secret = aws("secretsmanager").create_secret(
        Name="mallcrm/test/lookup-pepper", SecretString=PEPPER.decode()
    )
    monkeypatch.setenv("LOOKUP_PEPPER_SECRET_ARN", secret["ARN"])
    shared_secrets.clear_cache()
    clear_config_cache()
    # Everyone's base tier has 2 free hours (L1's tiers).
    DynamoLoyaltyConfig(TABLE).put_tier(
        Tier(tier_id="normal", name="Normal", rank=0, qualify=0, benefits=TierBenefits(free_parking_hours=2))
    )
    yield
    clear_config_cache()


def ref() -> str:
    return vehicle_ref(PEPPER, normalise_plate(PLATE))


def bind(member_id: str, at: Any = NOW) -> None:
    data = MemberVehiclesChanged(member_id=member_id, linked=[ref()], unlinked=[], changed_at=at)
    assert on_member_vehicles.handler(sqs_event([contract_bus_event(data)]), FakeContext()) == {
        "batchItemFailures": []
    }


def post(body: dict[str, Any], *, key: bytes = KEY, nonce: str | None = None) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    headers = signed_headers(
        key,
        source="pos-main",
        method="POST",
        path=PATH,
        body=raw,
        timestamp=int(NOW.timestamp()),
        nonce=nonce,
    )
    return call(http_event("POST", PATH, body=raw, headers=headers))


def entry() -> dict[str, Any]:
    return {
        "external_id": "gate-0001",
        "source_system": "pos-main",
        "plate": PLATE,
        "entered_at": clock.to_utc_iso(ENTERED),
    }


def exit_(fee: int = 4000, minutes_after: int = 0) -> dict[str, Any]:
    return {
        **entry(),
        "exited_at": clock.to_utc_iso(NOW + timedelta(minutes=minutes_after)),
        "fee_cents": fee,
    }


def award(member_id: str, points: int) -> None:
    offers.handler(
        {
            "action": "award_points",
            "request_id": f"a-{member_id}",
            "member_id": member_id,
            "points": points,
            "reason": "t",
        },
        FakeContext(),
    )


def balance(member_id: str) -> int:
    found = WalletDeps.load().points().balance(member_id)
    return found.available if found else 0


def test_the_vehicle_ref_is_members_plate_lookup_hash() -> None:
    for raw in ("沪A·12345", "粤b 12345d", "京AD12345"):
        assert vehicle_ref(PEPPER, normalise_plate(raw)) == lookup_hash(
            PEPPER, "plate", members_normalise_plate(raw)
        )


def test_a_bound_members_stay_free_hours_points_offset_and_settlement(parking: None) -> None:
    bind(ALICE)
    award(ALICE, 1000)
    status, opened = post(entry())
    status_again, again = post(entry())

    _, priced = member("GET", f"/v1/members/me/parking/{quote(PLATE)}/quote", ALICE)
    _, stranger = member("GET", f"/v1/members/me/parking/{quote(PLATE)}/quote", BOB)

    assert status == 201 and opened["status"] == "open" and "plate" not in json.dumps(opened)
    assert status_again == 200 and again["replayed"] is True
    # 190 minutes: 4 started hours = 4000; the last 120 minutes are free for Alice (worth 2000).
    assert (priced["fee_cents"], priced["free_minutes"], priced["free_cents"], priced["due_cents"]) == (
        4000,
        120,
        2000,
        2000,
    )
    assert priced["points_needed"] == 200 and priced["points_available"] == 1000
    assert (stranger["free_cents"], stranger["due_cents"]) == (0, 4000)

    status_pay, paid = member(
        "POST",
        f"/v1/members/me/parking/{quote(PLATE)}/offset",
        ALICE,
        {"request_id": "pay-0001", "method": "points"},
    )
    status_twice, twice = member(
        "POST",
        f"/v1/members/me/parking/{quote(PLATE)}/offset",
        ALICE,
        {"request_id": "pay-0002", "method": "points"},
    )
    assert (
        status_pay == 200
        and paid["due_cents"] == 0
        and paid["offset_cents"] == 2000
        and balance(ALICE) == 800
    )
    assert (status_twice, twice["error"]["code"]) == (409, "parking_fee_already_offset")
    assert outbox("PointsRedeemed")[0]["reason"] == "parking"

    status_exit, settled = post(exit_(fee=4000))
    assert status_exit == 201 and settled["status"] == "settled" and settled["paid_cents"] == 0
    [event] = outbox("ParkingSessionSettled")
    assert event["member_id"] == ALICE and event["vehicle_ref"] == ref()
    assert (event["fee_cents"], event["paid_cents"], event["free_minutes_applied"]) == (4000, 0, 120)
    assert post(exit_(fee=4000))[1]["replayed"] is True
    assert post(exit_(fee=5000))[1]["error"]["code"] == "parking_session_conflict"
    assert member("GET", f"/v1/members/me/parking/{quote(PLATE)}/quote", ALICE)[0] == 404


def test_an_unbound_car_pays_at_the_gate_and_a_parking_coupon_covers_its_minutes(parking: None) -> None:
    staff(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "template_id": "park-1h",
            "name": "1 h",
            "kind": "parking",
            "face_value_cents": 1000,
            "parking_minutes": 60,
            "valid_days": 5,
        },
    )
    staff(
        "POST", "/v1/admin/coupons", {"request_id": "issue-bob-1", "member_id": BOB, "template_id": "park-1h"}
    )
    code = member("GET", "/v1/members/me/coupons", BOB)[1]["coupons"][0]["code"]
    post(entry())

    _, priced = member("GET", f"/v1/members/me/parking/{quote(PLATE)}/quote", BOB)
    assert priced["parking_coupons"][0]["covers_cents"] == 1000
    no_points = member(
        "POST",
        f"/v1/members/me/parking/{quote(PLATE)}/offset",
        BOB,
        {"request_id": "pay-0000", "method": "points"},
    )
    assert (no_points[0], no_points[1]["error"]["code"]) == (409, "insufficient_points")
    not_yours = member(
        "POST",
        f"/v1/members/me/parking/{quote(PLATE)}/offset",
        ALICE,
        {"request_id": "pay-0001", "method": "coupon", "coupon_code": code},
    )
    status, paid = member(
        "POST",
        f"/v1/members/me/parking/{quote(PLATE)}/offset",
        BOB,
        {"request_id": "pay-0002", "method": "coupon", "coupon_code": code},
    )
    _, settled = post(exit_(fee=4000))

    assert not_yours[1]["error"]["code"] == "coupon_not_yours"
    assert status == 200 and paid["offset_cents"] == 1000 and paid["due_cents"] == 3000
    assert settled["paid_cents"] == 3000 and settled["member_id"] is None
    [event] = outbox("ParkingSessionSettled")
    assert event["member_id"] == BOB and event["free_minutes_applied"] == 0  # the payer, no free hours
    assert outbox("CouponRedeemed")[0]["store_id"] == "parking"


def test_an_exit_without_an_entry_is_settled_and_the_projection_keeps_the_newest_news(parking: None) -> None:
    bind(ALICE, at=NOW)
    stale = MemberVehiclesChanged(
        member_id=ALICE, linked=[], unlinked=[ref()], changed_at=NOW - timedelta(days=1)
    )
    on_member_vehicles.handler(sqs_event([contract_bus_event(stale)]), FakeContext())

    status, settled = post(exit_(fee=4000))

    assert (
        status == 201
        and settled["member_id"] == ALICE
        and settled["free_cents"] == 2000
        and settled["paid_cents"] == 2000
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**entry(), "plate": "ABC"}, 422),
        ({**entry(), "fee_cents": 100}, 422),
        ({**entry(), "source_system": "online-mall"}, 403),
    ],
)
def test_bad_sessions_are_refused_and_write_nothing(parking: None, body: dict[str, Any], status: int) -> None:
    assert post(body)[0] == status
    assert not entities("parking_session")


def test_a_bad_signature_or_a_replayed_nonce_is_401(parking: None) -> None:
    assert post(entry(), key=b"wrong")[0] == 401
    assert post(entry(), nonce="nonce-0000000000000001")[0] == 201
    assert post({**entry(), "external_id": "gate-0002"}, nonce="nonce-0000000000000001")[0] == 401
    assert len(entities("parking_session")) == 1
