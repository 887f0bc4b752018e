"""Calling LoyaltyApiFunction's ledger routes in-process: signed purchases and refunds, member
and staff requests, a standard configuration (earning rules, tiers)."""

from __future__ import annotations

import json
from typing import Any

from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
from services.loyalty.handlers import api
from services.loyalty.models.api import PurchaseResponse
from services.loyalty.models.earning import EarningRule, Tier, TierBenefits, TierProgram
from tests.integration.helpers import FakeContext, http_event, signed_headers
from tests.integration.loyalty.conftest import KEY, NOW, TABLE

ALICE = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
BOB = "01HX9ZK3M5N7P9Q1R3S5T7V9WY"
PURCHASES = "/v1/integrations/purchases"


def purchase(external_id: str = "POS-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "source_system": "pos-main",
        "store_id": "store-0101",
        "tenant_id": "tenant-uniqlo",
        "member_id": ALICE,
        "amount_cents": 25900,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 25900}],
        "occurred_at": "2026-03-01T11:58:00+08:00",
    }
    body.update(overrides)
    return body


def refund(external_id: str = "REF-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "source_system": "pos-main",
        "purchase_external_id": "POS-1",
        "store_id": "store-0101",
        "amount_cents": 25900,
        "currency": "CNY",
        "occurred_at": "2026-03-01T11:59:00+08:00",
    }
    body.update(overrides)
    return body


def signed(path: str, body: dict[str, Any], *, timestamp: int | None = None) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    headers = signed_headers(
        KEY,
        source="pos-main",
        method="POST",
        path=path,
        body=raw,
        timestamp=timestamp if timestamp is not None else int(NOW.timestamp()),
    )
    response = api.handler(http_event("POST", path, body=raw, headers=headers), FakeContext())
    if path == PURCHASES and response["statusCode"] in (200, 201):
        # The route writes its JSON text itself (hot path): every answer, whatever its shape
        # (pending, erased, replayed), is what dumping a validated PurchaseResponse gives.
        model = PurchaseResponse.model_validate_json(response["body"])
        assert response["body"] == json.dumps(model.model_dump(mode="json"), separators=(",", ":"))
    return response["statusCode"], json.loads(response["body"])


def post_purchase(body: dict[str, Any], **kw: Any) -> tuple[int, dict[str, Any]]:
    return signed(PURCHASES, body, **kw)


def post_refund(body: dict[str, Any], **kw: Any) -> tuple[int, dict[str, Any]]:
    return signed("/v1/integrations/refunds", body, **kw)


def as_member(
    method: str, path: str, member_id: str = ALICE, *, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    event = http_event(method, path, query=query)
    event["requestContext"]["authorizer"] = {
        "lambda": {"subject": f"wx-{member_id}", "kind": "member", "member_id": member_id}
    }
    response = api.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def as_staff(
    method: str,
    path: str,
    body: Any = None,
    *,
    groups: tuple[str, ...] = ("loyalty_ops",),
    path_parameters: dict[str, str] | None = None,
    route_key: str | None = None,
) -> tuple[int, Any]:
    raw = json.dumps(body) if body is not None and not isinstance(body, str) else body
    event = http_event(
        method,
        path,
        body=raw,
        claims={"sub": "staff-ann", "cognito:groups": list(groups)},
        path_parameters=path_parameters,
        route_key=route_key,
    )
    response = api.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


BASE_RULE = EarningRule(
    rule_id="01HX0000000000000000000001", kind="base", name="1 point per yuan", points=1, per_cents=100
)
TIERS = (
    Tier(tier_id="normal", name="Normal", rank=0, qualify=0),
    Tier(
        tier_id="silver",
        name="Silver",
        rank=1,
        qualify=1000,
        retain=800,
        benefits=TierBenefits(free_parking_hours=2, points_multiplier_pct=120),
    ),
    Tier(
        tier_id="gold",
        name="Gold",
        rank=2,
        qualify=5000,
        retain=4000,
        benefits=TierBenefits(free_parking_hours=4, points_multiplier_pct=150),
    ),
)


def configure(*rules: EarningRule, tiers: tuple[Tier, ...] = TIERS) -> None:
    config = DynamoLoyaltyConfig(TABLE)
    for rule in rules or (BASE_RULE,):
        config.put_rule(rule, expected_version=None)
    for tier in tiers:
        config.put_tier(tier)
    config.put_program(TierProgram(basis="points", window_months=12))
    clear_config_cache()
