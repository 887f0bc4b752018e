"""The member's e-mail address through MembersApiFunction on moto (DynamoDB, KMS, Secrets Manager,
SES): register with one, change it, clear it with null; a bad one is 422 with nothing written; staff
see it masked, or clear with a reason and an audit entry; the export carries it; MemberProfileUpdated
names the field, never the value; erasure leaves no key that opens the sealed address. Verification:
a code to the address (the fake sender, and SES v2 on moto), confirmed once, bound to the address."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from moto.ses.models import ses_backends

from services.members.dal.email import EmailUnavailable, FakeVerificationMail, SesVerificationMail
from services.members.handlers.routes import common
from services.members.logic.vault import VaultError, open_field
from services.members.models.api_settings import MembersApiSettings
from tests.integration.helpers import ACCOUNT, aws
from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    login,
    member_event,
    outbox,
    register,
    registration,
    staff_event,
    verify_email,
)

pytestmark = pytest.mark.usefixtures("identity_env")

ADDRESS = "Zhang.San@example.com"
REAL_EMAIL_SENDER = common.Deps.email_sender  # identity_env replaces it with the fake per test


def profile_item(member_id: str) -> dict[str, Any]:
    return next(i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "PROFILE")


def me(context: dict[str, Any]) -> dict[str, Any]:
    status, body = call(member_event("GET", "/v1/members/me", context))
    assert status == 200, body
    return body


def patch(context: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call(member_event("PATCH", "/v1/members/me", context, body))


def test_register_with_an_address_normalised_and_sealed() -> None:
    member_id, context = register("o-zhang", email="  Zhang.San@EXAMPLE.com ")
    assert me(context)["email"] == ADDRESS
    stored = profile_item(member_id)
    assert stored["email_source"] == "member" and "email_ct" in stored
    everything = json.dumps(items(), default=str)
    assert "Zhang.San" not in everything and "example.com" not in everything  # nowhere in clear
    assert not [i for i in items() if str(i["pk"]).startswith("IDENT#email")]  # not a lookup key


def test_an_invalid_address_at_registration_is_422_and_nothing_is_written() -> None:
    context = login("o-bad")
    before = items()
    status, body = call(
        member_event("POST", "/v1/members", context, registration(email="zhang@@example.com"))
    )
    assert status == 422 and body["error"]["code"] == "email_invalid"
    assert body["error"]["fields"][0]["field"] == "email"
    status, body = call(member_event("POST", "/v1/members", context, registration(email="a" * 255)))
    assert status == 422
    assert items() == before


def test_two_members_may_give_one_address() -> None:
    # Not a lookup key (docs/decisions.md): a family's shared mailbox is no conflict.
    register("o-one", phone="13812341234", email=ADDRESS)
    register("o-two", phone="13812345678", email=ADDRESS)


def test_patch_sets_changes_and_clears_the_address_with_one_event_each() -> None:
    member_id, context = register("o-zhang")
    assert me(context)["email"] is None

    status, body = patch(context, {"email": "zhang@Example.com"})
    assert status == 200 and body["email"] == "zhang@example.com"
    status, body = patch(context, {"email": "zhang@EXAMPLE.COM"})  # the same address: no change
    assert status == 200
    status, body = patch(context, {"email": "li@example.org"})
    assert status == 200 and body["email"] == "li@example.org"
    assert me(context)["email"] == "li@example.org"

    status, body = patch(context, {"email": None})
    assert status == 200 and body["email"] is None
    stored = profile_item(member_id)
    assert "email_ct" not in stored and "email_source" not in stored
    assert me(context)["email"] is None

    updates = [e["data"] for e in outbox("MemberProfileUpdated")]
    assert [u["changed_fields"] for u in updates] == [["email"], ["email"], ["email"]]
    assert "example" not in json.dumps(updates)


def test_an_invalid_address_in_a_patch_is_422_and_nothing_changes() -> None:
    member_id, context = register("o-zhang", email=ADDRESS)
    before = profile_item(member_id)
    status, body = patch(context, {"name": "李四", "email": "li@localhost"})
    assert status == 422 and body["error"]["code"] == "email_invalid"
    assert profile_item(member_id) == before
    assert me(context)["email"] == ADDRESS and me(context)["name"] == "张三丰"


def test_staff_see_it_masked_and_clear_only_with_a_reason_and_an_audit_entry() -> None:
    member_id, _ = register("o-zhang", email=ADDRESS)

    def view(role: str, **query: str) -> tuple[int, dict[str, Any]]:
        return call(
            staff_event(
                "GET",
                f"/v1/admin/members/{member_id}",
                role,
                query=query or None,
                path_parameters={"member_id": member_id},
            )
        )

    status, body = view("service_agent")
    assert status == 200 and body["member"]["email"] == "Z***@example.com"
    assert "Zhang.San" not in json.dumps(body)
    status, body = call(
        staff_event("GET", "/v1/admin/members", "store_staff", query={"phone": "13812341234"})
    )
    assert status == 200 and body["members"][0]["email"] == "Z***@example.com"

    status, body = view("service_agent", reveal="true", reason="member asked by phone")
    assert status == 200 and body["member"]["email"] == ADDRESS
    [entry] = [i for i in items() if i["pk"] == f"AUDIT#{member_id}" and i["action"] == "reveal"]
    assert "email" in entry["fields"] and entry["reason"] == "member asked by phone"
    assert "Zhang.San" not in json.dumps(entry, default=str)
    status, _ = view("loyalty_ops", reveal="true", reason="member asked by phone")
    assert status == 403


def test_the_export_carries_the_address() -> None:
    _, context = register("o-zhang", email=ADDRESS)
    status, doc = call(member_event("POST", "/v1/members/me/export", context))
    assert status == 200, doc
    assert doc["profile"]["email"] == ADDRESS


def test_erasure_shreds_the_address_with_the_data_key() -> None:
    """A copy of the profile taken before the erasure (a table export, a backup) keeps the sealed
    address; after the erasure the live table holds neither it nor the data key, and the copy opens
    under no other key."""
    member_id, context = register("o-zhang", email=ADDRESS)
    assert call(member_event("POST", "/v1/members/me/email/verification", context))[0] == 202
    copy = profile_item(member_id)
    blob = base64.b64decode(copy["email_ct"])
    [datakey] = [i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "DATAKEY"]
    kms = aws("kms")
    plain = kms.decrypt(
        CiphertextBlob=base64.b64decode(datakey["wrapped_key"]), EncryptionContext={"member_id": member_id}
    )["Plaintext"]
    assert open_field(bytes(plain), member_id, "email", blob) == ADDRESS  # only this key opens it
    status, _ = call(member_event("DELETE", "/v1/members/me", context))
    assert status == 204
    live = [i for i in items() if i["pk"] == f"MEMBER#{member_id}"]
    assert not [i for i in live if i["sk"] in ("DATAKEY", "EMAILVERIFY")]
    assert all("email_ct" not in i for i in live)
    other = kms.generate_data_key(KeyId=kms.list_keys()["Keys"][0]["KeyId"], KeySpec="AES_256")
    with pytest.raises(VaultError):
        open_field(bytes(other["Plaintext"]), member_id, "email", blob)


# --- verification ---------------------------------------------------------------------------------


def ask_code(context: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call(member_event("POST", "/v1/members/me/email/verification", context))


def confirm(context: dict[str, Any], code: str) -> tuple[int, dict[str, Any]]:
    return call(member_event("POST", "/v1/members/me/email/confirmation", context, {"code": code}))


def last_code() -> str:
    return FakeVerificationMail.sent[-1].text.split("验证码为 ")[1][:6]


def test_a_code_to_the_address_confirmed_once_verifies_it(identity_env: Clock) -> None:  # noqa: F811
    member_id, context = register("o-zhang", email=ADDRESS)
    assert me(context)["email_verified"] is False
    status, body = ask_code(context)
    assert status == 202 and body == {"sent_to": "Z***@example.com", "expires_in": 1800, "resend_after": 60}
    [sent] = FakeVerificationMail.sent
    assert sent.to == ADDRESS
    code = last_code()
    [pending] = [i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "EMAILVERIFY"]
    assert code not in json.dumps(pending, default=str) and "Zhang" not in json.dumps(pending, default=str)

    wrong = "000000" if code != "000000" else "111111"
    status, body = confirm(context, wrong)
    assert (
        status == 422
        and body["error"]["code"] == "code_invalid"
        and "4 attempts left" in body["error"]["message"]
    )
    status, body = confirm(context, code)
    assert status == 200 and body["email_verified"] is True and body["email"] == ADDRESS
    assert profile_item(member_id)["email_verified_at"] == "2026-11-23T02:00:00.000000Z"
    assert not [i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "EMAILVERIFY"]
    assert [e["data"]["changed_fields"] for e in outbox("MemberProfileUpdated")] == [["email_verified"]]

    status, body = confirm(context, code)  # used
    assert status == 409 and body["error"]["code"] == "no_email_verification_pending"
    identity_env.now = identity_env.now.replace(minute=5)
    status, body = ask_code(context)
    assert status == 409 and body["error"]["code"] == "email_already_verified"


def test_no_address_no_code_and_one_code_a_minute(identity_env: Clock) -> None:  # noqa: F811
    _, context = register("o-zhang")
    status, body = ask_code(context)
    assert status == 409 and body["error"]["code"] == "no_email"
    assert FakeVerificationMail.sent == []
    patch(context, {"email": ADDRESS})
    assert ask_code(context)[0] == 202
    status, body = ask_code(context)
    assert status == 429 and body["error"]["code"] == "code_requested_too_soon"
    assert len(FakeVerificationMail.sent) == 1


def test_a_code_sent_to_an_earlier_address_does_not_verify_a_new_one(identity_env: Clock) -> None:  # noqa: F811
    _, context = register("o-zhang", email=ADDRESS)
    assert ask_code(context)[0] == 202
    old_code = last_code()
    assert patch(context, {"email": "li@example.org"})[0] == 200
    status, body = confirm(context, old_code)
    assert status == 409 and body["error"]["code"] == "no_email_verification_pending"
    assert me(context)["email_verified"] is False


def test_changing_a_verified_address_unverifies_it(identity_env: Clock) -> None:  # noqa: F811
    member_id, context = register("o-zhang", email=ADDRESS)
    verify_email(context)
    status, body = patch(context, {"email": "li@example.org"})
    assert status == 200 and body["email_verified"] is False
    assert "email_verified_at" not in profile_item(member_id)
    identity_env.now = identity_env.now.replace(minute=2)
    assert verify_email(context)["email"] == "li@example.org"


def test_the_route_sends_through_ses_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        common.Deps, "email_sender", lambda self: SesVerificationMail("no-reply@mall.example")
    )
    _, context = register("o-zhang", email=ADDRESS)
    status, body = ask_code(context)  # sender identity not verified in SES: MessageRejected
    assert status == 503 and body["error"]["code"] == "email_unavailable"

    aws("sesv2").create_email_identity(EmailIdentity="no-reply@mall.example")
    _, context = register("o-li", phone="13812345678", email="li@example.org")
    assert ask_code(context)[0] == 202
    [mail] = ses_backends[ACCOUNT]["us-east-1"].sent_messages
    assert mail.source == "no-reply@mall.example" and mail.destinations["ToAddresses"] == ["li@example.org"]
    code = mail.body.split("验证码为 ")[1][:6]
    status, body = confirm(context, code)
    assert status == 200 and body["email_verified"] is True


def test_on_aws_no_sender_address_is_503_and_the_fake_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def deps(**overrides: Any) -> common.Deps:
        base = {
            "stage": "test",
            "service_name": "members",
            "event_bus_name": "bus",
            "table_name": "t",
            "data_key_arn": "arn:key",
            "lookup_pepper_secret_arn": "arn:p",
            "member_token_key_secret_arn": "arn:t",
            "email_from": "",  # the template's default: MemberEmailFrom not set
        }
        return common.Deps(MembersApiSettings.model_validate({**base, **overrides}))

    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    with pytest.raises(EmailUnavailable):
        REAL_EMAIL_SENDER(deps())
    with pytest.raises(RuntimeError, match="local cloud only"):
        REAL_EMAIL_SENDER(deps(email_adapter="fake"))
    sender = REAL_EMAIL_SENDER(deps(email_from="no-reply@mall.example"))
    assert isinstance(sender, SesVerificationMail) and sender.from_address == "no-reply@mall.example"
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "local")
    assert isinstance(REAL_EMAIL_SENDER(deps()), FakeVerificationMail)
