"""MemberVehiclesChanged (loyalty's plate projection, docs/contracts/plates.md) on moto: published in
the transaction that links or unlinks plates — registration, PATCH, withdrawing the car_plates
consent, erasure — with the plates' lookup hashes only, never a plate."""

from __future__ import annotations

from typing import Any

import pytest

from services.members.logic.identity import lookup_hash, normalise_plate
from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    member_event,
    outbox,
    register,
)

pytestmark = pytest.mark.usefixtures("identity_env")
PEPPER = ("pepper-" + "p" * 40).encode()


def ref(plate: str) -> str:
    return lookup_hash(PEPPER, "plate", normalise_plate(plate))


def vehicle_events() -> list[dict[str, Any]]:
    return [e["data"] for e in outbox("MemberVehiclesChanged")]


def test_registration_links_and_patch_moves_plates() -> None:
    member_id, context = register("o-veh-1", "13812348001", plates=["沪A12345"])
    (linked,) = vehicle_events()
    assert (linked["member_id"], linked["linked"], linked["unlinked"]) == (member_id, [ref("沪A12345")], [])
    assert "沪A12345" not in repr(outbox("MemberVehiclesChanged"))
    status, _ = call(member_event("PATCH", "/v1/members/me", context, {"plates": ["沪B54321"]}))
    assert status == 200
    moved = vehicle_events()[-1]
    assert (moved["linked"], moved["unlinked"]) == ([ref("沪B54321")], [ref("沪A12345")])


def test_a_patch_without_plate_change_publishes_no_vehicle_event() -> None:
    _, context = register("o-veh-2", "13812348002", plates=["沪A11111", "沪A22222"])
    before = len(vehicle_events())
    call(member_event("PATCH", "/v1/members/me", context, {"plates": ["沪A22222", "沪A11111"]}))
    call(member_event("PATCH", "/v1/members/me", context, {"name": "新名字"}))
    assert len(vehicle_events()) == before


def test_withdrawing_car_plates_consent_unlinks_them() -> None:
    _, context = register("o-veh-3", "13812348003", plates=["粤B12345"])
    consent = {"purpose": "car_plates", "granted": False, "text_version": "consent-2026-11"}
    status, body = call(member_event("PUT", "/v1/members/me/consents", context, {"consents": [consent]}))
    assert status == 200, body
    withdrawn = vehicle_events()[-1]
    assert (withdrawn["linked"], withdrawn["unlinked"]) == ([], [ref("粤B12345")])


def test_erasure_unlinks_every_plate_and_no_plate_no_event(identity_env: Clock) -> None:  # noqa: F811
    _, context = register("o-veh-4", "13812348004", plates=["京A00001"])
    call(member_event("DELETE", "/v1/members/me", context))
    erased = vehicle_events()[-1]
    assert (erased["linked"], erased["unlinked"]) == ([], [ref("京A00001")])
    _, plain = register("o-veh-5", "13812348005")
    count = len(vehicle_events())
    call(member_event("DELETE", "/v1/members/me", plain))
    assert len(vehicle_events()) == count
