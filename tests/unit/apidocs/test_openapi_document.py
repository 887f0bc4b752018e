"""The committed OpenAPI document is what the services' code generates (run `make openapi`)."""

from __future__ import annotations

import json

import pytest

from infra.apidocs import generate
from infra.localcloud.frontdoor import JwtAuthorizer, Route


def test_committed_openapi_json_has_not_drifted(capsys):
    assert generate.main(["--check"]) == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_document(tmp_path, capsys):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert generate.main(["--check", "--output", str(stale)]) == 1
    assert "make openapi" in capsys.readouterr().err
    assert generate.main(["--output", str(stale)]) == 0
    assert generate.main(["--check", "--output", str(stale)]) == 0


def test_the_document_is_valid_openapi():
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json.loads(generate.OUTPUT.read_text(encoding="utf-8")))


class _App:
    def __init__(self, paths):
        self.paths = paths

    def get_openapi_json_schema(self, **kwargs):
        return json.dumps({"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": self.paths})


def _op(op_id):
    return {"operationId": op_id, "responses": {"200": {"description": "ok"}}}


def test_gateway_authorizers_become_security_requirements_and_mismatches_are_reported():
    staff = JwtAuthorizer("StaffJwt", "https://issuer", ("client",))
    routes = (
        Route("GET", "/v1/admin/members/{id}", "MembersApiFunction", staff),
        Route("POST", "/v1/admin/tiers", "LoyaltyApiFunction", staff, ("mallcrm/admin",)),
        Route("POST", "/v1/integrations/purchases", "LoyaltyApiFunction"),
        Route("GET", "/v1/kb/search", "TicketsApiFunction"),
        Route("GET", "/openapi.json", "ApiDocsFunction"),
    )
    apps = [
        ("members", _App({"/v1/admin/members/{member_id}": {"get": _op("get_member")}})),
        (
            "loyalty",
            _App(
                {
                    "/v1/admin/tiers": {"post": _op("create_tier")},
                    "/v1/integrations/purchases": {"post": _op("purchase")},
                    "/v1/unrouted": {"get": _op("unrouted")},
                }
            ),
        ),
    ]
    warnings: list[str] = []
    doc = generate.build_document(apps, routes, version="9.9.9", warn=warnings.append)
    assert doc["info"]["version"] == "9.9.9"
    assert doc["paths"]["/v1/admin/members/{member_id}"]["get"]["security"] == [{"StaffJwt": []}]
    assert doc["paths"]["/v1/admin/tiers"]["post"]["security"] == [{"StaffJwt": ["mallcrm/admin"]}]
    # Signed by its source, checked by the function: documented with its signature scheme.
    assert doc["paths"]["/v1/integrations/purchases"]["post"]["security"] == [{"IntegrationSignature": []}]
    assert doc["components"]["securitySchemes"]["IntegrationSignature"]["name"] == "X-MallCRM-Signature"
    assert doc["components"]["securitySchemes"]["StaffJwt"]["scheme"] == "bearer"
    assert warnings == [
        "openapi: GET /v1/unrouted is documented but the gateway has no route for it",
        "openapi: the gateway routes GET /v1/kb/search to TicketsApiFunction, which does not document it",
    ]


def test_two_services_documenting_one_operation_is_an_error():
    apps = [("a", _App({"/x": {"get": _op("a")}})), ("b", _App({"/x": {"get": _op("b")}}))]
    with pytest.raises(Exception, match="Conflict"):
        generate.build_document(apps, (Route("GET", "/x", "F"),), version="1", warn=lambda m: None)


def test_an_integration_route_without_a_signature_scheme_stops_the_generation():
    apps = [("a", _App({"/v1/integrations/new-thing": {"post": _op("new")}}))]
    routes = (Route("POST", "/v1/integrations/new-thing", "F"),)
    with pytest.raises(ValueError, match="SIGNED_BY"):
        generate.build_document(apps, routes, version="1", warn=lambda m: None)


def test_every_operation_has_an_id_a_summary_tags_and_its_security():
    doc = json.loads(generate.OUTPUT.read_text(encoding="utf-8"))
    schemes = doc["components"]["securitySchemes"]
    public = []
    ids = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["summary"] and op["tags"], (method, path)
            assert "security" in op, (method, path)
            for requirement in op["security"]:
                assert set(requirement) <= set(schemes), (method, path)
            if not op["security"]:
                public.append(f"{method.upper()} {path}")
    assert len(ids) == len(set(ids))
    assert sorted(public) == ["POST /v1/auth/staff", "POST /v1/auth/wechat"]
