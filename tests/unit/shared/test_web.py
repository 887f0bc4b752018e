"""shared.web: routing, parameter injection, return values, CORS and the request object, through
``shared.api.make_resolver`` (the error mapping itself is in test_api.py) and real HTTP API v2 events."""

from __future__ import annotations

import base64
import decimal
import json
import subprocess
import sys
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from shared.api import json_response, make_resolver
from shared.web import Body, Path, Query, Response, Router, content_types
from tests.unit.shared.helpers import http_event, response_json

ROOT = FilePath(__file__).resolve().parents[3]
ULID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
MEMBER = "01JD0000000000000000000ABC"
ORIGIN = {"origin": "https://console.example.test"}


class Patch(BaseModel):
    nickname: str = Field(min_length=1, max_length=20)
    plates: list[str] = []


class Options(BaseModel):
    sample: int = Field(default=5, ge=1, le=10)


class Out(BaseModel):
    member_id: str
    display: str = Field(serialization_alias="displayName")


class Secretive(BaseModel):
    member_id: str


class WithSecret(Secretive):
    pepper: str


router = Router()


@router.get("/v1/members/<member_id>")
def get_member(
    member_id: Annotated[str, Path(pattern=ULID)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    reveal: Annotated[bool, Query()] = False,
    status: Annotated[Literal["open", "closed"], Query()] = "open",
    next_token: Annotated[str | None, Query(max_length=8, alias="nextToken")] = None,
) -> dict[str, Any]:
    seen = router.current_event
    return {
        "member_id": member_id,
        "limit": limit,
        "reveal": reveal,
        "status": status,
        "next_token": next_token,
        "method": seen.http_method,
    }


@router.get("/v1/members/<member_id>/card")
def get_card(member_id: str) -> Out:
    return Out(member_id=member_id, display="Ada")


@router.get("/v1/search")
def search(q: Annotated[str, Query(min_length=1, max_length=50)]) -> dict[str, Any]:
    return {"q": q}


@router.patch("/v1/members/me")
def patch_me(body: Patch) -> dict[str, Any]:
    return {"nickname": body.nickname, "plates": body.plates}


@router.post("/v1/segments/<segment_id>/preview")
def preview(segment_id: str, body: Options | None = None) -> dict[str, Any]:
    return {"segment_id": segment_id, "sample": body.sample if body else None}


@router.put("/v1/tags/<tag_id>")
def put_tag(tag_id: str, rule: Annotated[Patch, Body(description="the rule")]) -> dict[str, Any]:
    return {"tag_id": tag_id, "nickname": rule.nickname}


@router.delete("/v1/tags/<tag_id>")
def delete_tag(tag_id: str) -> Response[str]:
    return Response(status_code=204, content_type="application/json", body="")


@router.post("/v1/created")
def created() -> Response[str]:
    return json_response(201, {"id": "x"}, {"Location": "/v1/created/x"})


@router.get("/v1/leaky")
def leaky() -> Secretive:
    return WithSecret(member_id="m1", pepper="do-not-send")


@router.get("/v1/wrong-shape")
def wrong_shape() -> Out:
    return {"member_id": "m1"}  # type: ignore[return-value]  # missing display: a server bug


@router.get("/v1/amounts")
def amounts():  # no return annotation: JSON-encoded as it is
    return {"amount": decimal.Decimal("12.50"), "note": "商场"}


@router.get("/v1/tuple")
def as_tuple() -> dict[str, Any]:
    return {"accepted": True}, 202  # type: ignore[return-value]


@router.get("/v1/static/<name>")
def dynamic_name(name: str) -> dict[str, Any]:
    return {"route": "dynamic", "name": name}


@router.get("/v1/static/fixed")
def static_name() -> dict[str, Any]:
    return {"route": "static"}


@router.get("/v1/bytes")
def raw_bytes() -> Response[bytes]:
    return Response(200, "application/octet-stream", b"\x00\x01binary")


@router.get("/v1/html")
def html() -> Response[str]:
    return Response(200, content_types.TEXT_HTML, "<p>hi</p>")


@pytest.fixture
def app():
    resolver = make_resolver()
    resolver.include_router(router)
    return resolver


def call(app, method, path, **kwargs):
    response = app.resolve(http_event(method, path, **kwargs), None)
    body = (
        response_json(response)
        if response["body"] and response["headers"].get("Content-Type", "").startswith("application/json")
        else response["body"]
    )
    return response["statusCode"], body, response


# -- routing -----------------------------------------------------------------------------------------


def test_path_parameters_and_typed_query_parameters_are_injected(app):
    status, body, _ = call(
        app, "GET", f"/v1/members/{MEMBER}", query={"limit": "5", "reveal": "true", "nextToken": "abc"}
    )
    assert status == 200
    assert body == {
        "member_id": MEMBER,
        "limit": 5,
        "reveal": True,
        "status": "open",
        "next_token": "abc",
        "method": "GET",
    }


def test_defaults_apply_when_query_parameters_are_absent(app):
    status, body, _ = call(app, "GET", f"/v1/members/{MEMBER}")
    assert (status, body["limit"], body["reveal"], body["next_token"]) == (200, 20, False, None)


def test_a_static_rule_wins_over_a_dynamic_one_whatever_the_order(app):
    assert call(app, "GET", "/v1/static/fixed")[1] == {"route": "static"}
    assert call(app, "GET", "/v1/static/other")[1] == {"route": "dynamic", "name": "other"}


def test_path_parameters_take_the_gateways_characters_but_not_a_slash(app):
    assert call(app, "GET", "/v1/static/a.b~c@d")[1]["name"] == "a.b~c@d"
    assert call(app, "GET", "/v1/static/a/b")[0] == 404


def test_the_stage_prefix_of_a_named_stage_is_removed():
    resolver = make_resolver()
    resolver.include_router(router)
    event = http_event("GET", "/prod/v1/static/fixed")
    event["requestContext"]["stage"] = "prod"
    assert response_json(resolver.resolve(event, None)) == {"route": "static"}


def test_unknown_path_is_404_and_known_path_with_other_method_is_405_with_allow(app):
    status, body, _ = call(app, "GET", "/v1/nowhere")
    assert (status, body["error"]["code"]) == (404, "route_not_found")
    status, body, response = call(app, "POST", "/v1/tags/t1")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    assert response["headers"]["Allow"] == "DELETE, PUT"


def test_the_route_table_is_public_and_in_registration_order(app):
    rules = [(r.method, r.rule) for r in app.routes]
    assert rules[0] == ("GET", "/v1/members/<member_id>")
    assert ("DELETE", "/v1/tags/<tag_id>") in rules
    assert app.routes[0].doc == {}


def test_documentation_keywords_are_kept_on_the_route():
    local = Router()

    @local.get("/v1/doc", summary="One", tags=["x"], responses={404: {"description": "none"}})
    def documented() -> dict[str, Any]:
        return {}

    (route,) = local.routes
    assert route.doc == {"summary": "One", "tags": ["x"], "responses": {404: {"description": "none"}}}


# -- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "lots"}, "query.limit"),
        ({"reveal": "maybe"}, "query.reveal"),
        ({"status": "lost"}, "query.status"),
        ({"nextToken": "x" * 9}, "query.nextToken"),
    ],
)
def test_a_query_parameter_out_of_its_constraints_is_422_naming_it(app, query, field):
    status, body, response = call(app, "GET", f"/v1/members/{MEMBER}", query=query)
    assert status == 422
    assert [f["field"] for f in body["error"]["fields"]] == [field]
    assert query[next(iter(query))] not in response["body"]


