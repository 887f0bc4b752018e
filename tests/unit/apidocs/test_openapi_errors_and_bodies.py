"""The published OpenAPI document declares what the API really does: every JSON body an operation
reads, the error envelope, and the errors each operation can answer (docs/decisions.md, session 7).

The committed document is the one the code generates (test_openapi_document.py's drift test), so
these read it; the derivation rules are checked on a small API of their own.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from infra.apidocs import errors, generate
from infra.localcloud import frontdoor
from infra.localcloud.frontdoor import JwtAuthorizer, LambdaAuthorizer, Route
from shared.api import make_resolver
from shared.errors import Conflict, error_body
from shared.web import Path, Resolver, Router
from tests.unit.shared.helpers import http_event

DOC: dict[str, Any] = json.loads(generate.OUTPUT.read_text(encoding="utf-8"))
METHODS = ("get", "put", "post", "patch", "delete")
# How a route that does not take a typed body parameter reads its body: the loyalty helpers, the
# signed integrations' raw bytes, a provider's push.
BODY_READERS = (
    "parse_body(",
    "parse_json(",
    "parse_bytes(",
    "event_body_bytes(",
    "json_body",
    "decoded_body",
)
API_MODULES = [
    "services.members.handlers.api",
    "services.loyalty.handlers.api",
    "services.campaigns.handlers.api",
    "services.tickets.handlers.api",
    "services.campaigns.handlers.inbox_api",
    "services.campaigns.handlers.wechat_push_api",
]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def _resolve(doc: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    ref = response.get("$ref")
    if ref is None:
        return response
    name = ref.removeprefix("#/components/responses/")
    resolved: dict[str, Any] = doc["components"]["responses"][name]
    return resolved


def _schema_refs(doc: dict[str, Any], response: dict[str, Any]) -> set[str]:
    schema = _resolve(doc, response).get("content", {}).get("application/json", {}).get("schema", {})
    options = schema.get("oneOf", [schema])
    return {str(o.get("$ref", "")).removeprefix("#/components/schemas/") for o in options}


def _reads_body_by_hand(func: Any) -> bool:
    source = inspect.getsource(func)
    return any(reader in source for reader in BODY_READERS)


def _has_typed_body(app: Resolver, route: Any) -> bool:
    from shared.web import _compile

    return app.validation and _compile(route).body is not None


# -- the real document ----------------------------------------------------------------------------


def test_an_operation_declares_a_request_body_exactly_when_its_route_reads_one() -> None:
    readers: set[tuple[str, str]] = set()
    for module in API_MODULES:
        app = importlib.import_module(module).app
        for route in app.routes:
            if _has_typed_body(app, route) or _reads_body_by_hand(route.func):
                readers.add((route.method.lower(), generate.openapi_path(route.rule)))
    assert len(readers) >= 50  # the detection itself works: typed bodies and loyalty's hand-read ones
    declared = {(m, p) for m, p, op in _operations(DOC) if "requestBody" in op}
    missing = sorted(f"{m.upper()} {p}" for m, p in readers - declared)
    assert missing == [], "declare the model with request_body= on the route (shared.web)"
    assert sorted(declared - readers) == []  # no body documented for a route that reads none


def test_a_declared_body_model_is_the_schema_of_the_request_body() -> None:
    body = DOC["paths"]["/v1/admin/rewards"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RewardIn"}
    assert "RewardIn" in DOC["components"]["schemas"]
    optional = DOC["paths"]["/v1/admin/receipts/{receipt_id}/approve"]["post"]["requestBody"]
    assert optional.get("required", False) is False


def test_the_error_envelope_and_the_gateway_error_are_published() -> None:
    schemas = DOC["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error"]
    assert schemas["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message", "fields"}
    assert schemas["ErrorDetail"]["properties"]["fields"]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
    assert set(schemas["FieldError"]["required"]) == {"field", "message"}
    assert schemas["GatewayError"]["required"] == ["message"]
    for name, schema in errors.schemas().items():
        assert schemas[name] == schema
    assert {"MalformedJson", "ValidationFailed", "FunctionFailed"} <= set(DOC["components"]["responses"])
    # Powertools' own 422 body is not one we send.
    assert "HTTPValidationError" not in json.dumps(DOC)


def test_every_error_response_has_the_envelope_or_the_gateways_body() -> None:
    for method, path, op in _operations(DOC):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                refs = _schema_refs(DOC, response)
                assert refs and refs <= {"Error", "GatewayError"}, (method, path, status)


def test_every_authenticated_operation_lists_401_and_403_with_the_gateways_body() -> None:
    gateway = {"StaffJwt", "MemberToken"}  # the signed integrations are checked by their function
    authenticated = [
        (m, p, op) for m, p, op in _operations(DOC) if any(set(r) & gateway for r in op.get("security", []))
    ]
    assert len(authenticated) > 80
    for method, path, op in authenticated:
        assert "401" in op["responses"], (method, path)
        assert "GatewayError" in _schema_refs(DOC, op["responses"]["401"]), (method, path)
        assert "403" in op["responses"], (method, path)


def test_every_operation_with_input_lists_422_and_with_a_json_body_400() -> None:
    for method, path, op in _operations(DOC):
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in op["responses"], (method, path)
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert "400" in op["responses"], (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
        assert "502" in op["responses"], (method, path)


def test_statuses_and_codes_a_route_documents_become_responses() -> None:
    responses = DOC["paths"]["/v1/members/me/redemptions"]["post"]["responses"]
    assert "`reward_out_of_stock`" in responses["409"]["description"]
    assert "`reward_not_found`" in responses["404"]["description"]
    assert _schema_refs(DOC, responses["409"]) == {"Error"}


# -- the bodies are what the code sends ------------------------------------------------------------


def test_error_bodies_our_functions_send_fit_the_error_schema() -> None:
    bodies = [
        error_body("validation_failed", "x", [{"field": "items.0.sku", "message": "Field required"}]),
        Conflict("reward_exists").body(),
    ]
    app = make_resolver()
    for event in (http_event("GET", "/nowhere"), http_event("POST", "/nowhere", body="{")):
        bodies.append(json.loads(app.resolve(event, None)["body"]))
    for body in bodies:
        errors.Error.model_validate(body)


def test_the_local_front_doors_refusals_fit_the_gateway_error_schema() -> None:
    for status, _, body in (frontdoor._UNAUTHORIZED, frontdoor._FORBIDDEN, frontdoor._AUTHORIZER_FAILED):
        assert status in (401, 403, 500)
        errors.GatewayError.model_validate_json(body)


# -- the derivation, on a small API of its own ----------------------------------------------------


class Thing(BaseModel):
    name: str


def _small_api() -> tuple[Resolver, Resolver]:
    typed = make_resolver()
    read_by_hand = make_resolver(validation=False)
    router = Router()

    @router.post("/v1/admin/things", summary="Create a thing", description="409 thing_exists.")
    def create(thing: Thing) -> dict[str, Any]:
        return {}

    @router.get("/v1/members/me/things/<thing_id>", summary="One thing")
    def get_one(thing_id: Annotated[str, Path(min_length=2)]) -> dict[str, Any]:
        return {}

    typed.include_router(router)
    hand = Router()

    @hand.put("/v1/integrations/things/<thing_id>", request_body=Thing, summary="Signed")
    def put_signed(thing_id: str) -> Any:
        return {}

    @hand.post("/v1/members/me/things", request_body=Thing | None, summary="Optional body")
    def optional() -> Any:
        return {}

    read_by_hand.include_router(hand)
    return typed, read_by_hand


def _small_document() -> dict[str, Any]:
    staff = JwtAuthorizer("StaffJwt", "https://issuer", ("client",))
    member = LambdaAuthorizer("MemberToken", "AuthorizerFunction")
    routes = (
        Route("POST", "/v1/admin/things", "F", staff),
        Route("GET", "/v1/members/me/things/{thing_id}", "F", member),
        Route("PUT", "/v1/integrations/things/{thing_id}", "G"),
        Route("POST", "/v1/members/me/things", "G", member),
    )
    typed, read_by_hand = _small_api()
    return generate.build_document(
        [("a", typed), ("b", read_by_hand)], routes, version="1", warn=lambda m: None
    )


def test_errors_are_derived_from_body_parameters_authorizers_and_descriptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(generate.SIGNED_BY, "/v1/integrations/things/{thing_id}", "IntegrationSignature")
    doc = _small_document()
    create = doc["paths"]["/v1/admin/things"]["post"]["responses"]
    assert set(create) == {"200", "400", "401", "403", "409", "415", "422", "502"}
    assert _schema_refs(doc, create["401"]) == {"GatewayError", "Error"}
    assert _schema_refs(doc, create["403"]) == {"Error"}  # a JWT route without scopes: the function's
    assert "`thing_exists`" in create["409"]["description"]

    get_one = doc["paths"]["/v1/members/me/things/{thing_id}"]["get"]["responses"]
    assert set(get_one) == {"200", "401", "403", "404", "422", "500", "502"}
    assert _schema_refs(doc, get_one["403"]) == {"GatewayError", "Error"}  # the Lambda authorizer's refusal

    signed = doc["paths"]["/v1/integrations/things/{thing_id}"]["put"]
    assert signed["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"
    }
    assert set(signed["responses"]) == {"200", "400", "401", "404", "422", "502"}  # no 415: read by hand

    optional = doc["paths"]["/v1/members/me/things"]["post"]
    assert optional["requestBody"].get("required", False) is False


def test_request_body_only_documents_the_route_never_changes_how_it_runs() -> None:
    app = make_resolver()  # validating: still, a request_body= is never validated nor injected
    router = Router()

    @router.post("/v1/things/<thing_id>", request_body=Thing, summary="Reads its body itself")
    def signed(thing_id: str) -> dict[str, Any]:
        return {"thing_id": thing_id}

    app.include_router(router)
    (route,) = app.routes
    assert route.request_body is Thing
    assert "request_body" not in route.doc
    context: Any = None
    event = http_event("POST", "/v1/things/t1", body="not json")
    assert app.resolve(event, context)["statusCode"] == 200
    oracle = generate.powertools_app(app)  # the parity tests' oracle: no documented body either
    assert oracle.resolve(event, context)["statusCode"] == 200
    documented = generate.powertools_app(app, document_bodies=True).get_openapi_schema()
    assert documented.paths is not None
    assert documented.paths["/v1/things/{thing_id}"].post is not None
    assert documented.paths["/v1/things/{thing_id}"].post.requestBody is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "RewardIn; 409 reward_exists; 404 coupon_template_not_found for a coupon reward.",
            {409: ["reward_exists"], 404: ["coupon_template_not_found"]},
        ),
        (
            "404 movement_not_found, 409 movement_is_reversal / request_id_reused, "
            "422 movement_not_reversible",
            {
                404: ["movement_not_found"],
                409: ["movement_is_reversal", "request_id_reused"],
                422: ["movement_not_reversible"],
            },
        ),
        ("Replace an earning rule (409 when it changed concurrently)", {409: []}),
        ("200 `success`; 401 bad signature; 400 safe mode (encrypt_type=aes).", {401: [], 400: []}),
        ("limit 1-100, within 300 s, 4xx/5xx make WeChat retry, PIPL Art. 45", {}),
    ],
)
def test_statuses_named_in_a_description(text: str, expected: dict[int, list[str]]) -> None:
    assert generate.documented_statuses(text) == expected
