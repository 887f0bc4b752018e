"""MembersApiFunction on moto: WeChat login, member tokens through the authorizer, registration,
one member per phone/openid, GET/PATCH /v1/members/me, the PII vault at rest."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.members.dal.wechat import FakeWeChatLogin
from services.members.handlers import authorizer
from shared.auth import principal_from_event
from tests.integration.helpers import FakeContext, aws
from tests.integration.members.identity_support import (
    Clock,
    call,
    context_of,
    identity_env,  # noqa: F401 - fixture
    items,
    login,
    member_event,
    outbox,
    register,
    registration,
)

pytestmark = pytest.mark.usefixtures("identity_env")


class TestLoginAndAuthorizer:
    def test_wechat_login_gives_an_unregistered_member_token(self) -> None:
        status, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": "local:o-alice"}))
        assert status == 200
        assert body["member_id"] is None and body["registered"] is False and body["expires_in"] == 3600
        assert FakeWeChatLogin.calls == ["local:o-alice"]
        context = context_of(body["token"])
        assert context["kind"] == "member" and context["member_id"] == ""
        assert "o-alice" not in json.dumps(context) and "o-alice" not in body["token"]
        principal = principal_from_event(member_event("GET", "/x", context))
        assert principal.kind == "member" and principal.member_id is None

    def test_invalid_wechat_code_is_401(self) -> None:
        status, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": "not-a-local-code"}))
        assert (status, body["error"]["code"]) == (401, "wechat_code_invalid")

    def test_a_registered_shopper_logs_in_with_the_member_id(self) -> None:
        member_id, _ = register("o-alice")
        status, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": "local:o-alice"}))
        assert status == 200 and body["member_id"] == member_id and body["registered"]
        assert context_of(body["token"])["member_id"] == member_id

    def test_the_authorizer_refuses_bad_and_expired_tokens(self, identity_env: Clock) -> None:  # noqa: F811
        _, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": "local:o-bob"}))
        token = body["token"]
        for bad in ("", "Bearer nonsense", token[:-2] + "xx"):
            answer = authorizer.handler({"identitySource": [bad]}, FakeContext())
            assert answer == {"isAuthorized": False}
        identity_env.now += timedelta(hours=2)
        assert authorizer.handler({"identitySource": [token]}, FakeContext()) == {"isAuthorized": False}

    def test_member_routes_need_a_member(self) -> None:
        status, _ = call(member_event("GET", "/v1/members/me", None))
        assert status == 401
        unregistered = login("o-carol")
        status, body = call(member_event("GET", "/v1/members/me", unregistered))
        assert (status, body["error"]["code"]) == (403, "member_not_registered")


class TestRegistration:
    def test_registration_answers_201_with_clear_values_and_a_token_with_the_member_id(self) -> None:
        context = login("o-alice")
        status, body = call(member_event("POST", "/v1/members", context, registration("138 1234 1234")))
        assert status == 201
        member = body["member"]
        assert member["phone"] == "+8613812341234" and member["name"] == "张三丰"
        assert member["birthday"] == "1990-05-01" and member["status"] == "active"
        assert context_of(body["token"])["member_id"] == member["member_id"]

    def test_the_table_holds_no_clear_pii_and_lookup_keys_are_keyed_hashes(self) -> None:
        member_id, _ = register("o-alice", plates=["沪A12345"], card_number="VIP-0012-3456")
        stored = json.dumps(items(), ensure_ascii=False, default=str)
        for clear in ("13812341234", "张三丰", "1990-05-01", "沪A12345", "VIP00123456", "o-alice"):
            assert clear not in stored
        kinds = sorted(i["kind"] for i in items() if i.get("entity") == "identity")
        assert kinds == ["card", "openid", "phone", "plate"]
        assert all(i["member_id"] == member_id for i in items() if i.get("entity") == "identity")
        profile = next(i for i in items() if i["sk"] == "PROFILE")
        assert profile["gsi2pk"] == "BDAY#0501"

    def test_the_data_key_is_wrapped_by_kms_for_this_member_only(self) -> None:
        import base64

        member_id, _ = register("o-alice")
        wrapped = next(i for i in items() if i["sk"] == "DATAKEY")["wrapped_key"]
        kms = aws("kms")
        assert (
            len(
                kms.decrypt(
                    CiphertextBlob=base64.b64decode(wrapped), EncryptionContext={"member_id": member_id}
                )["Plaintext"]
            )
            == 32
        )
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(
                CiphertextBlob=base64.b64decode(wrapped),
                EncryptionContext={"member_id": "01JD0000000000000000000ZZZ"},
            )

    def test_registration_publishes_member_registered_and_the_initial_consents_without_pii(self) -> None:
        member_id, _ = register("o-alice")
        (registered,) = outbox("MemberRegistered")
        assert registered["data"] == {
            "member_id": member_id,
            "registered_at": registered["data"]["registered_at"],
            "channel": "mini_program",
        }
        consents = outbox("MemberConsentChanged")
        assert sorted(c["data"]["purpose"] for c in consents) == ["car_plates", "marketing"]
        assert sorted(
            i["sk"].split("#")[0] for i in items() if i.get("entity") in ("consent", "consent_log")
        ) == [
            "CONSENT",
            "CONSENT",
            "CONSENTLOG",
            "CONSENTLOG",
        ]

    def test_one_member_per_phone(self) -> None:
        register("o-alice")
        before = len(items())
        context = login("o-bob")
        status, body = call(member_event("POST", "/v1/members", context, registration("+86 138-1234-1234")))
        assert (status, body["error"]["code"]) == (409, "phone_already_registered")
        assert "1234" not in body["error"]["message"]
        assert len(items()) == before

    def test_one_member_per_openid(self) -> None:
        context = login("o-alice")
        status, _ = call(member_event("POST", "/v1/members", context, registration("13812341234")))
        assert status == 201
        before = len(items())
        # The same unregistered token again (e.g. a double tap): the openid lookup key is taken.
        status, body = call(member_event("POST", "/v1/members", context, registration("13900001111")))
        assert (status, body["error"]["code"]) == (409, "already_registered")
        assert len(items()) == before

    def test_a_token_with_a_member_id_cannot_register_again(self) -> None:
        _, context = register("o-alice")
        status, body = call(member_event("POST", "/v1/members", context, registration("13900001111")))
        assert (status, body["error"]["code"]) == (409, "already_registered")

    @pytest.mark.parametrize(
        ("overrides", "status", "code"),
        [
            ({"phone": "12345"}, 422, "phone_invalid"),
            ({"birthday": "2026-11-24"}, 422, "birthday_in_future"),
            (
                {"consents": [{"purpose": "telepathy", "granted": True, "text_version": "v1"}]},
                422,
                "validation_failed",
            ),
            ({"name": "名" * 51}, 422, "validation_failed"),
            ({"plates": ["沪A12345"], "consents": []}, 422, "car_plate_consent_required"),
        ],
    )
    def test_bad_input_is_4xx_and_writes_nothing(
        self, overrides: dict[str, Any], status: int, code: str
    ) -> None:
        context = login("o-alice")
        answer_status, body = call(member_event("POST", "/v1/members", context, registration(**overrides)))
        assert (answer_status, body["error"]["code"]) == (status, code)
        assert "12345" not in json.dumps(body)
        assert items() == []


class TestOwnProfile:
    def test_get_me_shows_clear_values(self) -> None:
        member_id, context = register("o-alice")
        status, body = call(member_event("GET", "/v1/members/me", context))
        assert status == 200
        assert (body["member_id"], body["phone"], body["name"]) == (member_id, "+8613812341234", "张三丰")

    def test_patch_publishes_the_changed_field_names_only(self) -> None:
        member_id, context = register("o-alice")
        status, body = call(
            member_event(
                "PATCH",
                "/v1/members/me",
                context,
                {"name": "张三", "gender": "male", "birthday": "1990-12-24"},
            )
        )
        assert status == 200 and body["name"] == "张三" and body["birthday"] == "1990-12-24"
        (event,) = outbox("MemberProfileUpdated")
        assert event["data"]["changed_fields"] == ["birthday", "name"]
        assert event["data"]["member_id"] == member_id and event["data"]["updated_by"] == "member"
        assert "张三" not in json.dumps(event, ensure_ascii=False)
        profile = next(i for i in items() if i["sk"] == "PROFILE")
        assert profile["gsi2pk"] == "BDAY#1224" and profile["version"] == 2

    def test_patch_without_changes_publishes_nothing(self) -> None:
        _, context = register("o-alice")
        status, _ = call(member_event("PATCH", "/v1/members/me", context, {"name": "张三丰"}))
        assert status == 200 and outbox("MemberProfileUpdated") == []

    def test_plates_need_the_car_plate_consent(self) -> None:
        _, context = register("o-alice", consents=[])
        before = len(items())
        status, body = call(member_event("PATCH", "/v1/members/me", context, {"plates": ["沪A12345"]}))
        assert (status, body["error"]["code"]) == (409, "car_plate_consent_required")
        assert len(items()) == before

    def test_plates_and_cards_move_between_lookup_keys(self) -> None:
        _, context = register("o-alice")
        status, _ = call(
            member_event(
                "PATCH", "/v1/members/me", context, {"plates": ["沪A12345"], "card_number": "VIP1234567"}
            )
        )
        assert status == 200
        status, body = call(
            member_event("PATCH", "/v1/members/me", context, {"plates": ["沪B54321"], "card_number": None})
        )
        assert status == 200 and body["plates"] == ["沪B54321"] and body["card_number"] is None
        kinds = sorted(i["kind"] for i in items() if i.get("entity") == "identity")
        assert kinds == ["openid", "phone", "plate"]

    def test_a_plate_of_another_member_is_409(self) -> None:
        register("o-alice", plates=["沪A12345"])
        _, context = register("o-bob", phone="13900001111")
        status, body = call(member_event("PATCH", "/v1/members/me", context, {"plates": ["沪A12345"]}))
        assert (status, body["error"]["code"]) == (409, "plate_already_linked")

    def test_patch_refuses_unknown_fields_and_the_phone(self) -> None:
        _, context = register("o-alice")
        status, body = call(member_event("PATCH", "/v1/members/me", context, {"phone": "13900001111"}))
        assert (status, body["error"]["code"]) == (422, "validation_failed")

    def test_an_erased_member_is_gone(self) -> None:
        member_id, context = register("o-alice")
        aws("dynamodb").update_item(
            TableName="mallcrm-test-members",
            Key={"pk": {"S": f"MEMBER#{member_id}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression="SET #s = :e",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":e": {"S": "erased"}},
        )
        status, body = call(member_event("GET", "/v1/members/me", context))
        assert (status, body["error"]["code"]) == (404, "member_not_found")
