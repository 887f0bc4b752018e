"""POST /v1/auth/staff against a Cognito user pool on moto: groups become roles; wrong password and
unknown user get the same 401."""

from __future__ import annotations

import pytest

from tests.integration.helpers import aws
from tests.integration.members.identity_support import call, identity_env, member_event  # noqa: F401

PASSWORD = "Staff-Passw0rd-1"


@pytest.fixture
def pool(identity_env: object, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    idp = aws("cognito-idp")
    pool_id = idp.create_user_pool(PoolName="staff")["UserPool"]["Id"]
    client_id: str = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="console",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool_id, GroupName="service_agent")
    idp.admin_create_user(UserPoolId=pool_id, Username="agent.li", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="agent.li", Password=PASSWORD, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username="agent.li", GroupName="service_agent")
    monkeypatch.setenv("STAFF_USER_POOL_CLIENT_ID", client_id)
    return client_id


@pytest.mark.usefixtures("pool")
def test_staff_login_returns_tokens_and_roles() -> None:
    status, body = call(
        member_event("POST", "/v1/auth/staff", None, {"username": "agent.li", "password": PASSWORD})
    )
    assert status == 200
    assert body["roles"] == ["service_agent"] and body["token_type"] == "Bearer"
    assert body["id_token"].count(".") == 2 and body["access_token"]


@pytest.mark.usefixtures("pool")
@pytest.mark.parametrize(("username", "password"), [("agent.li", "wrong-password-1"), ("nobody", PASSWORD)])
def test_bad_credentials_are_one_401(username: str, password: str) -> None:
    status, body = call(
        member_event("POST", "/v1/auth/staff", None, {"username": username, "password": password})
    )
    assert status == 401
    assert body == {
        "error": {
            "code": "invalid_credentials",
            "message": "The username or password is wrong.",
            "fields": [],
        }
    }


@pytest.mark.usefixtures("pool")
def test_missing_fields_are_422() -> None:
    status, body = call(member_event("POST", "/v1/auth/staff", None, {"username": "agent.li"}))
    assert (status, body["error"]["code"]) == (422, "validation_failed")