def test_a_path_parameter_failing_its_pattern_is_422_and_path_errors_come_first(app):
    status, body, _ = call(app, "GET", "/v1/members/not-a-ulid", query={"limit": "0"})
    assert status == 422
    assert [f["field"] for f in body["error"]["fields"]] == ["path.member_id", "query.limit"]


def test_a_missing_required_query_parameter_is_422_field_required(app):
    status, body, _ = call(app, "GET", "/v1/search")
    assert status == 422
    assert body["error"]["fields"] == [{"field": "query.q", "message": "Field required"}]


def test_a_query_parameter_sent_twice_fails_a_scalar_but_a_comma_stays_in_the_value(app):
    event = http_event("GET", "/v1/search", query={"q": "a,b"})
    event["rawQueryString"] = "q=a&q=b"  # the gateway joins repeated values with commas
    assert app.resolve(event, None)["statusCode"] == 422
    assert call(app, "GET", "/v1/search", query={"q": "a,b"})[1] == {"q": "a,b"}


def test_a_model_body_is_validated_and_injected(app):
    status, body, _ = call(app, "PATCH", "/v1/members/me", body={"nickname": "Ada", "plates": ["沪A1"]})
    assert (status, body) == (200, {"nickname": "Ada", "plates": ["沪A1"]})
    status, body, _ = call(app, "PATCH", "/v1/members/me", body={"nickname": "", "plates": [1]})
    assert status == 422
    assert [f["field"] for f in body["error"]["fields"]] == ["nickname", "plates.0"]


