"""shared.web answers exactly as Powertools' resolver did (the oracle): the same routes, replayed into
an ``APIGatewayHttpResolver`` by ``infra.apidocs.generate.powertools_app`` and given the error mapping
``shared.api`` had until 2026-11-23, must produce byte-identical Lambda responses.

Two sets of requests: a small API with every kind of parameter (both sides run its route bodies), and
the five real API functions with requests that fail before any route body runs (unknown route, wrong
method, preflight, non-JSON body, malformed JSON, a body that is not an object, bad query values) — so
no AWS is touched and every real route declaration is exercised on both sides.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from infra.apidocs.generate import powertools_app
from shared.api import DEFAULT_CORS_ALLOW_HEADERS, _error_response, make_resolver, validation_fields
from shared.errors import Conflict, MallCrmError
from shared.web import Path, Query, Resolver, Response, Router
from tests.unit.shared.helpers import http_event

ORIGIN = {"origin": "https://console.example.test"}
API_MODULES = [
    "services.members.handlers.api",
    "services.loyalty.handlers.api",
    "services.campaigns.handlers.api",
    "services.tickets.handlers.api",
    "services.campaigns.handlers.inbox_api",
    "services.campaigns.handlers.wechat_push_api",
]


def powertools_oracle(app: Resolver) -> Any:
    """``app``'s routes on Powertools, with the pre-2026-11-23 ``shared.api.make_resolver`` mapping."""
    from aws_lambda_powertools.event_handler.api_gateway import CORSConfig
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.event_handler.openapi.exceptions import (
        RequestUnsupportedContentType,
        RequestValidationError,
    )

    cors = CORSConfig(allow_origin="*", allow_headers=DEFAULT_CORS_ALLOW_HEADERS, max_age=600)
    oracle = powertools_app(app, cors=cors, debug=False)

    def _as_powertools(response: Response[str]) -> Any:
        from aws_lambda_powertools.event_handler import Response as PowertoolsResponse

        return PowertoolsResponse(
            status_code=response.status_code,
            content_type="application/json",
            body=response.body,
            headers=response.headers,
        )

    def on_mallcrm(exc: MallCrmError) -> Any:
        return _as_powertools(_error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers))

    def on_validation(exc: RequestValidationError) -> Any:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _as_powertools(
                _error_response(400, "malformed_json", "The request body is not valid JSON.")
            )
        return _as_powertools(
            _error_response(
                422, "validation_failed", "The request did not pass validation.", validation_fields(errors)
            )
        )

    def on_json(exc: json.JSONDecodeError) -> Any:
        return _as_powertools(_error_response(400, "malformed_json", "The request body is not valid JSON."))

    def on_content_type(exc: RequestUnsupportedContentType) -> Any:
        return _as_powertools(
            _error_response(415, "unsupported_media_type", "Send the body as application/json.")
        )

    def on_not_found(exc: NotFoundError) -> Any:
        method = oracle.current_event.http_method.upper()
        path = oracle.current_event.path
        routes = [*oracle._static_routes, *oracle._dynamic_routes]
        allowed = sorted({r.method for r in routes if r.method != method and r.rule.match(path)})
        if allowed:
            return _as_powertools(
                _error_response(
                    405,
                    "method_not_allowed",
                    f"{method} is not allowed on this path.",
                    headers={"Allow": ", ".join(allowed)},
                )
            )
        return _as_powertools(_error_response(404, "route_not_found", "No such route."))

    oracle.exception_handler(MallCrmError)(on_mallcrm)
    oracle.exception_handler(json.JSONDecodeError)(on_json)
    if app.validation:
        oracle.exception_handler(RequestValidationError)(on_validation)
        oracle.exception_handler(RequestUnsupportedContentType)(on_content_type)
    oracle.not_found(on_not_found)
    return oracle


