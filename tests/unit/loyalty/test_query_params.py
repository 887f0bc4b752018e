"""The member's wallet and movements validate their query with their models (``parse_query``).

A bad value is a 422 naming the parameter, before anything is read (never a 500, never a silent
default); the values the routes took when they parsed by hand still give the same page request.
"""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace
from typing import Any

import pytest

from services.loyalty.handlers import api as loyalty_api
from services.loyalty.handlers import ledger_deps
from services.loyalty.handlers.routes import points as points_routes
from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from tests.unit.shared.helpers import http_event

MEMBER = {"kind": "member", "subject": "openid-m1", "member_id": "m1"}
WALLET = "/v1/members/me/coupons"
MOVEMENTS = "/v1/members/me/points/movements"
LIMIT = "An integer from 1 to 100."
CURSOR = "Not a cursor from this API."
STATUS = "One of issued, redeemed, expired, revoked."


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The page requests both routes make to their repositories (stubbed: no AWS)."""
    asked: list[dict[str, Any]] = []

    def page(owner: str, *, limit: int, after: str | None) -> tuple[list[Any], None]:
        asked.append({"limit": limit, "cursor": after})
        return [], None

    deps = SimpleNamespace(coupons=lambda: SimpleNamespace(wallet_page=page))
    monkeypatch.setattr(WalletDeps, "load", classmethod(lambda cls: deps))
    monkeypatch.setattr(points_routes, "load", lambda model: SimpleNamespace(pseudonym_key_secret_arn="arn"))
    monkeypatch.setattr(ledger_deps, "ledger_id_of", lambda arn, member_id: f"L-{member_id}")
    monkeypatch.setattr(ledger_deps, "ledger_repo", lambda settings: SimpleNamespace(movements=page))
    return asked


def _get(path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    answer = loyalty_api.app.resolve(http_event("GET", path, query=query, lambda_context=MEMBER), None)
    return answer["statusCode"], json.loads(answer["body"])


BAD = [
    # Non-ASCII digits: str.isdigit takes all three (superscript two, Arabic-Indic three, full-width
    # one), int() the last two; a limit is ASCII digits only.
    ({"limit": "\u00b2"}, "limit", LIMIT),
    ({"limit": "\u0663"}, "limit", LIMIT),
    ({"limit": "\uff11"}, "limit", LIMIT),
    ({"limit": "-1"}, "limit", LIMIT),
    ({"limit": "0"}, "limit", LIMIT),
    ({"limit": "101"}, "limit", LIMIT),
    ({"limit": "9" * 5000}, "limit", LIMIT),  # beyond int()'s digit limit
    # Pydantic's lax int takes these; the routes never did.
    ({"limit": "+5"}, "limit", LIMIT),
    ({"limit": " 5"}, "limit", LIMIT),
    ({"limit": "5\n"}, "limit", LIMIT),
    ({"limit": "1_0"}, "limit", LIMIT),
    ({"limit": "1.0"}, "limit", LIMIT),
    ({"limit": "1,2"}, "limit", LIMIT),  # ?limit=1&limit=2, joined by the gateway
    ({"cursor": "../x"}, "cursor", CURSOR),
    ({"cursor": "\u00e9t\u00e9"}, "cursor", CURSOR),
    ({"cursor": "abc\n"}, "cursor", CURSOR),
    ({"cursor": "a" * 41}, "cursor", CURSOR),
]


@pytest.mark.parametrize("path", [WALLET, MOVEMENTS])
@pytest.mark.parametrize(("query", "field", "message"), BAD)
def test_a_bad_page_parameter_is_a_422_naming_it(
    pages: list[dict[str, Any]], path: str, query: dict[str, str], field: str, message: str
) -> None:
    status, body = _get(path, query)
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["fields"] == [{"field": field, "message": message}]
    assert pages == []  # refused before reading anything


@pytest.mark.parametrize("value", ["x", "ISSUED", "active", "issued,redeemed"])
def test_an_unknown_wallet_status_is_a_422(pages: list[dict[str, Any]], value: str) -> None:
    status, body = _get(WALLET, {"status": value})
    assert (status, body["error"]["fields"]) == (422, [{"field": "status", "message": STATUS}])
    assert pages == []


def test_every_bad_parameter_is_named_at_once(pages: list[dict[str, Any]]) -> None:
    status, body = _get(WALLET, {"status": "x", "limit": "abc", "cursor": "-"})
    assert status == 422
    assert sorted(f["field"] for f in body["error"]["fields"]) == ["cursor", "limit", "status"]
    assert "abc" not in json.dumps(body)  # the value sent is never echoed


@pytest.mark.parametrize(
    ("path", "query", "asked"),
    [
        (WALLET, {}, {"limit": 50, "cursor": None}),
        (WALLET, {"limit": "05", "cursor": "01JABCDEF"}, {"limit": 5, "cursor": "01JABCDEF"}),
        (WALLET, {"limit": "100", "cursor": "a" * 40}, {"limit": 100, "cursor": "a" * 40}),
        (WALLET, {"status": "", "limit": "", "cursor": ""}, {"limit": 50, "cursor": None}),  # empty = absent
        (WALLET, {"status": "revoked", "page": "2", "sort": "x"}, {"limit": 50, "cursor": None}),
        (MOVEMENTS, {}, {"limit": 20, "cursor": None}),
        (MOVEMENTS, {"limit": "1", "cursor": ""}, {"limit": 1, "cursor": None}),
        (MOVEMENTS, {"limit": "007", "cursor": "Z9", "status": "x"}, {"limit": 7, "cursor": "Z9"}),
    ],
)
def test_good_queries_ask_the_same_page_as_before(
    pages: list[dict[str, Any]], path: str, query: dict[str, str], asked: dict[str, Any]
) -> None:
    status, body = _get(path, query)
    assert status == 200, body
    assert pages == [asked]


def test_an_empty_limit_is_absent_on_the_movements_as_on_the_wallet(pages: list[dict[str, Any]]) -> None:
    # Regression: `?limit=` was a 422 on the movements and the default page on the wallet.
    status, body = _get(MOVEMENTS, {"limit": "", "cursor": ""})
    assert status == 200, body
    assert pages == [{"limit": 20, "cursor": None}]


def test_the_route_validates_with_the_model_it_documents() -> None:
    declared = {
        (route.method, route.rule): route.doc["query"]
        for route in loyalty_api.app.routes
        if "query" in route.doc
    }
    assert set(declared) == {("GET", WALLET), ("GET", MOVEMENTS)}
    for (_, rule), model in declared.items():
        route = next(r for r in loyalty_api.app.routes if r.rule == rule and r.method == "GET")
        assert f"parse_query({model.__name__}," in inspect.getsource(route.func)
