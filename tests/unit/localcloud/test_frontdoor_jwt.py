"""The JWT authorizer: what API Gateway accepts, what it refuses, and what the function sees."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from infra.localcloud.frontdoor import ApiDefinition, FrontDoor, JwtAuthorizer, JwtVerifier, Route
from tests.fixtures.frontdoor.fakes import (
    CLIENT_ID,
    ISSUER,
    START,
    FakeCloud,
    Issuer,
    echo,
    fake_front_door,
    wall_now,
)

UNAUTHORIZED = (401, b'{"message":"Unauthorized"}')


def _call(door, token, path="/v1/admin/members", scheme="Bearer "):
    headers = {"Authorization": scheme + token} if token is not None else {}
    status, _, body = door.handle("GET", path, headers, b"")
    return status, body


def test_a_valid_token_reaches_the_function_with_claims_as_api_gateway_renders_them():
    door, cloud = fake_front_door()
    assert _call(door, Issuer.default().token())[0] == 200
    authorizer = cloud.calls[-1][1]["requestContext"]["authorizer"]
    claims = authorizer["jwt"]["claims"]
    assert claims["cognito:groups"] == "[admin marketer]"
    assert claims["exp"] == str(int(START.timestamp()) + 3600)
    assert claims["email_verified"] == "true"
    assert claims["cognito:username"] == "alice"
    assert all(isinstance(v, str) for v in claims.values())
    assert authorizer["jwt"]["scopes"] is None


def test_bearer_prefix_is_optional():
    door, _ = fake_front_door()
    assert _call(door, Issuer.default().token(), scheme="")[0] == 200
    assert _call(door, Issuer.default().token(), scheme="bearer ")[0] == 200


def test_access_tokens_are_checked_on_client_id_and_carry_scopes():
    door, cloud = fake_front_door()
    token = Issuer.default().token(aud=None, client_id=CLIENT_ID, token_use="access", scope="a b")
    assert _call(door, token)[0] == 200
    assert cloud.calls[-1][1]["requestContext"]["authorizer"]["jwt"]["scopes"] == ["a", "b"]
    wrong = Issuer.default().token(aud=None, client_id="someone-else", token_use="access")
    assert _call(door, wrong) == UNAUTHORIZED


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": int(START.timestamp()) - 1}, id="expired"),
        pytest.param({"exp": int(START.timestamp())}, id="expires-now"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iss": "https://cognito-idp.us-east-1.amazonaws.com/other"}, id="wrong-issuer"),
        pytest.param({"aud": "other-client"}, id="wrong-audience"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"nbf": 4102444800}, id="not-yet-valid"),
        pytest.param({"iat": 4102444800}, id="issued-in-the-future"),
    ],
)
def test_invalid_claims_are_401(claims):
    door, cloud = fake_front_door()
    assert _call(door, Issuer.default().token(**claims)) == UNAUTHORIZED
    assert cloud.calls == []


def test_expiry_follows_the_virtual_clock():
    door, cloud = fake_front_door()
    token = Issuer.default().token()
    assert _call(door, token)[0] == 200
    cloud.advance(3600)
    assert _call(door, token) == UNAUTHORIZED


def test_missing_malformed_tampered_and_foreign_tokens_are_401():
    door, _ = fake_front_door()
    assert _call(door, None) == UNAUTHORIZED
    assert _call(door, "") == UNAUTHORIZED
    assert _call(door, "not-a-jwt") == UNAUTHORIZED
    header, payload, signature = Issuer.default().token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["cognito:groups"] = ["admin", "root"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _call(door, f"{header}.{forged}.{signature}") == UNAUTHORIZED
    # Signed by another key that claims the same kid.
    assert _call(door, Issuer(kid="key-1").token()) == UNAUTHORIZED
    # A kid the JWKS does not have.
    assert _call(door, Issuer(kid="key-2").token()) == UNAUTHORIZED
    # HS256 with the public key as the secret (the classic algorithm-confusion attack).
    hs = jwt.encode({"iss": ISSUER, "aud": CLIENT_ID, "exp": 4102444800}, "k" * 32, algorithm="HS256")
    assert _call(door, hs) == UNAUTHORIZED


def test_missing_scope_is_403_and_a_matching_one_passes():
    door, _ = fake_front_door()
    path = "/v1/admin/tiers/gold"
    assert _call(door, Issuer.default().token(), path) == (403, b'{"message":"Forbidden"}')
    assert _call(door, Issuer.default().token(scope="x mallcrm/admin"), path)[0] == 200
    assert _call(door, Issuer.default().token(scope="x"), path)[0] == 403


def test_unprotected_routes_ignore_the_authorization_header():
    door, cloud = fake_front_door()
    assert door.handle("GET", "/pets/dog/1", {"Authorization": "Bearer junk"}, b"")[0] == 200
    assert "authorizer" not in cloud.calls[-1][1]["requestContext"]


def test_jwks_is_fetched_once_and_refetched_for_an_unknown_kid_at_most_every_30s(monkeypatch):
    issuer = Issuer()
    verifier = JwtVerifier(fetch_jwks=issuer.fetch)
    auth = JwtAuthorizer("StaffJwt", ISSUER, (CLIENT_ID,))
    for _ in range(3):
        verifier.verify(issuer.token(), auth, START)
    assert issuer.fetches == 1
    stranger = Issuer(kid="rotated")
    for _ in range(3):
        with pytest.raises(Exception, match="kid"):
            verifier.verify(stranger.token(), auth, START)
    assert issuer.fetches == 1
    monkeypatch.setattr(time, "monotonic", lambda: 1e12)  # the front door's clock: long after the last fetch
    issuer.jwks["keys"].extend(stranger.jwks["keys"])
    assert verifier.verify(stranger.token(), auth, START)["jwt"]["claims"]["sub"] == "0b9a4c5e-staff"
    assert issuer.fetches == 2


def test_an_unreachable_jwks_is_a_401_not_a_crash():
    def broken(issuer):
        raise ConnectionError("down")

    door, cloud = fake_front_door()
    door = FrontDoor(cloud, api=door.api, verifier=JwtVerifier(fetch_jwks=broken))
    assert _call(door, Issuer.default().token()) == UNAUTHORIZED


def test_moto_cognito_tokens_verify_through_the_pools_jwks():
    """The real path: tokens from moto's Cognito, JWKS fetched with requests from in-process moto."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        idp = boto3.client("cognito-idp", region_name="us-east-1")
        pool = idp.create_user_pool(PoolName="staff")["UserPool"]["Id"]
        client = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="console", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        idp.create_group(UserPoolId=pool, GroupName="marketer")
        idp.admin_create_user(UserPoolId=pool, Username="mia", MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool, Username="mia", Password="Demo-Passw0rd-1", Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=pool, Username="mia", GroupName="marketer")
        tokens = idp.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=client,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "mia", "PASSWORD": "Demo-Passw0rd-1"},
        )["AuthenticationResult"]
        issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
        route = Route(
            "GET", "/v1/admin/{proxy+}", "StaffFunction", JwtAuthorizer("StaffJwt", issuer, (client,))
        )
        cloud = FakeCloud({"StaffFunction": echo})
        cloud.clock.advance_to(wall_now())
        door = FrontDoor(cloud, api=ApiDefinition(routes=(route,)))
        for token in (tokens["IdToken"], tokens["AccessToken"]):
            assert _call(door, token)[0] == 200
            claims = cloud.calls[-1][1]["requestContext"]["authorizer"]["jwt"]["claims"]
            assert claims["cognito:groups"] == "[marketer]"
        assert _call(door, tokens["IdToken"][:-4] + "AAAA") == UNAUTHORIZED