def both(app: Resolver, oracle: Any, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return app.resolve(copy.deepcopy(event), None), oracle.resolve(copy.deepcopy(event), None)


# -- a small API with every kind of parameter --------------------------------------------------------


class Patch(BaseModel):
    nickname: str = Field(min_length=1, max_length=20)
    plates: list[str] = []


class Options(BaseModel):
    sample: int = Field(default=5, ge=1, le=10)


class Out(BaseModel):
    member_id: str
    display: str = Field(serialization_alias="displayName")
    note: str | None = None


class Secretive(BaseModel):
    member_id: str


class WithSecret(Secretive):
    pepper: str


router = Router()


@router.get("/v1/members/<member_id>")
def get_member(  # noqa: PLR0917 - the route's parameters, as a route declares them
    member_id: Annotated[str, Path(pattern=r"^[0-9A-Z]{26}$")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    reveal: Annotated[bool, Query()] = False,
    status: Annotated[Literal["open", "closed"], Query()] = "open",
    next_token: Annotated[str | None, Query(max_length=8)] = None,
    q: Annotated[str | None, Query(min_length=2)] = None,
) -> dict[str, Any]:
    if member_id == "0" * 26:
        raise Conflict("member_exists", "This member already exists.")
    return {
        "member_id": member_id,
        "limit": limit,
        "reveal": reveal,
        "status": status,
        "next": next_token,
        "q": q,
    }


@router.get("/v1/tagged")
def tagged(tag: Annotated[list[str], Query(max_length=3)]) -> dict[str, Any]:
    return {"tag": tag}


@router.get("/v1/cards/<member_id>")
def get_card(member_id: str) -> Out:
    return Out(member_id=member_id, display="商场 Ada")


@router.get("/v1/leaky")
def leaky() -> Secretive:
    return WithSecret(member_id="m1", pepper="do-not-send")


@router.patch("/v1/members/me")
def patch_me(body: Patch) -> Out:
    return Out(member_id="me", display=body.nickname)


@router.post("/v1/segments/<segment_id>/preview")
def preview(segment_id: str, body: Options | None = None) -> dict[str, Any]:
    return {"segment_id": segment_id, "sample": body.sample if body else None}


@router.delete("/v1/tags/<tag_id>")
def delete_tag(tag_id: str) -> Response[str]:
    return Response(status_code=204, content_type="application/json", body="")


@router.post("/v1/tags")
def create_tag(body: Patch) -> Response[str]:
    from shared.api import json_response

    return json_response(201, {"tag": body.nickname}, {"Location": "/v1/tags/x"})


MEMBER = "01JD0000000000000000000ABC"
SMALL_API_REQUESTS = [
    ("GET", f"/v1/members/{MEMBER}", {}),
    ("GET", f"/v1/members/{MEMBER}", {"query": {"limit": "5", "reveal": "yes", "status": "closed"}}),
    ("GET", f"/v1/members/{MEMBER}", {"query": {"limit": "0", "next_token": "x" * 9, "q": "a"}}),
    ("GET", f"/v1/members/{MEMBER}", {"query": {"limit": "lots", "status": "lost", "reveal": "perhaps"}}),
    ("GET", f"/v1/members/{MEMBER}", {"query": {"q": "a,b"}}),
    ("GET", "/v1/members/not-a-ulid", {"query": {"limit": "1000"}}),
    ("GET", "/v1/members/" + "0" * 26, {}),
    ("GET", "/v1/cards/m1", {}),
    ("GET", "/v1/tagged", {"query": {"tag": "a,b"}}),
    ("GET", "/v1/tagged", {"query": {"tag": "a,b,c,d"}}),
    ("GET", "/v1/tagged", {}),
    ("GET", "/v1/leaky", {}),
    ("PATCH", "/v1/members/me", {"body": {"nickname": "Ada", "plates": ["沪A1"]}}),
    ("PATCH", "/v1/members/me", {"body": {"nickname": "", "plates": [1, "x"], "extra": 1}}),
    ("PATCH", "/v1/members/me", {}),
    ("PATCH", "/v1/members/me", {"body": "null"}),
    ("PATCH", "/v1/members/me", {"body": '{"nickname": "13812345678'}),
    ("PATCH", "/v1/members/me", {"body": {"nickname": "Ada"}, "base64_body": True}),
    ("PATCH", "/v1/members/me", {"body": "nickname=x", "headers": {"content-type": "text/plain"}}),
    (
        "PATCH",
        "/v1/members/me",
        {"body": {"nickname": "Ada"}, "headers": {"content-type": "application/json; charset=utf-8"}},
    ),
    ("POST", "/v1/segments/s1/preview", {}),
    ("POST", "/v1/segments/s1/preview", {"body": {"sample": 3}}),
    ("POST", "/v1/segments/s1/preview", {"body": {"sample": 30}}),
    ("DELETE", "/v1/tags/t1", {}),
    ("POST", "/v1/tags", {"body": {"nickname": "vip"}}),
    ("POST", "/v1/tags/t1", {}),
    ("GET", "/v1/nowhere", {}),
    ("OPTIONS", "/v1/members/me", {}),
    ("OPTIONS", "/v1/anything", {"headers": {"access-control-request-method": "GET"}}),
]


@pytest.fixture(scope="module")
def small_api() -> tuple[Resolver, Any]:
    app = make_resolver()
    app.include_router(router)
    return app, powertools_oracle(app)


@pytest.mark.parametrize("with_origin", [False, True], ids=["no-origin", "origin"])
@pytest.mark.parametrize(("method", "path", "options"), SMALL_API_REQUESTS)
def test_the_small_api_answers_as_powertools_did(small_api, method, path, options, with_origin):
    app, oracle = small_api
    options = dict(options)
    if with_origin:
        options["headers"] = {**options.get("headers", {}), **ORIGIN}
    ours, theirs = both(app, oracle, http_event(method, path, **options))
    assert ours == theirs


# -- the real API functions, with requests that never reach a route body -----------------------------


def _failing_requests(app: Resolver) -> list[tuple[str, str, dict[str, Any]]]:
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/no-such-route", {}),
        ("OPTIONS", "/v1/no-such-route", {"headers": ORIGIN}),
    ]
    methods = {"GET", "POST", "PUT", "PATCH", "DELETE"}
    for route in app.routes:
        path = route.rule.replace("<", "").replace(">", "")  # /v1/members/member_id: a plausible value
        for_path = [r.method for r in app.routes if r.matches(path) is not None]
        if not for_path:
            continue
        other = sorted(methods - set(for_path))
        if other:
            requests.append((other[0], path, {"headers": ORIGIN}))
        requests.append(("OPTIONS", path, {"headers": ORIGIN}))
        if not app.validation:
            continue
        plan = _plan(route)
        if plan.body is not None:
            requests.append((route.method, path, {"body": "x=1", "headers": {"content-type": "text/plain"}}))
            requests.append((route.method, path, {"body": '{"phone": "1381'}))
            requests.append((route.method, path, {"body": "[]"}))
        for field in plan.fields:
            if field.location != "query":
                continue
            for bad in ("lots", "x" * 5000, "!"):
                requests.append((route.method, path, {"query": {field.key: bad}, "body": "[]"}))
    return requests


def _plan(route: Any) -> Any:
    from shared.web import _compile

    return _compile(route)


def _fails_before_the_route(app: Resolver, event: dict[str, Any]) -> bool:
    """Only compare requests our side refuses before calling the route (AWS is not there)."""
    calls: list[str] = []
    method = event["requestContext"]["http"]["method"]
    found = app._find(method, event["rawPath"])
    if found is None:
        return True
    route = found[0]
    if app.validation and route._plan is None:
        route._plan = _plan(route)  # from the real function, before the spy replaces it
    original = route.func

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(route.rule)
        raise AssertionError("reached the route")

    route.func = spy
    try:
        with contextlib.suppress(AssertionError):
            app.resolve(copy.deepcopy(event), None)
    finally:
        route.func = original
    return not calls


@pytest.mark.parametrize("module", API_MODULES)
def test_every_real_api_refuses_bad_requests_as_powertools_did(module):
    app = importlib.import_module(module).app
    oracle = powertools_oracle(app)
    compared = 0
    for method, path, options in _failing_requests(app):
        event = http_event(method, path, **options)
        if not _fails_before_the_route(app, event):
            continue
        ours, theirs = both(app, oracle, event)
        assert ours == theirs, (method, path, options)
        compared += 1
    assert compared >= len(app.routes)
