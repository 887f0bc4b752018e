"""The payload-2.0 event the front door builds, and how it maps the function's answer back.

The reference is the documented 2.0 format (API Gateway developer guide, "Create AWS Lambda proxy
integrations for HTTP APIs", payload format version 2.0).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from infra.localcloud.frontdoor import ApiDefinition, FrontDoor
from tests.fixtures.frontdoor.fakes import FakeCloud, fake_front_door, fixture_api

DOCUMENTED_TOP_LEVEL = {
    "version",
    "routeKey",
    "rawPath",
    "rawQueryString",
    "cookies",
    "headers",
    "queryStringParameters",
    "requestContext",
    "body",
    "pathParameters",
    "isBase64Encoded",
    "stageVariables",
}
DOCUMENTED_CONTEXT = {
    "accountId",
    "apiId",
    "authentication",
    "authorizer",
    "domainName",
    "domainPrefix",
    "http",
    "requestId",
    "routeKey",
    "stage",
    "time",
    "timeEpoch",
}


def _event(door, cloud, method="GET", path="/pets/dog/7", *, headers=None, body=b"", query=""):
    status, _, _ = door.handle(method, path, headers or {}, body, query=query, source_ip="198.51.100.7")
    assert status == 200
    return cloud.calls[-1][1]


def test_event_has_the_documented_shape():
    door, cloud = fake_front_door()
    event = _event(
        door,
        cloud,
        "POST",
        "/pets/dog/1",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "curl/8",
            "X-Multi": ["a", "b"],
            "Cookie": "c1=v1; c2=v2",
        },
        body=b'{"a": 1}',
        query="parameter1=value1&parameter1=value2&parameter2=value&e=a%20b",
    )
    assert set(event) <= DOCUMENTED_TOP_LEVEL
    assert set(event["requestContext"]) <= DOCUMENTED_CONTEXT
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /pets/dog/1"
    assert event["rawPath"] == "/pets/dog/1"
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=value&e=a%20b"
    assert event["queryStringParameters"] == {
        "parameter1": "value1,value2",
        "parameter2": "value",
        "e": "a b",
    }
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"] == {"content-type": "application/json", "user-agent": "curl/8", "x-multi": "a,b"}
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    assert "pathParameters" not in event
    ctx = event["requestContext"]
    assert ctx["accountId"] == "123456789012"
    assert ctx["apiId"] == "MallApi"
    assert ctx["domainName"] == "MallApi.execute-api.us-east-1.amazonaws.com"
    assert ctx["domainPrefix"] == "MallApi"
    assert ctx["http"] == {
        "method": "POST",
        "path": "/pets/dog/1",
        "protocol": "HTTP/1.1",
        "sourceIp": "198.51.100.7",
        "userAgent": "curl/8",
    }
    assert ctx["routeKey"] == "ANY /pets/dog/1"
    assert ctx["stage"] == "$default"
    assert re.fullmatch(r"[A-Za-z0-9+/]{14}==", ctx["requestId"])
    # The virtual clock, in the documented formats.
    assert ctx["time"] == "12/Mar/2026:19:03:58 +0000"
    assert ctx["timeEpoch"] == 1773342238390
    assert "authorizer" not in ctx


def test_headers_with_different_case_are_joined_and_lower_cased():
    door, cloud = fake_front_door()
    event = _event(door, cloud, headers={"Accept": "a/b", "accept": "c/d"})
    assert event["headers"] == {"accept": "a/b,c/d"}


def test_minimal_get_has_no_optional_fields():
    door, cloud = fake_front_door()
    event = _event(door, cloud)
    assert "cookies" not in event and "queryStringParameters" not in event and "body" not in event
    assert event["rawQueryString"] == ""
    assert event["pathParameters"] == {"id": "7"}
    assert event["isBase64Encoded"] is False


def test_query_can_come_with_the_path():
    door, cloud = fake_front_door()
    event = _event(door, cloud, path="/pets/dog/7?x=1")
    assert (event["rawPath"], event["rawQueryString"], event["queryStringParameters"]) == (
        "/pets/dog/7",
        "x=1",
        {"x": "1"},
    )


def test_binary_and_untyped_bodies_are_base64():
    door, cloud = fake_front_door()
    raw = bytes(range(256))
    event = _event(door, cloud, "POST", "/pets/dog/1", headers={"content-type": "image/png"}, body=raw)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    event = _event(door, cloud, "POST", "/pets/dog/1", body=b"plain")
    assert (event["isBase64Encoded"], event["body"]) == (True, base64.b64encode(b"plain").decode())
    event = _event(
        door, cloud, "POST", "/pets/dog/1", headers={"content-type": "text/plain"}, body=b"\xff\xfe"
    )
    assert event["isBase64Encoded"] is True
    event = _event(
        door, cloud, "POST", "/pets/dog/1", headers={"content-type": "application/problem+json"}, body=b"{}"
    )
    assert (event["isBase64Encoded"], event["body"]) == (False, "{}")


def test_greedy_path_parameter():
    door, cloud = fake_front_door()
    event = _event(door, cloud, path="/pets/cat/a%20b/c")
    assert event["routeKey"] == "GET /pets/{proxy+}"
    assert event["pathParameters"] == {"proxy": "cat/a b/c"}


def test_trigger_is_http():
    door, cloud = fake_front_door()
    _event(door, cloud)
    assert cloud.calls[-1][0] == "ParamFunction"
    assert cloud.calls[-1][2] == "http"


# -- the function's answer ---------------------------------------------------------------------------


def test_full_response_passes_through_with_cookies_and_base64():
    door, _ = fake_front_door(
        ExactFunction=lambda e: {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png", "X-Count": 3},
            "cookies": ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    status, headers, body = door.handle("GET", "/pets/dog/1", {}, b"")
    assert status == 201
    assert body == b"\x89PNG"
    assert headers["content-type"] == "image/png"
    assert headers["x-count"] == "3"
    assert headers["set-cookie"].split("\n") == ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"]


def test_response_without_status_code_is_a_200_json_body():
    door, _ = fake_front_door(ExactFunction=lambda e: {"hello": "world"})
    assert door.handle("GET", "/pets/dog/1", {}, b"")[::2] == (200, b'{"hello": "world"}')
    door, _ = fake_front_door(ExactFunction=lambda e: "hi")
    status, headers, body = door.handle("GET", "/pets/dog/1", {}, b"")
    assert (status, headers["content-type"], body) == (200, "application/json", b'"hi"')


def test_status_only_response_has_an_empty_body():
    door, _ = fake_front_door(ExactFunction=lambda e: {"statusCode": 204})
    status, headers, body = door.handle("GET", "/pets/dog/1", {}, b"")
    assert (status, body) == (204, b"")
    assert "content-type" not in headers


def _failing(event):
    secret = "phone 13800138000"
    raise RuntimeError(f"Traceback (most recent call last): {secret}")


def test_function_error_is_a_502_in_the_error_shape_without_detail():
    door, _ = fake_front_door(ExactFunction=_failing)
    status, headers, body = door.handle("GET", "/pets/dog/1", {}, b"")
    assert status == 502
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["error"]["code"] == "bad_gateway"
    assert "Traceback" not in body.decode() and "13800138000" not in body.decode()


def _answering(result: object) -> Callable[[dict[str, Any]], object]:
    """A function that answers every event with ``result``."""
    return lambda event: result


def test_error_payload_and_malformed_responses_are_502s():
    for result in (
        {"errorMessage": "boom at line 3", "errorType": "KeyError", "stackTrace": ["x"]},
        {"statusCode": "abc"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
    ):
        door, _ = fake_front_door(ExactFunction=_answering(result))
        status, _, body = door.handle("GET", "/pets/dog/1", {}, b"")
        assert status == 502, result
        assert json.loads(body)["error"]["code"] == "bad_gateway"
        assert b"boom" not in body and b"stackTrace" not in body


def test_unknown_route_is_a_404_json_error():
    api = fixture_api()
    without_default = ApiDefinition(routes=tuple(r for r in api.routes if r.key != "$default"), cors=api.cors)
    door = FrontDoor(FakeCloud(), api=without_default)
    status, headers, body = door.handle("GET", "/", {}, b"")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": {"code": "not_found", "message": "No route for GET /", "fields": []}}


# -- request ids, correlation ids, CORS --------------------------------------------------------------


def test_request_id_and_correlation_id():
    door, cloud = fake_front_door()
    _, headers, _ = door.handle("GET", "/pets/dog/1", {}, b"")
    assert headers["apigw-requestid"] == cloud.calls[-1][1]["requestContext"]["requestId"]
    assert headers["x-correlation-id"] == headers["apigw-requestid"]
    _, headers, _ = door.handle("GET", "/pets/dog/1", {"X-Correlation-Id": "corr-1"}, b"")
    assert headers["x-correlation-id"] == "corr-1"
    assert cloud.calls[-1][1]["headers"]["x-correlation-id"] == "corr-1"
    door, _ = fake_front_door(
        ExactFunction=lambda e: {"statusCode": 200, "headers": {"X-Correlation-Id": "from-fn"}, "body": ""}
    )
    assert (
        door.handle("GET", "/pets/dog/1", {"x-correlation-id": "corr-1"}, b"")[1]["x-correlation-id"]
        == "from-fn"
    )


def test_cors_preflight_is_answered_from_the_cors_configuration():
    door, cloud = fake_front_door()
    status, headers, body = door.handle(
        "OPTIONS",
        "/v1/admin/members",
        {
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        b"",
    )
    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-allow-methods"] == "GET,POST,PUT,PATCH,DELETE"
    assert headers["access-control-allow-headers"] == "authorization,content-type,x-correlation-id"
    assert headers["access-control-max-age"] == "600"
    assert headers["access-control-allow-credentials"] == "true"
    assert cloud.calls == []  # neither the authorizer nor a function saw it


def test_cors_preflight_from_another_origin_gets_no_cors_headers():
    door, _ = fake_front_door()
    status, headers, _ = door.handle(
        "OPTIONS",
        "/pets/dog/1",
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        b"",
    )
    assert status == 204
    assert not any(h.startswith("access-control-") for h in headers)


def test_cors_headers_on_responses_replace_the_functions():
    door, _ = fake_front_door(
        ExactFunction=lambda e: {
            "statusCode": 200,
            "headers": {"Access-Control-Allow-Origin": "*"},
            "body": "x",
        }
    )
    _, headers, _ = door.handle("GET", "/pets/dog/1", {"Origin": "http://localhost:5173"}, b"")
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-expose-headers"] == "x-correlation-id"
    _, headers, _ = door.handle("GET", "/pets/dog/1", {}, b"")
    assert "access-control-allow-origin" not in headers


def test_options_without_preflight_headers_is_routed():
    door, cloud = fake_front_door()
    status, _, _ = door.handle("OPTIONS", "/pets/dog/1", {}, b"")
    assert status == 200
    assert cloud.calls[-1][1]["routeKey"] == "ANY /pets/dog/1"


def test_the_runners_result_object_is_understood():
    from dataclasses import dataclass

    @dataclass
    class Result:
        payload: Any
        error: Any

    door, _ = fake_front_door(ExactFunction=lambda e: Result({"statusCode": 202, "body": "ok"}, None))
    assert door.handle("GET", "/pets/dog/1", {}, b"")[::2] == (202, b"ok")
    door, _ = fake_front_door(
        ExactFunction=lambda e: Result(None, {"errorType": "KeyError", "errorMessage": "x"})
    )
    status, _, body = door.handle("GET", "/pets/dog/1", {}, b"")
    assert status == 502 and b"KeyError" not in body
