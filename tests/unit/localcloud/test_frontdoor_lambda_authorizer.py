"""Lambda REQUEST authorizers (payload 2.0), as API Gateway runs them, without the result cache."""

from __future__ import annotations

import pytest

from infra.localcloud.frontdoor import ApiDefinition, FrontDoor, LambdaAuthorizer, Route
from shared.auth import principal_from_event
from tests.fixtures.frontdoor.fakes import FakeCloud, echo

FORBIDDEN = (403, b'{"message":"Forbidden"}')
UNAUTHORIZED = (401, b'{"message":"Unauthorized"}')


def _door(authorizer_fn, *, simple=True, sources=("$request.header.Authorization",)):
    cloud = FakeCloud({"MemberFunction": echo, "MemberAuthorizer": authorizer_fn})
    authorizer = LambdaAuthorizer("MemberToken", "MemberAuthorizer", tuple(sources), simple)
    route = Route("GET", "/v1/members/me/{part}", "MemberFunction", authorizer)
    return FrontDoor(cloud, api=ApiDefinition(routes=(route,), api_id="api1")), cloud


def _get(door, headers):
    status, _, body = door.handle("GET", "/v1/members/me/points?x=1", headers, b"")
    return status, body


def test_simple_response_allows_and_its_context_reaches_the_function():
    door, cloud = _door(lambda e: {"isAuthorized": True, "context": {"subject": "wx-1", "member_id": None}})
    assert _get(door, {"Authorization": "Bearer member-token"})[0] == 200
    (auth_fn, auth_event, _), (fn, event, _) = cloud.calls
    assert (auth_fn, fn) == ("MemberAuthorizer", "MemberFunction")
    assert auth_event["type"] == "REQUEST"
    assert auth_event["version"] == "2.0"
    assert auth_event["identitySource"] == ["Bearer member-token"]
    assert (
        auth_event["routeArn"]
        == "arn:aws:execute-api:us-east-1:123456789012:api1/$default/GET/v1/members/me/points"
    )
    assert auth_event["routeKey"] == "GET /v1/members/me/{part}"
    assert auth_event["pathParameters"] == {"part": "points"}
    assert auth_event["queryStringParameters"] == {"x": "1"}
    assert "body" not in auth_event
    assert event["requestContext"]["authorizer"] == {"lambda": {"subject": "wx-1", "member_id": None}}
    principal = principal_from_event(event)
    assert (principal.kind, principal.subject, principal.member_id) == ("member", "wx-1", None)


def test_simple_response_denies_with_403():
    door, cloud = _door(lambda e: {"isAuthorized": False})
    assert _get(door, {"Authorization": "t"}) == FORBIDDEN
    assert [c[0] for c in cloud.calls] == ["MemberAuthorizer"]


def test_a_missing_identity_source_is_401_without_calling_the_authorizer():
    door, cloud = _door(
        lambda e: {"isAuthorized": True}, sources=("$request.header.Authorization", "$request.querystring.k")
    )
    assert _get(door, {"Authorization": "t"}) == UNAUTHORIZED
    assert cloud.calls == []


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        (
            {
                "principalId": "u",
                "policyDocument": {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke"}]},
            },
            200,
        ),
        (
            {
                "principalId": "u",
                "policyDocument": {"Statement": [{"Effect": "Deny", "Action": "execute-api:Invoke"}]},
            },
            403,
        ),
        ({"principalId": "u"}, 403),
    ],
)
def test_iam_policy_responses(policy, status):
    door, _ = _door(lambda e: policy, simple=False)
    assert _get(door, {"Authorization": "t"})[0] == status


def test_a_failing_authorizer_is_a_500_without_detail():
    def broken(event):
        raise RuntimeError("secret")

    door, cloud = _door(broken)
    assert _get(door, {"Authorization": "t"}) == (500, b'{"message":"Internal Server Error"}')
    assert [c[0] for c in cloud.calls] == ["MemberAuthorizer"]
