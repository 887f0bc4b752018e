"""The member's optional e-mail address: syntax and normalisation, masking, the owner's and staff's
views, and what registration and a profile change plan to write (sealed, no lookup key, the changed
field's name in MemberProfileUpdated, never the value)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.members.logic.identity import mask_member_email, normalise_email
from services.members.logic.members import Put, UpdateProfile, plan_patch, plan_registration
from services.members.logic.vault import PII_FIELDS, VaultError, VaultSession, open_field
from services.members.logic.views import masked_view, owner_view
from services.members.models.api import ProfilePatch, RegistrationRequest
from shared.errors import Unprocessable

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
MEMBER = "01JD0000000000000000000EEE"
KEY = os.urandom(32)


class Keys:
    def generate(self, member_id: str) -> tuple[bytes, bytes]:
        return KEY, b"wrapped"

    def unwrap(self, member_id: str, wrapped: bytes) -> bytes:
        return KEY


# --- syntax and normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Zhang.San@Example.COM ", "Zhang.San@example.com"),  # trimmed, domain lower-cased only
        ("a@b.co", "a@b.co"),
        ("o'brien+news@mail.example.cn", "o'brien+news@mail.example.cn"),
        ("user@example.com.", "user@example.com"),  # the root dot names the same host
        ("x@xn--fiqs8s.xn--fiqs8s", "x@xn--fiqs8s.xn--fiqs8s"),  # an IDN in Punycode
        ("1234567@QQ.COM", "1234567@qq.com"),
    ],
)
def test_valid_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.com",
        "zhang@",
        "zhang@@example.com",
        "zhang@localhost",  # one label: not a mail domain
        "zhang@example.c",
        "zhang@example.123",
        "zhang@-example.com",
        "zhang@example-.com",
        "zhang@exa_mple.com",
        "zhang@example..com",
        ".zhang@example.com",
        "zhang.@example.com",
        "zh..ang@example.com",
        "zh ang@example.com",
        '"zh ang"@example.com',  # quoted local parts: valid in RFC 5322, refused here
        "zhang@[192.0.2.1]",
        "zhang\n@example.com",
        "zhang@example.com\nBcc: x@evil.example",
        "张三@example.com",  # SES: 7-bit ASCII only
        "zhang@例子.中国",  # the domain must be given in its xn-- form
        "zhang@exam<ple.com",
    ],
)
def test_invalid_addresses_are_422_email_invalid(raw: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        normalise_email(raw)
    assert refused.value.code == "email_invalid"
    assert refused.value.fields and refused.value.fields[0]["field"] == "email"


def test_length_limits_254_in_all_and_64_before_the_at() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 63, "c" * 63, "d" * 57, "com"])  # 63+1+63+1+57+1+3 = 189
    assert len(f"{local}@{domain}") == 254
    assert normalise_email(f"{local}@{domain}") == f"{local}@{domain}"
    with pytest.raises(Unprocessable):
        normalise_email(f"{local}@d{domain}")  # 255
    with pytest.raises(Unprocessable):
        normalise_email("a" * 65 + "@example.com")
    with pytest.raises(Unprocessable):
        normalise_email("a@" + "b" * 64 + ".com")  # a label of 64


def test_the_api_models_bound_the_field_and_take_null() -> None:
    with pytest.raises(ValidationError):
        RegistrationRequest.model_validate({"phone": "13812341234", "name": "张三", "email": "a" * 255})
    with pytest.raises(ValidationError):
        ProfilePatch.model_validate({"email": 5})
    patch = ProfilePatch.model_validate({"email": None})
    assert "email" in patch.model_fields_set and patch.email is None


def test_masking_keeps_the_first_character_and_the_domain() -> None:
    assert mask_member_email("zhang.san@example.com") == "z***@example.com"
    assert mask_member_email("o'brien+news@mail.example.cn") == "o***@mail.example.cn"


# --- vault and views ------------------------------------------------------------------------------


def test_the_address_is_a_vault_field_bound_to_its_member_and_name() -> None:
    assert "email" in PII_FIELDS
    vault = VaultSession(Keys())
    vault.new_key(MEMBER)
    sealed = vault.seal(MEMBER, {"email": "zhang@example.com"})
    assert "zhang" not in sealed["email_ct"]
    assert vault.open(MEMBER, sealed) == {"email": "zhang@example.com"}
    blob = base64.b64decode(sealed["email_ct"])
    with pytest.raises(VaultError):
        open_field(KEY, MEMBER, "phone", blob)  # moved to another field
    with pytest.raises(VaultError):
        open_field(KEY, "01JD0000000000000000000FFF", "email", blob)  # moved to another member


def profile(**extra: Any) -> dict[str, Any]:
    return {
        "member_id": MEMBER,
        "status": "active",
        "gender": "female",
        "registered_at": "2026-11-01T00:00:00.000000Z",
        "version": 3,
        **extra,
    }


def test_owner_sees_the_address_staff_see_it_masked() -> None:
    opened = {"name": "张三", "phone": "+8613812341234", "email": "zhang.san@example.com"}
    assert owner_view(profile(), opened).email == "zhang.san@example.com"
    staff = masked_view(profile(), opened)
    assert staff.email == "z***@example.com"
    assert "zhang.san" not in staff.model_dump_json()
    assert owner_view(profile(), {"name": "张三"}).email is None
    assert masked_view(profile(), {"name": "张三"}).email is None


# --- registration and change plans ----------------------------------------------------------------


def registration(**overrides: Any) -> RegistrationRequest:
    body: dict[str, Any] = {"phone": "13812341234", "name": "张三", **overrides}
    return RegistrationRequest.model_validate(body)


def plan(req: RegistrationRequest) -> Any:
    return plan_registration(
        req,
        member_id=MEMBER,
        openid_hash="o" * 64,
        unionid_hash=None,
        pepper=b"pepper",
        vault=VaultSession(Keys()),
        now=NOW,
        today=TODAY,
        correlation_id="c-1",
        new_id=iter(f"01JD00000000000000000LOG{n:02d}" for n in range(99)).__next__,
    )


def test_registration_seals_the_normalised_address_and_links_no_lookup_key() -> None:
    p = plan(registration(email=" Zhang.San@Example.COM"))
    assert p.opened["email"] == "Zhang.San@example.com"
    assert p.profile["email_source"] == "member"
    vault = VaultSession(Keys())
    vault.load(MEMBER, b"wrapped")
    assert vault.open(MEMBER, p.profile)["email"] == "Zhang.San@example.com"
    items = [w.item for w in p.writes if isinstance(w, Put)]
    assert "Zhang" not in json.dumps(items, default=str).replace(p.profile["email_ct"], "")
    assert sorted(i["kind"] for i in items if i.get("entity") == "identity") == ["openid", "phone"]
    assert owner_view(p.profile, p.opened).email == "Zhang.San@example.com"


def test_registration_without_an_address_holds_none() -> None:
    p = plan(registration())
    assert "email" not in p.opened and "email_ct" not in p.profile and "email_source" not in p.profile


def test_registration_with_a_bad_address_is_refused_before_any_write() -> None:
    with pytest.raises(Unprocessable) as refused:
        plan(registration(email="zhang@localhost"))
    assert refused.value.code == "email_invalid"


def patch_plan(opened: dict[str, str], body: dict[str, Any], **extra: Any) -> Any:
    vault = VaultSession(Keys())
    vault.load(MEMBER, b"wrapped")
    return plan_patch(
        profile(**extra),
        opened,
        ProfilePatch.model_validate(body),
        pepper=b"pepper",
        vault=vault,
        now=NOW,
        today=TODAY,
        correlation_id="c-2",
    )


def event_of(p: Any) -> dict[str, Any]:
    [outbox] = [w.item for w in p.writes if isinstance(w, Put) and w.item.get("entity") == "outbox"]
    return dict(outbox)


def test_setting_an_address_seals_it_and_publishes_the_field_name_only() -> None:
    p = patch_plan({"name": "张三"}, {"email": "Zhang@Example.com"})
    assert p.changed_fields == ["email"]
    [update] = [w for w in p.writes if isinstance(w, UpdateProfile)]
    assert update.expected_version == 3 and update.set["version"] == 4
    assert update.set["email_source"] == "member" and "email_ct" in update.set
    assert p.opened["email"] == "Zhang@example.com"
    event = event_of(p)
    assert event["detail_type"] == "MemberProfileUpdated"
    data = json.loads(event["detail"])["data"]
    assert data["changed_fields"] == ["email"] and data["updated_by"] == "member"
    assert "Zhang" not in json.dumps(event, default=str)
    # Not a lookup key: nothing but the profile update and the event.
    assert len(p.writes) == 2


def test_the_same_address_in_another_case_of_domain_changes_nothing() -> None:
    assert patch_plan({"email": "zhang@example.com"}, {"email": " zhang@EXAMPLE.com "}) is None


def test_a_new_local_part_case_is_a_change() -> None:
    # The local part is the mailbox owner's to interpret: kept as written.
    p = patch_plan({"email": "zhang@example.com"}, {"email": "Zhang@example.com"})
    assert p is not None and p.changed_fields == ["email"]


def test_null_clears_the_address() -> None:
    p = patch_plan(
        {"email": "zhang@example.com"},
        {"email": None},
        email_source="member",
        email_verified_at="2026-11-22T00:00:00.000000Z",
    )
    [update] = [w for w in p.writes if isinstance(w, UpdateProfile)]
    assert set(update.remove) == {"email_ct", "email_source", "email_verified_at"}
    assert "email" not in p.opened
    assert not {"email_ct", "email_source", "email_verified_at"} & set(p.profile)
    assert owner_view(p.profile, p.opened).email is None


def test_a_new_address_must_be_verified_anew() -> None:
    verified = {"email_source": "member", "email_verified_at": "2026-11-22T00:00:00.000000Z"}
    assert owner_view(profile(**verified), {"email": "zhang@example.com"}).email_verified is True
    p = patch_plan({"email": "zhang@example.com"}, {"email": "li@example.com"}, **verified)
    [update] = [w for w in p.writes if isinstance(w, UpdateProfile)]
    assert "email_verified_at" in update.remove
    assert "email_verified_at" not in p.profile
    assert owner_view(p.profile, p.opened).email_verified is False


def test_null_without_an_address_and_a_field_left_out_change_nothing() -> None:
    assert patch_plan({"name": "张三"}, {"email": None}) is None
    assert patch_plan({"email": "zhang@example.com"}, {"gender": "female"}) is None


def test_a_bad_address_in_a_patch_is_refused_before_any_write() -> None:
    with pytest.raises(Unprocessable) as refused:
        patch_plan({"name": "张三"}, {"name": "李四", "email": "not-an-address"})
    assert refused.value.code == "email_invalid"
