"""Registration and profile-change planning: what is written, what is refused before any write."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.members.logic.members import (
    Delete,
    Put,
    RequireConsent,
    UpdateProfile,
    masked_view,
    owner_view,
    plan_patch,
    plan_registration,
)
from services.members.logic.vault import VaultSession
from services.members.models.api import ProfilePatch, RegistrationRequest
from shared.errors import Unprocessable

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
MEMBER = "01JD0000000000000000000AAA"
KEY = os.urandom(32)


class Keys:
    def generate(self, member_id: str) -> tuple[bytes, bytes]:
        return KEY, b"wrapped"

    def unwrap(self, member_id: str, wrapped: bytes) -> bytes:
        return KEY


def request(**overrides: Any) -> RegistrationRequest:
    body: dict[str, Any] = {
        "phone": "138 1234 1234",
        "name": "张三丰",
        "gender": "male",
        "birthday": "1990-05-01",
        "preferred_store_id": "S-L1-08",
        "preferred_categories": ["Apparel", "apparel", "food_beverage"],
        "consents": [
            {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "v1"},
            {"purpose": "personalisation", "granted": False, "text_version": "v1"},
        ],
    }
    body.update(overrides)
    return RegistrationRequest.model_validate(body)


def plan(req: RegistrationRequest | None = None, **kw: Any) -> Any:
    return plan_registration(
        req or request(),
        member_id=MEMBER,
        openid_hash="o" * 64,
        unionid_hash=kw.pop("unionid_hash", None),
        pepper=b"pepper",
        vault=VaultSession(Keys()),
        now=NOW,
        today=TODAY,
        correlation_id="c-1",
        new_id=iter(f"01JD00000000000000000LOG{n:02d}" for n in range(99)).__next__,
    )


def puts(p: Any) -> list[dict[str, Any]]:
    return [w.item for w in p.writes if isinstance(w, Put)]


def test_registration_writes_profile_key_identities_and_event_without_clear_pii() -> None:
    p = plan(unionid_hash="u" * 64)
    items = puts(p)
    kinds = sorted(i["kind"] for i in items if i.get("entity") == "identity")
    assert kinds == ["openid", "phone", "unionid"]
    assert sum(1 for i in items if i.get("entity") == "identity_ref") == 3
    profile = next(i for i in items if i["sk"] == "PROFILE")
    assert profile["gsi2pk"] == "BDAY#0501" and profile["gsi2sk"] == MEMBER
    assert {"name_ct", "phone_ct", "birthday_ct"} <= set(profile)
    assert profile["preferred_categories"] == ["apparel", "food_beverage"]
    assert next(i for i in items if i["sk"] == "DATAKEY")["encryption_context"] == {"member_id": MEMBER}
    text = json.dumps(items, ensure_ascii=False, default=str)
    for secret in ("13812341234", "张三丰", "1990-05-01"):
        assert secret not in text
    events = [json.loads(i["detail"]) for i in items if i.get("entity") == "outbox"]
    assert [e["data"]["member_id"] for e in events] == [MEMBER]
    assert p.consents is not None and len(p.consents.changes) == 2


def test_owner_and_staff_views() -> None:
    p = plan()
    assert owner_view(p.profile, p.opened).phone == "+8613812341234"
    staff = masked_view(p.profile, p.opened)
    assert (staff.phone, staff.name, staff.birthday) == ("138****1234", "张**", "****-05-01")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"phone": "12345"}, "phone_invalid"),
        ({"birthday": "2026-11-24"}, "birthday_in_future"),
        ({"birthday": "1890-01-01"}, "birthday_implausible"),
        ({"plates": ["沪A12345"]}, "car_plate_consent_required"),
        ({"plates": ["nope"]}, "plate_invalid"),
        ({"card_number": "1"}, "card_invalid"),
    ],
)
def test_bad_input_is_refused_before_a_key_is_made(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(Unprocessable) as err:
        plan(request(**overrides))
    assert err.value.code == code


def test_plates_with_their_consent_become_lookup_keys() -> None:
    consents = [{"purpose": "car_plates", "granted": True, "text_version": "v1"}]
    p = plan(request(plates=["沪A12345", "沪a 12345", "粤BD12345"], consents=consents))
    assert sum(1 for i in puts(p) if i.get("kind") == "plate" and i.get("entity") == "identity") == 2


@pytest.mark.parametrize(
    "body",
    [
        {"consents": [{"purpose": "spam", "granted": True, "text_version": "v1"}]},
        {"consents": [{"purpose": "marketing", "granted": True, "text_version": "v1"}]},
        {"consents": [{"purpose": "car_plates", "granted": True, "text_version": "v1"}] * 2},
        {"name": "x" * 51},
        {"name": "line\nbreak"},
        {"nickname": "extra"},
    ],
)
def test_request_model_refuses_bad_consents_and_oversize_fields(body: dict[str, Any]) -> None:
    base = {"phone": "13812341234", "name": "a"}
    with pytest.raises(ValueError):
        RegistrationRequest.model_validate({**base, **body})


def _patch(body: dict[str, Any]) -> Any:
    p = plan()
    profile = dict(p.profile)
    return plan_patch(
        profile,
        p.opened,
        ProfilePatch.model_validate(body),
        pepper=b"pepper",
        vault=_loaded(),
        now=NOW,
        today=TODAY,
        correlation_id="c-2",
    )


def _loaded() -> VaultSession:
    session = VaultSession(Keys())
    session.load(MEMBER, b"wrapped")
    return session


def test_patch_names_changed_fields_only_and_bumps_the_version() -> None:
    result = _patch({"name": "张三", "gender": "male", "preferred_store_id": "S-2"})
    assert result.changed_fields == ["name", "preferred_store_id"]
    update = result.writes[0]
    assert isinstance(update, UpdateProfile) and update.expected_version == 1
    assert update.set["version"] == 2 and "name_ct" in update.set
    event = json.loads(next(w.item for w in result.writes if isinstance(w, Put))["detail"])
    assert event["data"]["changed_fields"] == ["name", "preferred_store_id"]
    assert "张三" not in json.dumps(event, ensure_ascii=False)


def test_patch_without_change_plans_nothing() -> None:
    assert _patch({"name": "张三丰", "gender": "male"}) is None


def test_patch_birthday_moves_the_birthday_index() -> None:
    result = _patch({"birthday": "1990-12-24"})
    assert result.writes[0].set["gsi2pk"] == "BDAY#1224"
    with pytest.raises(Unprocessable):
        _patch({"birthday": "2030-01-01"})


def test_patch_plates_adds_lookup_keys_under_a_consent_check_and_removes_old_ones() -> None:
    added = _patch({"plates": ["沪A12345"]})
    assert any(isinstance(w, RequireConsent) and w.purpose == "car_plates" for w in added.writes)
    profile = {**plan().profile, **added.writes[0].set}
    removed = plan_patch(
        profile,
        added.opened,
        ProfilePatch(plates=[]),
        pepper=b"pepper",
        vault=_loaded(),
        now=NOW,
        today=TODAY,
        correlation_id="c-3",
    )
    assert removed is not None
    assert sum(isinstance(w, Delete) for w in removed.writes) == 2
    assert not any(isinstance(w, RequireConsent) for w in removed.writes)
    update = removed.writes[0]
    assert isinstance(update, UpdateProfile) and "plates_ct" in update.remove


def test_patch_refuses_the_phone() -> None:
    with pytest.raises(ValueError):
        ProfilePatch.model_validate({"phone": "13900000000"})