def test_a_missing_required_body_is_422_on_body_and_an_optional_one_is_none(app):
    status, body, _ = call(app, "PATCH", "/v1/members/me")
    assert (status, body["error"]["fields"][0]["field"]) == (422, "body")
    assert call(app, "POST", "/v1/segments/s1/preview")[1] == {"segment_id": "s1", "sample": None}
    assert call(app, "POST", "/v1/segments/s1/preview", body={"sample": 3})[1]["sample"] == 3
    status, body, _ = call(app, "POST", "/v1/segments/s1/preview", body={"sample": 30})
    assert (status, body["error"]["fields"][0]["field"]) == (422, "sample")


def test_a_body_declared_with_the_body_marker_is_injected(app):
    assert call(app, "PUT", "/v1/tags/t1", body={"nickname": "vip"})[1] == {"tag_id": "t1", "nickname": "vip"}


def test_a_json_array_is_not_a_model_body(app):
    status, body, _ = call(app, "PATCH", "/v1/members/me", body="[]")
    assert (status, body["error"]["fields"][0]["field"]) == (422, "body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_route_refuses_a_body_that_is_not_json_with_415(app, content_type):
    status, body, _ = call(
        app, "PATCH", "/v1/members/me", body="nickname=x", headers={"content-type": content_type}
    )
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", ""])
def test_json_with_a_charset_or_without_a_content_type_is_accepted(app, content_type):
    event = http_event("PATCH", "/v1/members/me", body={"nickname": "Ada"})
    if content_type:
        event["headers"]["content-type"] = content_type
    else:
        del event["headers"]["content-type"]
    assert app.resolve(event, None)["statusCode"] == 200


def test_a_base64_encoded_body_is_decoded(app):
    status, body, _ = call(app, "PATCH", "/v1/members/me", body={"nickname": "Ada"}, base64_body=True)
    assert (status, body["nickname"]) == (200, "Ada")


def test_a_base64_body_that_is_not_utf8_json_is_400_malformed_json(app):
    event = http_event("PATCH", "/v1/members/me", body=b"\xff\xfe not text")
    status = app.resolve(event, None)["statusCode"]
    assert status == 400
    assert response_json(app.resolve(event, None))["error"]["code"] == "malformed_json"


# -- return values -----------------------------------------------------------------------------------


def test_a_returned_model_is_dumped_by_alias_as_compact_json(app):
    status, _, response = call(app, "GET", "/v1/members/m1/card")
    assert status == 200
    assert response["body"] == '{"member_id":"m1","displayName":"Ada"}'
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["isBase64Encoded"] is False
    assert response["cookies"] == []


def test_the_return_annotation_filters_what_a_route_returns(app):
    assert call(app, "GET", "/v1/leaky")[1] == {"member_id": "m1"}


def test_a_return_value_that_does_not_fit_its_annotation_is_a_validation_failure(app):
    status, body, _ = call(app, "GET", "/v1/wrong-shape")
    assert status == 422
    assert body["error"]["fields"][0]["field"] == "response.display"


def test_a_response_passes_through_with_its_status_headers_and_body(app):
    status, body, response = call(app, "POST", "/v1/created", body={})
    assert (status, body) == (201, {"id": "x"})
    assert response["headers"]["Location"] == "/v1/created/x"
    status, body, response = call(app, "DELETE", "/v1/tags/t1")
    assert (status, response["body"]) == (204, "")


def test_without_a_return_annotation_the_body_is_encoded_as_without_validation(app):
    _, _, response = call(app, "GET", "/v1/amounts")
    assert response["body"] == '{"amount":"12.50","note":"\\u5546\\u573a"}'


def test_a_dict_and_status_tuple_and_non_json_responses(app):
    assert call(app, "GET", "/v1/tuple")[:2] == (202, {"accepted": True})
    _, _, response = call(app, "GET", "/v1/bytes")
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\x00\x01binary"
    _, _, response = call(app, "GET", "/v1/html")
    assert (response["body"], response["headers"]["Content-Type"]) == ("<p>hi</p>", "text/html")


# -- CORS --------------------------------------------------------------------------------------------

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Authorization,Content-Type,Idempotency-Key,X-Amz-Date,X-Amz-Security-Token,X-Api-Key,X-Correlation-Id"
    ),
    "Access-Control-Max-Age": "600",
}


