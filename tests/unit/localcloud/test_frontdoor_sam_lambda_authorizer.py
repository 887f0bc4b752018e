"""SAM writes a Lambda authorizer's uri as Fn::Sub with a variable map; the front door reads it."""

from __future__ import annotations

from infra.localcloud.frontdoor import LambdaAuthorizer, api_from_body


def test_lambda_authorizer_uri_in_sams_fn_sub_list_form() -> None:
    uri = {
        "Fn::Sub": [
            "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${__FunctionArn__}/invocations",
            {"__FunctionArn__": {"Fn::GetAtt": ["MemberAuthorizerFunction", "Arn"]}},
        ]
    }
    body = {
        "components": {
            "securitySchemes": {
                "MemberToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Unused",
                    "x-amazon-apigateway-authorizer": {
                        "type": "request",
                        "authorizerUri": uri,
                        "identitySource": "$request.header.Authorization",
                        "authorizerPayloadFormatVersion": "2.0",
                        "enableSimpleResponses": True,
                    },
                }
            }
        },
        "paths": {
            "/v1/members/me": {
                "get": {
                    "security": [{"MemberToken": []}],
                    "x-amazon-apigateway-integration": {
                        "uri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:x:${MembersApiFunction.Arn}/i"}
                    },
                }
            }
        },
    }
    (route,) = api_from_body(body).routes
    assert route.function == "MembersApiFunction"
    assert isinstance(route.authorizer, LambdaAuthorizer)
    assert route.authorizer.function == "MemberAuthorizerFunction"
    assert route.authorizer.simple_responses
