"""Withdrawing the car_plates consent unlinks the member's plates in the consents' transaction
(moto, through MembersApiFunction): lookup keys and back-references deleted, the sealed plates
field removed, staff search by the plate finds no one, the plate can be linked again."""

from __future__ import annotations

from typing import Any

import pytest

from services.members.handlers import api
from tests.integration.helpers import all_items
from tests.integration.members.privacy_support import (
    TABLE,
    call,
    member_event,
    members_api,  # noqa: F401 - fixture
    members_env,  # noqa: F401 - fixture
    newcomer_event,
    outbox_events,
    staff_event,
)

PLATE = "沪A12345"
CONSENTS = "/v1/members/me/consents"


def register(
    subject: str = "openid-of-plate-owner", phone: str = "13812341234", plates: tuple[str, ...] = (PLATE,)
) -> str:
    body = {
        "phone": phone,
        "name": "张伟",
        "plates": list(plates),
        "consents": [{"purpose": "car_plates", "granted": True, "text_version": "plates-1"}],
    }
    status, answer = call(api.app, newcomer_event("POST", "/v1/members", subject, body))
    assert status == 201, answer
    return str(answer["member"]["member_id"])


def plates_consent(member: str, granted: bool) -> tuple[int, dict[str, Any]]:
    decision = {"purpose": "car_plates", "granted": granted, "text_version": "plates-1"}
    return call(api.app, member_event("PUT", CONSENTS, member, {"consents": [decision]}))


def plate_items() -> list[dict[str, Any]]:
    return [
        i
        for i in all_items(TABLE)
        if str(i["pk"]).startswith("IDENT#plate#") or str(i["sk"]).startswith("IDENT#plate#")
    ]


def profile() -> dict[str, Any]:
    return next(i for i in all_items(TABLE) if i["sk"] == "PROFILE")


@pytest.mark.usefixtures("members_api")
def test_withdrawing_car_plates_unlinks_every_plate_in_one_transaction():
    member = register(plates=(PLATE, "京B67890"))
    assert len(plate_items()) == 4 and "plates_ct" in profile()
    version = int(profile()["version"])
    status, found = call(api.app, staff_event("/v1/admin/members", {"plate": PLATE}))
    assert status == 200 and [m["member_id"] for m in found["members"]] == [member]

    status, body = plates_consent(member, granted=False)
    assert status == 200, body
    assert body["changed"] == 1

    assert plate_items() == []
    after = profile()
    assert "plates_ct" not in after and int(after["version"]) == version + 1
    for plate in (PLATE, "京B67890"):
        status, found = call(api.app, staff_event("/v1/admin/members", {"plate": plate}))
        assert status == 200 and found["members"] == []
    status, me = call(api.app, member_event("GET", "/v1/members/me", member))
    assert status == 200 and me["plates"] == []
    updated = outbox_events("MemberProfileUpdated")
    assert [e["data"]["changed_fields"] for e in updated] == [["plates"]]
    withdrawn = [e["data"] for e in outbox_events("MemberConsentChanged") if not e["data"]["granted"]]
    assert [(c["purpose"], c["member_id"]) for c in withdrawn] == [("car_plates", member)]

    # Repeating the withdrawal changes nothing; the plate is free for another member.
    before = all_items(TABLE)
    assert plates_consent(member, granted=False)[1]["changed"] == 0
    assert all_items(TABLE) == before
    other = register(subject="openid-of-next-owner", phone="13912345678")
    status, found = call(api.app, staff_event("/v1/admin/members", {"plate": PLATE}))
    assert [m["member_id"] for m in found["members"]] == [other]


@pytest.mark.usefixtures("members_api")
def test_withdrawal_without_plates_only_records_the_consent():
    member = register(plates=())
    version = int(profile()["version"])
    status, body = plates_consent(member, granted=False)
    assert status == 200 and body["changed"] == 1
    assert int(profile()["version"]) == version
    assert outbox_events("MemberProfileUpdated") == []


@pytest.mark.usefixtures("members_api")
def test_after_withdrawal_a_plate_needs_the_consent_again():
    member = register()
    plates_consent(member, granted=False)
    status, body = call(api.app, member_event("PATCH", "/v1/members/me", member, {"plates": [PLATE]}))
    assert status == 409 and body["error"]["code"] == "car_plate_consent_required"
    assert plate_items() == []
    assert plates_consent(member, granted=True)[0] == 200
    status, body = call(api.app, member_event("PATCH", "/v1/members/me", member, {"plates": [PLATE]}))
    assert status == 200, body
    assert len(plate_items()) == 2