def test_a_request_with_an_origin_gets_the_cors_headers_on_success_and_on_errors(app):
    for method, path in (("GET", "/v1/static/fixed"), ("GET", "/v1/nowhere"), ("GET", "/v1/search")):
        _, _, response = call(app, method, path, headers=ORIGIN)
        assert {k: response["headers"][k] for k in CORS_HEADERS} == CORS_HEADERS


def test_a_request_without_an_origin_gets_no_cors_headers(app):
    _, _, response = call(app, "GET", "/v1/static/fixed")
    assert not any(k.startswith("Access-Control") for k in response["headers"])


def test_a_preflight_is_204_with_every_method_the_api_has(app):
    status, body, response = call(app, "OPTIONS", "/v1/members/me", headers=ORIGIN)
    assert (status, body) == (204, "")
    assert response["headers"] == {
        "Access-Control-Allow-Methods": "DELETE,GET,OPTIONS,PATCH,POST,PUT",
        **CORS_HEADERS,
    }


# -- the request object, without validation ----------------------------------------------------------


def test_without_validation_routes_get_path_parameters_and_read_the_request_themselves():
    app = make_resolver(validation=False)
    seen: dict[str, Any] = {}

    @app.post("/v1/raw/<item_id>")
    def raw(item_id):
        event = app.current_event
        seen.update(
            item_id=item_id,
            method=event.http_method,
            path=event.path,
            signature=event.headers.get("X-MallCRM-Signature"),
            has_header="X-MALLCRM-SIGNATURE" in event.headers,
            query=event.query_string_parameters,
            body=event.body,
            decoded=event.decoded_body,
            json_body=event.json_body,
            request_id=event.request_context.request_id,
            raw=event.raw_event["rawPath"],
        )
        return {"ok": True}

    event = http_event(
        "POST",
        "/v1/raw/i1",
        body={"a": 1},
        headers={"x-mallcrm-signature": "abc"},
        query={"x": "1"},
        base64_body=True,
    )
    assert app.resolve(event, None)["statusCode"] == 200
    assert seen == {
        "item_id": "i1",
        "method": "POST",
        "path": "/v1/raw/i1",
        "signature": "abc",
        "has_header": True,
        "query": {"x": "1"},
        "body": event["body"],
        "decoded": '{"a": 1}',
        "json_body": {"a": 1},
        "request_id": event["requestContext"]["requestId"],
        "raw": "/v1/raw/i1",
    }


def test_current_event_exists_only_during_a_request():
    with pytest.raises(RuntimeError):
        _ = Router().current_event


