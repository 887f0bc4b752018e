"""Member-token revocation and key rotation on moto: "log out everywhere" and staff's revocation
make the authorizer refuse every earlier token (a new login works); rotating MemberTokenKeySecret
keeps earlier tokens valid through AWSPREVIOUS, and a token of a key rotated out twice is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.members.dal import tokens as token_keys
from services.members.handlers import authorizer
from shared import secrets as secrets_cache
from tests.integration.helpers import FakeContext, aws
from tests.integration.members.identity_support import (
    Clock,
    call,
    context_of,
    identity_env,  # noqa: F401 - fixture
    items,
    member_event,
    register,
    staff_event,
)


def authorized(token: str) -> bool:
    answer = authorizer.handler({"type": "REQUEST", "identitySource": [f"Bearer {token}"]}, FakeContext())
    return bool(answer["isAuthorized"])


def token_of(openid: str) -> str:
    status, body = call(member_event("POST", "/v1/auth/wechat", None, {"code": f"local:{openid}"}))
    assert status == 200, body
    return str(body["token"])


def test_log_out_everywhere_voids_every_earlier_token(identity_env: Clock) -> None:  # noqa: F811
    _, context = register("o-rv-1", "13812346001")
    first, second = token_of("o-rv-1"), token_of("o-rv-1")
    assert authorized(first) and authorized(second)
    status, _ = call(member_event("POST", "/v1/members/me/tokens/revoke", context))
    assert status == 204
    assert not authorized(first) and not authorized(second)
    identity_env.now += timedelta(seconds=1)
    assert authorized(token_of("o-rv-1"))  # logging in again works
    # someone else is untouched
    register("o-rv-2", "13812346002")
    assert authorized(token_of("o-rv-2"))


def test_staff_revoke_a_members_tokens_with_a_reason_and_an_audit_entry(identity_env: Clock) -> None:  # noqa: F811
    member_id, _ = register("o-rv-3", "13812346003")
    token = token_of("o-rv-3")
    path = f"/v1/admin/members/{member_id}/revoke-tokens"
    params = {"member_id": member_id}
    denied = call(
        staff_event("POST", path, "store_staff", query={"reason": "account taken"}, path_parameters=params)
    )
    assert denied[0] == 403
    assert call(staff_event("POST", path, "service_agent", path_parameters=params))[0] == 422  # no reason
    assert authorized(token)
    status, _ = call(
        staff_event(
            "POST", path, "service_agent", query={"reason": "account taken over"}, path_parameters=params
        )
    )
    assert status == 204
    assert not authorized(token)
    (entry,) = [i for i in items() if i.get("entity") == "audit"]
    assert (entry["action"], entry["reason"]) == ("revoke_tokens", "account taken over")
    unknown = {"member_id": "01JD0000000000000000000ZZZ"}
    status, _ = call(
        staff_event(
            "POST",
            "/v1/admin/members/01JD0000000000000000000ZZZ/revoke-tokens",
            "admin",
            query={"reason": "account taken over"},
            path_parameters=unknown,
        )
    )
    assert status == 404


def _rotate(secret_value: str) -> None:
    sm = aws("secretsmanager")
    arn = next(s["ARN"] for s in sm.list_secrets()["SecretList"] if s["Name"] == "token")
    sm.put_secret_value(SecretId=arn, SecretString=secret_value)
    secrets_cache.clear_cache()
    token_keys.clear_cache()


@pytest.mark.usefixtures("identity_env")
def test_rotating_the_key_keeps_earlier_tokens_until_they_expire_and_new_ones_use_the_new_key() -> None:
    _, context = register("o-rt-1", "13812346011")
    before = token_of("o-rt-1")
    status, code = call(member_event("GET", "/v1/members/me/code", context))
    assert status == 200
    _rotate("token-" + "u" * 40)
    assert authorized(before)  # signed by what is now AWSPREVIOUS
    # the member code on the screen at the rotation still scans at the till
    status, _ = call(
        staff_event("POST", "/v1/admin/members/verify-code", "store_staff", body={"code": code["code"]})
    )
    assert status == 200
    after = token_of("o-rt-1")
    assert after.split(".")[0] != before.split(".")[0]  # another kid
    assert context_of(after)["member_id"]
    _rotate("token-" + "v" * 40)
    assert authorized(after)
    assert not authorized(before)  # its key was rotated out twice
