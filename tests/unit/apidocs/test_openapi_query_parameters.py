"""Query parameters a route reads itself are documented, and as the route reads them.

The loyalty API does not inject parameters (its signed routes read the raw body), so two of its
routes validate their query themselves with the model they declare with ``query=`` for the OpenAPI
document (``parse_query``; docs/decisions.md, sessions 8 and 9). These tests check the declaration
against the route: the same values accepted, the same defaults, the same 422s.
"""

from __future__ import annotations

import importlib
import inspect
import json
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from infra.apidocs import generate
from services.loyalty.handlers import api as loyalty_api
from services.loyalty.handlers.routes import coupons as coupon_routes
from services.loyalty.handlers.routes import points as points_routes
from services.loyalty.handlers.routes import query as page_query
from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from tests.unit.shared.helpers import http_event

DOC: dict[str, Any] = json.loads(generate.OUTPUT.read_text(encoding="utf-8"))
API_MODULES = [
    "services.members.handlers.api",
    "services.loyalty.handlers.api",
    "services.campaigns.handlers.api",
    "services.tickets.handlers.api",
]
# How a route reads its query without declaring it.
QUERY_READERS = (
    "parse_query(",
    "query_string_parameters",
    "queryStringParameters",
    "rawQueryString",
)
MEMBER = {"kind": "member", "subject": "openid-m1", "member_id": "m1"}
LIMITS = [None, "1", "20", "50", "100", "0", "101", "-1", "1.5", "abc", "1e2"]
CURSORS = [None, "01JABCDEF", "a" * 40, "a" * 41, "ab-c", "ab_c", "a b"]


def _source(func: Any, depth: int = 2) -> str:
    """``func``'s source and that of the functions of its module it calls (a `_query()` helper)."""
    source = inspect.getsource(func)
    module = inspect.getmodule(func)
    for name in func.__code__.co_names if depth else ():
        helper = getattr(module, name, None)
        if inspect.isfunction(helper) and helper.__module__ == func.__module__ and helper is not func:
            source += _source(helper, depth - 1)
    return source


def test_every_route_that_reads_its_query_documents_its_parameters() -> None:
    readers = []
    for module in API_MODULES:
        for route in importlib.import_module(module).app.routes:
            if any(r in _source(route.func) for r in QUERY_READERS):
                readers.append((route.method.lower(), generate.openapi_path(route.rule)))
    assert len(readers) >= 4  # loyalty's wallet and movements, tickets' queue, WeChat's push
    for method, path in readers:
        parameters = DOC["paths"][path][method].get("parameters", [])
        assert any(p["in"] == "query" for p in parameters), (method, path)


def test_the_declared_parameters_are_in_the_document() -> None:
    coupons = {p["name"]: p for p in DOC["paths"]["/v1/members/me/coupons"]["get"]["parameters"]}
    assert set(coupons) == {"status", "limit", "cursor"}
    assert coupons["limit"]["schema"]["minimum"] == 1
    assert coupons["limit"]["schema"]["maximum"] == page_query.MAX_PAGE
    assert coupons["limit"]["schema"]["default"] == coupon_routes.DEFAULT_PAGE
    assert coupons["cursor"]["schema"]["anyOf"][0]["maxLength"] == 40
    assert all(p["description"] and p["required"] is False for p in coupons.values())
    movements = DOC["paths"]["/v1/members/me/points/movements"]["get"]["parameters"]
    assert {p["name"] for p in movements} == {"limit", "cursor"}


def _declared(model: type[BaseModel], query: dict[str, str]) -> dict[str, Any] | None:
    """What the declaration accepts: the parsed values, or None for a 422."""
    try:
        return model.model_validate(query).model_dump()
    except ValidationError:
        return None


def _resolve(path: str, query: dict[str, str]) -> dict[str, Any]:
    event = http_event("GET", path, query=query, lambda_context=MEMBER)
    return loyalty_api.app.resolve(event, None)


def _samples(**values: list[str | None]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for name, options in values.items():
        out.extend({name: v} if v is not None else {} for v in options)
    return out


@pytest.mark.parametrize(
    "query",
    _samples(limit=LIMITS, cursor=CURSORS, status=[None, "issued", "redeemed", "expired", "revoked", "x"]),
)
def test_the_wallet_accepts_what_its_declaration_accepts(
    query: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[dict[str, Any]] = []

    def wallet_page(member_id: str, *, limit: int, after: str | None) -> tuple[list[Any], None]:
        pages.append({"limit": limit, "cursor": after})
        return [], None

    deps = SimpleNamespace(coupons=lambda: SimpleNamespace(wallet_page=wallet_page))
    monkeypatch.setattr(WalletDeps, "load", classmethod(lambda cls: deps))
    answer = _resolve("/v1/members/me/coupons", query)
    declared = _declared(coupon_routes.WalletQuery, query)
    if declared is None:
        assert answer["statusCode"] == 422, answer
        assert json.loads(answer["body"])["error"]["code"] == "validation_failed"
    else:
        assert answer["statusCode"] == 200, answer
        assert pages == [{"limit": declared["limit"], "cursor": declared["cursor"]}]


@pytest.mark.parametrize("query", _samples(limit=LIMITS, cursor=CURSORS))
def test_the_movements_accept_what_their_declaration_accepts(
    query: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.loyalty.handlers import ledger_deps

    pages: list[dict[str, Any]] = []

    def movements(ledger_id: str, *, limit: int, after: str | None) -> tuple[list[Any], None]:
        pages.append({"limit": limit, "cursor": after})
        return [], None

    monkeypatch.setattr(points_routes, "load", lambda model: SimpleNamespace(pseudonym_key_secret_arn="arn"))
    monkeypatch.setattr(ledger_deps, "ledger_id_of", lambda arn, member_id: f"L-{member_id}")
    monkeypatch.setattr(ledger_deps, "ledger_repo", lambda settings: SimpleNamespace(movements=movements))
    answer = _resolve("/v1/members/me/points/movements", query)
    declared = _declared(points_routes.MovementsQuery, query)
    if declared is None:
        assert answer["statusCode"] == 422, answer
    else:
        assert answer["statusCode"] == 200, answer
        assert pages == [declared]


def test_unknown_query_parameters_are_still_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    deps = SimpleNamespace(coupons=lambda: SimpleNamespace(wallet_page=lambda *a, **k: ([], None)))
    monkeypatch.setattr(WalletDeps, "load", classmethod(lambda cls: deps))
    assert _resolve("/v1/members/me/coupons", {"page": "2", "sort": "x"})["statusCode"] == 200