def test_a_request_on_one_thread_is_not_the_current_event_of_another():
    # Regression: the event was process-wide, and the local cloud resolves requests on its server
    # thread while its background thread runs other functions.
    import threading

    app = make_resolver()
    inside, seen_elsewhere = threading.Event(), threading.Event()
    outcome: list[str] = []

    @app.get("/v1/slow")
    def slow() -> dict[str, str]:
        inside.set()
        seen_elsewhere.wait(5)
        return {"path": app.current_event.path}

    def other_thread() -> None:
        inside.wait(5)
        try:
            _ = Router().current_event
            outcome.append("leaked")
        except RuntimeError:
            outcome.append("isolated")
        seen_elsewhere.set()

    watcher = threading.Thread(target=other_thread)
    watcher.start()
    answer = app.resolve(http_event("GET", "/v1/slow"), None)
    watcher.join(5)
    assert outcome == ["isolated"]
    assert response_json(answer) == {"path": "/v1/slow"}


# -- laziness ----------------------------------------------------------------------------------------


def test_annotations_are_resolved_at_the_first_call_and_the_plan_is_cached():
    app = make_resolver()

    @app.get("/v1/later")
    def later(limit: Annotated[int, Query(ge=1)] = 1) -> NotDefinedYet:  # type: ignore[name-defined]  # noqa: F821
        return NotDefinedYet(limit=limit)  # type: ignore[name-defined]  # noqa: F821

    (route,) = app.routes
    assert route._plan is None  # registering resolved nothing
    globals()["NotDefinedYet"] = Options
    try:
        assert response_json(app.resolve(http_event("GET", "/v1/later", query={"limit": "2"}), None)) == {
            "sample": 5
        }
        plan = route._plan
        assert plan is not None
        app.resolve(http_event("GET", "/v1/later"), None)
        assert route._plan is plan
    finally:
        del globals()["NotDefinedYet"]


def test_json_response_bodies_keep_non_ascii_text():
    response = json_response(200, {"name": "商场"})
    assert json.loads(response.body) == {"name": "商场"}
    assert "商场" in response.body


# -- cold start --------------------------------------------------------------------------------------

API_HANDLER_MODULES = [
    "services.members.handlers.api",
    "services.loyalty.handlers.api",
    "services.campaigns.handlers.api",
    "services.tickets.handlers.api",
    "services.campaigns.handlers.inbox_api",
    "services.campaigns.handlers.wechat_push_api",
]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME": "import-test"},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("module", API_HANDLER_MODULES)
def test_importing_an_api_handler_does_not_import_powertools_event_handler(module):
    loaded = _modules_after(f"import {module}")
    assert module in loaded
    assert not {m for m in loaded if m.startswith("aws_lambda_powertools.event_handler")}


def test_shared_web_imports_only_the_standard_library():
    loaded = _modules_after("import shared.web")
    assert "pydantic" not in loaded
    assert not {m for m in loaded if m.startswith("aws_lambda_powertools")}


def test_a_list_query_parameter_takes_repeated_or_comma_joined_values():
    app = make_resolver()

    @app.get("/v1/tagged")
    def tagged(tag: Annotated[list[str], Query(max_length=3)]) -> dict[str, Any]:
        return {"tag": tag}

    event = http_event("GET", "/v1/tagged", query={"tag": "a,b"})
    event["rawQueryString"] = "tag=a&tag=b"
    assert response_json(app.resolve(event, None)) == {"tag": ["a", "b"]}
    assert response_json(app.resolve(http_event("GET", "/v1/tagged", query={"tag": "a"}), None)) == {
        "tag": ["a"]
    }
    event = http_event("GET", "/v1/tagged", query={"tag": "a,b,c,d"})
    assert app.resolve(event, None)["statusCode"] == 422


def test_a_nested_resolve_leaves_the_outer_requests_event_in_place():
    inner = make_resolver()
    outer = make_resolver()

    @inner.get("/v1/inner")
    def inner_route() -> dict[str, Any]:
        return {"path": inner.current_event.path}

    @outer.get("/v1/outer")
    def outer_route() -> dict[str, Any]:
        nested = inner.resolve(http_event("GET", "/v1/inner"), None)
        return {"nested": response_json(nested)["path"], "mine": outer.current_event.path}

    answer = response_json(outer.resolve(http_event("GET", "/v1/outer"), None))
    assert answer == {"nested": "/v1/inner", "mine": "/v1/outer"}
