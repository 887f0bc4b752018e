"""The error mapping, through a real resolver (shared.web) and real HTTP API v2 events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel, Field, field_validator

from shared.api import json_response, make_resolver
from shared.errors import Conflict, NotFound
from tests.unit.shared.helpers import http_event, response_json

PHONE = "13812345678"


class Item(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class Registration(BaseModel):
    phone: str
    items: list[Item] = []

    @field_validator("phone")
    @classmethod
    def _mainland(cls, value: str) -> str:
        if not value.startswith("1"):
            raise ValueError(f"{value} is not a mainland mobile")  # a careless message quoting input
        return value


@pytest.fixture
def app():
    app = make_resolver()

    @app.post("/v1/members")
    def register(body: Registration) -> dict[str, Any]:
        return {"registered": True, "items": len(body.items)}

    @app.get("/v1/members/<member_id>")
    def get_member(member_id: str, limit: int = 10) -> dict[str, Any]:
        if member_id == "taken":
            raise Conflict("member_exists", "This member already exists.")
        if member_id == "missing":
            raise NotFound("member_not_found", "No such member.")
        if member_id == "boom":
            raise RuntimeError(f"database said no for {PHONE}")
        return {"member_id": member_id, "limit": limit}

    @app.post("/v1/raw")
    def raw() -> dict[str, Any]:
        return {"echo": app.current_event.json_body}

    @app.post("/v1/created")
    def created():
        return json_response(201, {"id": "x"}, {"Location": "/v1/created/x"})

    return app


def test_a_valid_request_is_routed(app):
    response = app.resolve(http_event("POST", "/v1/members", body={"phone": PHONE, "items": []}), None)
    assert response["statusCode"] == 200
    assert response_json(response) == {"registered": True, "items": 0}


def test_given_a_mallcrm_error_then_its_status_and_json_body(app):
    response = app.resolve(http_event("GET", "/v1/members/taken"), None)
    assert response["statusCode"] == 409
    assert response_json(response) == {
        "error": {"code": "member_exists", "message": "This member already exists.", "fields": []}
    }
    assert response["headers"]["Content-Type"] == "application/json"
    assert app.resolve(http_event("GET", "/v1/members/missing"), None)["statusCode"] == 404


def test_given_invalid_fields_then_422_with_dotted_paths_and_no_input_values(app):
    body = {"phone": "0" + PHONE, "items": [{"sku": "", "quantity": 0}]}
    response = app.resolve(http_event("POST", "/v1/members", body=body), None)
    assert response["statusCode"] == 422
    error = response_json(response)["error"]
    assert error["code"] == "validation_failed"
    fields = {f["field"]: f["message"] for f in error["fields"]}
    assert set(fields) == {"phone", "items.0.sku", "items.0.quantity"}
    assert PHONE not in response["body"]  # the validator's message quoted it; it is masked
    assert fields["phone"] == "Value error, **** is not a mainland mobile"


def test_given_an_invalid_query_parameter_then_422_naming_it(app):
    response = app.resolve(http_event("GET", "/v1/members/m1", query={"limit": "lots"}), None)
    assert response["statusCode"] == 422
    assert [f["field"] for f in response_json(response)["error"]["fields"]] == ["query.limit"]
    assert "lots" not in response["body"]


def test_given_a_missing_body_then_422_on_body(app):
    response = app.resolve(http_event("POST", "/v1/members"), None)
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["fields"][0]["field"] == "body"


@pytest.mark.parametrize("path", ["/v1/members", "/v1/raw"])
def test_given_malformed_json_then_400_malformed_json(app, path):
    # A typed body and a route's own json_body access both meet JSONDecodeError: both are 400.
    response = app.resolve(http_event("POST", path, body='{"phone": "1381'), None)
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == "malformed_json"
    assert "1381" not in response["body"]


def test_given_an_unsupported_content_type_then_415(app):
    event = http_event("POST", "/v1/members", body="phone=1", headers={"content-type": "text/plain"})
    response = app.resolve(event, None)
    assert response["statusCode"] == 415
    assert response_json(response)["error"]["code"] == "unsupported_media_type"


def test_given_an_unknown_route_then_404_json(app):
    response = app.resolve(http_event("GET", "/v1/nothing-here"), None)
    assert response["statusCode"] == 404
    assert response_json(response)["error"]["code"] == "route_not_found"


def test_given_a_known_path_with_another_method_then_405_with_allow(app):
    response = app.resolve(http_event("DELETE", "/v1/members/m1"), None)
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET"
    assert response_json(response)["error"]["code"] == "method_not_allowed"


def test_given_an_unhandled_exception_then_it_is_logged_and_re_raised_never_a_200(app, capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "api-unhandled-test")  # a logger bound to this capsys
    with pytest.raises(RuntimeError):
        app.resolve(http_event("GET", "/v1/members/boom"), None)
    logged = capsys.readouterr().out
    assert "unhandled error in API handler" in logged
    assert PHONE not in logged


@pytest.mark.filterwarnings("ignore:POWERTOOLS_DEV")
def test_debug_mode_does_not_leak_stack_traces(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "api-debug-test")
    app = make_resolver()

    @app.get("/boom")
    def boom() -> dict[str, Any]:
        raise RuntimeError("secret")

    with pytest.raises(RuntimeError):
        app.resolve(http_event("GET", "/boom"), None)


def test_cors_preflight_is_answered(app):
    event = http_event("OPTIONS", "/v1/members", headers={"origin": "https://console.example.test"})
    response = app.resolve(event, None)
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response["headers"]["Access-Control-Allow-Headers"]


def test_json_response_sets_status_headers_and_body(app):
    response = app.resolve(http_event("POST", "/v1/created", body={}), None)
    assert response["statusCode"] == 201
    assert response["headers"]["Location"] == "/v1/created/x"
    assert json.loads(response["body"]) == {"id": "x"}


def test_powertools_service_errors_are_not_mapped_any_more(capsys, monkeypatch):
    """The request path is shared.web, not Powertools: a Powertools ServiceError raised by a route is
    an unhandled error (logged, re-raised → the gateway's bare 500); routes raise MallCrmError."""
    from aws_lambda_powertools.event_handler.exceptions import BadRequestError

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "api-service-error-test")
    app = make_resolver()

    @app.get("/pt")
    def pt() -> dict[str, Any]:
        raise BadRequestError("nope")

    with pytest.raises(BadRequestError):
        app.resolve(http_event("GET", "/pt"), None)
    assert "unhandled error in API handler" in capsys.readouterr().out


def test_a_resolver_without_validation_maps_errors_the_same_way():
    """validation=False (routes that read their raw body, like signed integrations) keeps the error
    shape: MallCrmError → its status, malformed JSON → 400, unknown route → 404, wrong method → 405."""
    app = make_resolver(validation=False)

    @app.post("/v1/raw")
    def raw() -> dict[str, Any]:
        body = app.current_event.json_body
        if body.get("taken"):
            raise Conflict("already_recorded", "Recorded with other content.")
        return {"echo": body}

    def call(
        method: str, path: str, body: str | Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        response = app.resolve(http_event(method, path, body=body), None)
        return response["statusCode"], response_json(response)

    assert call("POST", "/v1/raw", {"a": 1}) == (200, {"echo": {"a": 1}})
    status, body = call("POST", "/v1/raw", {"taken": True})
    assert (status, body["error"]["code"]) == (409, "already_recorded")
    status, body = call("POST", "/v1/raw", "{not json")
    assert (status, body["error"]["code"]) == (400, "malformed_json")
    status, body = call("GET", "/v1/nowhere")
    assert (status, body["error"]["code"]) == (404, "route_not_found")
    status, body = call("GET", "/v1/raw")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
