"""Routes from the translated template, and API Gateway's most-specific-route-wins precedence."""

from __future__ import annotations

import copy
import json

import pytest

from infra.localcloud.frontdoor import (
    Cors,
    JwtAuthorizer,
    LambdaAuthorizer,
    Route,
    RouteTable,
    api_from_body,
    api_from_template,
    routes_from_specs,
)
from tests.fixtures.frontdoor.fakes import CLIENT_ID, HERE, ISSUER, fixture_api, translated_fixture


def test_the_fixture_is_what_sam_translator_makes_of_the_fixture_template():
    import os

    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class BundledPolicies(ManagedPolicyLoader):  # type: ignore[misc]  # samtranslator's classes are untyped (Any)
        def __init__(self) -> None:
            pass

        def load(self):
            return get_bundled_managed_policy_map("aws")

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated = transform(yaml_parse((HERE / "api-template.yaml").read_text()), {}, BundledPolicies())
    assert json.loads(json.dumps(translated, sort_keys=True)) == translated_fixture()


def test_routes_authorizers_and_cors_come_from_the_api_body():
    api = fixture_api()
    by_key = {r.key: r for r in api.routes}
    assert set(by_key) == {
        "GET /pets/dog/1",
        "ANY /pets/dog/1",
        "GET /pets/dog/{id}",
        "GET /shops/{shop}/items/{item}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
        "ANY /v1/admin/{proxy+}",
        "GET /v1/admin/tiers/{id}",
        "$default",
    }
    assert by_key["GET /pets/dog/{id}"].function == "ParamFunction"
    assert by_key["$default"].function == "DefaultFunction"
    staff = JwtAuthorizer("StaffJwt", ISSUER, (CLIENT_ID,), "$request.header.Authorization")
    assert by_key["ANY /v1/admin/{proxy+}"].authorizer == staff
    assert by_key["ANY /v1/admin/{proxy+}"].scopes == ()
    assert by_key["GET /v1/admin/tiers/{id}"].scopes == ("mallcrm/admin",)
    assert by_key["GET /pets/dog/1"].authorizer is None
    assert api.cors == Cors(
        allow_origins=("http://localhost:5173",),
        allow_methods=("GET", "POST", "PUT", "PATCH", "DELETE"),
        allow_headers=("authorization", "content-type", "x-correlation-id"),
        expose_headers=("x-correlation-id",),
        max_age=600,
        allow_credentials=True,
    )
    assert api.api_id == "MallApi"


def test_none_authorizer_opens_a_route_and_an_unknown_one_is_refused():
    template = copy.deepcopy(translated_fixture())
    body = template["Resources"]["MallApi"]["Properties"]["Body"]
    body["paths"]["/pets/dog/{id}"]["get"]["security"] = [{"NONE": []}]
    api = api_from_template(template)
    assert next(r for r in api.routes if r.key == "GET /pets/dog/{id}").authorizer is None
    body["paths"]["/pets/dog/{id}"]["get"]["security"] = [{"Missing": []}]
    with pytest.raises(ValueError, match="unknown authorizer Missing"):
        api_from_template(template)


def test_lambda_request_authorizers_are_read_and_others_refused():
    template = copy.deepcopy(translated_fixture())
    scheme = template["Resources"]["MallApi"]["Properties"]["Body"]["components"]["securitySchemes"][
        "StaffJwt"
    ]
    uri = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        "${MemberAuth.Arn}/invocations"
    )
    scheme["x-amazon-apigateway-authorizer"] = {
        "type": "request",
        "identitySource": "$request.header.Authorization, $request.header.X-Mall",
        "authorizerUri": {"Fn::Sub": uri},
        "enableSimpleResponses": True,
    }
    route = next(r for r in api_from_template(template).routes if r.key == "ANY /v1/admin/{proxy+}")
    assert route.authorizer == LambdaAuthorizer(
        "StaffJwt", "MemberAuth", ("$request.header.Authorization", "$request.header.X-Mall"), True
    )
    del scheme["x-amazon-apigateway-authorizer"]["authorizerUri"]
    with pytest.raises(ValueError, match="cannot run"):
        api_from_template(template)


@pytest.fixture(scope="module")
def table():
    return RouteTable(fixture_api().routes)


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        # API Gateway's own example: full match, then path variables, then greedy, then ANY greedy.
        ("GET", "/pets/dog/1", "GET /pets/dog/1", {}),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}),
        ("GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}),
        ("POST", "/pets/dog/2", "ANY /{proxy+}", {"proxy": "pets/dog/2"}),
        # The exact method beats ANY on the same path; ANY on an exact path beats any greedy route.
        ("POST", "/pets/dog/1", "ANY /pets/dog/1", {}),
        # A longer greedy prefix wins over a shorter one.
        ("GET", "/v1/admin/members", "ANY /v1/admin/{proxy+}", {"proxy": "members"}),
        ("GET", "/v1/admin/tiers/gold", "GET /v1/admin/tiers/{id}", {"id": "gold"}),
        ("GET", "/shops/a%20b/items/x%2Fy", "GET /shops/{shop}/items/{item}", {"shop": "a b", "item": "x/y"}),
        # {proxy+} needs at least one segment; nothing else matches "/": the $default route.
        ("GET", "/", "$default", {}),
    ],
)
def test_most_specific_route_wins(table, method, path, route_key, params):
    route, found = table.match(method, path)
    assert (route.key, found) == (route_key, params)


def test_without_a_default_route_an_unmatched_request_finds_nothing():
    table = RouteTable([Route("GET", "/a/{id}", "F"), Route("POST", "/a", "F")])
    assert table.match("GET", "/a") is None
    assert table.match("GET", "/a/1/2") is None
    assert table.match("DELETE", "/a") is None
    assert table.match("GET", "/A/1") is None  # paths are case sensitive


def test_route_keys_and_params():
    assert Route("any", "/{proxy+}", "F").key == "ANY /{proxy+}"
    assert Route("GET", "/a/{id}/b/{rest+}", "F").match("GET", "/a/1/b/c/d") == {"id": "1", "rest": "c/d"}
    assert Route("GET", "/a/{id}", "F").match("GET", "/a/") is None


def test_routes_from_engine_specs():
    routes = routes_from_specs(
        [
            {"method": "GET", "path": "/x/{id}", "function": "XFunction"},
            {
                "method": "ANY",
                "path": "/v1/admin/{proxy+}",
                "function": "AdminFunction",
                "authorizer": {"name": "StaffJwt", "issuer": ISSUER, "audience": [CLIENT_ID]},
                "scopes": ["a/b"],
            },
            Route("GET", "/y", "YFunction"),
        ]
    )
    assert [r.key for r in routes] == ["GET /x/{id}", "ANY /v1/admin/{proxy+}", "GET /y"]
    assert routes[1].authorizer == JwtAuthorizer("StaffJwt", ISSUER, (CLIENT_ID,))
    assert routes[1].scopes == ("a/b",)


def test_a_resolved_body_maps_function_arns_back_to_logical_ids():
    body = copy.deepcopy(translated_fixture()["Resources"]["MallApi"]["Properties"]["Body"])
    arn = "arn:aws:lambda:us-east-1:123456789012:function:mallcrm-local-{}"
    for item in body["paths"].values():
        for op in item.values():
            sub = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            logical = sub.split("${")[-1].split(".Arn}")[0]
            function_arn = arn.format(logical)
            uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
            op["x-amazon-apigateway-integration"]["uri"] = uri
    seen = []

    def function_of(function_arn):
        seen.append(function_arn)
        return function_arn.rsplit("-", 1)[1]

    api = api_from_body(body, api_id="abc123", function_of=function_of)
    assert {r.key: r.function for r in api.routes}["GET /pets/dog/{id}"] == "ParamFunction"
    assert api.api_id == "abc123"
    assert arn.format("ParamFunction") in seen
    with pytest.raises(ValueError, match="cannot tell the function"):
        api_from_body(body)
