"""Purchase → points through LoyaltyApiFunction on moto: one transaction, PointsEarned, pending
points, tier upgrade with TierChanged, WeChat-style retries, erased members, the member's points
and movements, earning-rule administration and the dry run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from services.loyalty.dal.ledger import DynamoLedgerRepository, clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.dal.privacy import DynamoLedgerPseudonymiser, pseudonym_key
from services.loyalty.logic import ledger as L
from services.loyalty.logic.privacy import erase_member, pseudonym
from services.loyalty.models.earning import EarningRule, RuleScope
from tests.integration.helpers import all_items
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import (
    ALICE,
    as_member,
    as_staff,
    configure,
    post_purchase,
    purchase,
)


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    clear_config_cache()
    yield
    clear_config_cache()


def key() -> bytes:
    return pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"])


def ledger_id(member_id: str = ALICE) -> str:
    return pseudonym(key(), member_id)


def outbox(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i["detail_type"] == detail_type
    ]


def balance() -> L.Balance:
    found = DynamoLedgerRepository(TABLE).get_balance(ledger_id())
    assert found is not None
    return found


@pytest.mark.usefixtures("ledger")
class TestPurchaseEarnsPoints:
    def test_a_members_purchase_earns_points_in_its_own_transaction(self) -> None:
        configure()
        status, body = post_purchase(purchase())
        assert status == 201
        assert (body["points_earned"], body["points_status"]) == (259, "available")
        b = balance()
        assert (b.available, b.pending, b.member_id) == (259, 0, ALICE)
        (earned,) = outbox("PointsEarned")
        assert earned["points"] == 259 and earned["member_id"] == ALICE and earned["status"] == "available"
        assert earned["purchase_id"] == body["purchase_id"]
        repo = DynamoLedgerRepository(TABLE)
        lots = repo.open_lots(ledger_id())
        assert [(lot.lot_id, lot.remaining) for lot in lots] == [(body["purchase_id"], 259)]
        assert L.check_invariants(b, lots) == []
        # the ledger is keyed by the pseudonym: the member id appears only on the balance item
        ledger_items = [i for i in all_items(TABLE) if i["pk"].startswith("LEDGER#")]
        assert all(i["pk"] == f"LEDGER#{ledger_id()}" for i in ledger_items)
        assert [i["sk"] for i in ledger_items if i.get("member_id")] == ["BALANCE"]

    def test_retries_of_the_same_purchase_earn_once(self) -> None:
        configure()
        # WeChat-style: the same notice many times, each with a fresh nonce
        answers = [post_purchase(purchase()) for _ in range(5)]
        assert [a[0] for a in answers] == [201, 200, 200, 200, 200]
        assert balance().available == 259
        assert len(outbox("PointsEarned")) == 1
        assert len([i for i in all_items(TABLE) if i.get("entity") == "points_movement"]) == 1

    def test_points_stay_pending_during_the_tenants_return_window(self) -> None:
        window = EarningRule(
            rule_id="01HX0000000000000000000002",
            kind="return_window",
            name="Uniqlo returns",
            days=7,
            scope=RuleScope(tenant_ids=("tenant-uniqlo",)),
        )
        configure(
            EarningRule(rule_id="01HX0000000000000000000001", kind="base", name="b", points=1, per_cents=100),
            window,
        )
        status, body = post_purchase(purchase())
        assert (status, body["points_status"]) == (201, "pending")
        assert (balance().available, balance().pending) == (0, 259)
        (earned,) = outbox("PointsEarned")
        assert earned["status"] == "pending"
        assert earned["available_at"] == "2026-03-08T04:00:00.000000Z"

    def test_qualifying_points_upgrade_the_tier_at_once_with_tier_changed(self) -> None:
        configure()
        post_purchase(
            purchase(
                "POS-1",
                amount_cents=110000,
                items=[{"sku": "S", "category": "a", "quantity": 1, "amount_cents": 110000}],
            )
        )
        assert balance().tier == "silver"
        (movement,), _ = DynamoLedgerRepository(TABLE).movements(ledger_id())
        assert movement.tier_after == "silver"  # the tier change is visible in the movements
        (changed,) = outbox("TierChanged")
        assert changed == {
            "member_id": ALICE,
            "previous_tier": "normal",
            "new_tier": "silver",
            "direction": "up",
            "reason": "qualifying_spend",
            "changed_at": "2026-03-01T04:00:00.000000Z",
            # the tiers' display names, for messages ("{new_tier}" reads "Silver", not "silver")
            "new_tier_label": "Silver",
            "previous_tier_label": "Normal",
        }
        # the next purchase earns with the silver multiplier (x1.2)
        _, body = post_purchase(
            purchase(
                "POS-2",
                amount_cents=10000,
                items=[{"sku": "S", "category": "a", "quantity": 1, "amount_cents": 10000}],
            )
        )
        assert body["points_earned"] == 120

    def test_a_purchase_without_a_member_touches_no_ledger(self) -> None:
        configure()
        body = purchase()
        del body["member_id"]
        status, answer = post_purchase(body)
        assert status == 201 and answer["points_earned"] is None
        assert not [i for i in all_items(TABLE) if i["pk"].startswith("LEDGER#")]

    def test_an_erased_members_purchase_earns_nothing(self) -> None:
        configure()
        post_purchase(purchase("POS-1"))
        erase_member(ALICE, DynamoLedgerPseudonymiser(TABLE), key(), erased_at=NOW)
        b = balance()
        assert b.member_id is None and b.erased_at == NOW and b.available == 259
        # the ledger stays (accounting) under the pseudonym, and no ledger item names her any more
        ledger_items = [i for i in all_items(TABLE) if i["pk"].startswith("LEDGER#")]
        assert ledger_items and not [i for i in ledger_items if ALICE in json.dumps(i, default=str)]
        status, body = post_purchase(purchase("POS-2"))
        assert status == 201
        assert body["member_status"] == "erased" and body["points_earned"] is None
        assert balance().available == 259
        assert len(outbox("PointsEarned")) == 1


@pytest.mark.usefixtures("ledger")
class TestMemberPoints:
    def test_balance_tier_and_movements_paginated(self) -> None:
        configure()
        for n in range(3):
            post_purchase(
                purchase(
                    f"POS-{n}",
                    amount_cents=1000,
                    items=[{"sku": "S", "category": "a", "quantity": 1, "amount_cents": 1000}],
                )
            )
        status, points = as_member("GET", "/v1/members/me/points")
        assert status == 200
        assert points["available"] == 30
        assert points["tier"]["tier_id"] == "normal"
        status, page = as_member("GET", "/v1/members/me/points/movements", query={"limit": "2"})
        assert status == 200
        assert [m["points"] for m in page["movements"]] == [10, 10]
        assert page["movements"][0]["kind"] == "earn"
        assert page["movements"][0]["actor"] == "integration:pos-main"
        assert page["next_cursor"]
        _, rest = as_member(
            "GET", "/v1/members/me/points/movements", query={"limit": "2", "cursor": page["next_cursor"]}
        )
        assert len(rest["movements"]) == 1 and rest["next_cursor"] is None

    def test_a_member_never_seen_has_zero_points(self) -> None:
        configure()
        status, points = as_member("GET", "/v1/members/me/points", "01HX9ZK3M5N7P9Q1R3S5T7V9WZ")
        assert status == 200 and points["available"] == 0

    @pytest.mark.parametrize(
        "query",
        # '²' and 'é' pass str.isdigit / str.isalnum; '²' then made int() raise (a 500).
        [
            {"limit": "1000"},
            {"limit": "\u00b2"},
            {"limit": "-1"},
            {"limit": "1.0"},  # pydantic's lax int would take it; the route never did
            {"cursor": "\u00e9t\u00e9"},
            {"cursor": "../x"},
        ],
    )
    def test_bad_paging_is_a_422(self, query: dict[str, str]) -> None:
        status, body = as_member("GET", "/v1/members/me/points/movements", query=query)
        assert status == 422 and body["error"]["code"] == "validation_failed"


@pytest.mark.usefixtures("ledger")
class TestEarningRulesAdmin:
    def test_crud_and_dry_run_explain_the_calculation(self) -> None:
        status, base = as_staff(
            "POST",
            "/v1/admin/earning-rules",
            {"kind": "base", "name": "1/yuan", "points": 1, "per_cents": 100},
        )
        assert status == 201
        status, double = as_staff(
            "POST",
            "/v1/admin/earning-rules",
            {
                "kind": "multiplier",
                "name": "Double apparel",
                "multiplier_pct": 200,
                "scope": {"categories": ["apparel"]},
            },
        )
        assert status == 201
        status, listed = as_staff("GET", "/v1/admin/earning-rules")
        assert {r["rule_id"] for r in listed["rules"]} == {base["rule_id"], double["rule_id"]}
        status, run = as_staff(
            "POST",
            "/v1/admin/earning-rules/dry-run",
            {
                "store_id": "store-0101",
                "amount_cents": 20000,
                "items": [
                    {"category": "apparel", "amount_cents": 10000},
                    {"category": "food", "amount_cents": 10000},
                ],
                "occurred_at": "2026-03-01T12:00:00+08:00",
            },
        )
        assert status == 200
        assert run["points"] == 300
        assert [s["what"] for s in run["steps"]] == ["base", "multiplier", "points", "total"]
        status, replaced = as_staff(
            "PUT",
            f"/v1/admin/earning-rules/{double['rule_id']}",
            {"kind": "multiplier", "name": "Triple", "multiplier_pct": 300},
            path_parameters={"rule_id": double["rule_id"]},
            route_key="PUT /v1/admin/earning-rules/{rule_id}",
        )
        assert status == 200 and replaced["version"] == 2
        status, _ = as_staff(
            "DELETE",
            f"/v1/admin/earning-rules/{double['rule_id']}",
            path_parameters={"rule_id": double["rule_id"]},
        )
        assert status == 204
        # the purchase path sees the change (the cache is cleared in this container)
        status, body = post_purchase(purchase())
        assert body["points_earned"] == 259

    def test_bad_rules_and_roles_are_refused_and_nothing_is_written(self) -> None:
        status, _ = as_staff("POST", "/v1/admin/earning-rules", {"kind": "base", "name": "x"})
        assert status == 422
        status, _ = as_staff(
            "POST",
            "/v1/admin/earning-rules",
            {"kind": "base", "name": "x", "points": 1, "per_cents": 100},
            groups=("marketer",),
        )
        assert status == 403
        assert not [i for i in all_items(TABLE) if i["pk"] == "CONFIG#EARNING"]

    def test_tiers_and_a_visible_manual_floor(self) -> None:
        status, _ = as_staff(
            "PUT",
            "/v1/admin/tiers/normal",
            {"name": "Normal", "rank": 0, "qualify": 0},
            path_parameters={"tier_id": "normal"},
        )
        assert status == 200
        status, _ = as_staff(
            "PUT",
            "/v1/admin/tiers/gold",
            {
                "name": "Gold",
                "rank": 2,
                "qualify": 5000,
                "retain": 4000,
                "benefits": {"free_parking_hours": 4, "points_multiplier_pct": 150},
            },
            path_parameters={"tier_id": "gold"},
        )
        assert status == 200
        status, _ = as_staff("PUT", "/v1/admin/tiers", {"basis": "spend", "window_months": 6})
        assert status == 200
        status, listing = as_staff("GET", "/v1/admin/tiers")
        assert listing["program"] == {"basis": "spend", "window_months": 6}
        assert [t["tier_id"] for t in listing["tiers"]] == ["normal", "gold"]
        status, view = as_staff(
            "PUT",
            f"/v1/admin/members/{ALICE}/tier-floor",
            {"tier_id": "gold", "reason": "VIP agreement 2026"},
            path_parameters={"member_id": ALICE},
        )
        assert status == 200
        assert view["tier"]["tier_id"] == "gold" and view["tier"]["manual_floor"] == "gold"
        _, points = as_member("GET", "/v1/members/me/points")
        assert points["tier"]["manual_floor"] == "gold"
        assert points["tier"]["benefits"] == {"free_parking_hours": 4, "points_multiplier_pct": 150}
        (changed,) = outbox("TierChanged")
        assert changed["reason"] == "manual"
        audit = [i for i in all_items(TABLE) if i.get("entity") == "ledger_audit"]
        assert audit[0]["staff"] == "staff-ann" and audit[0]["reason"] == "VIP agreement 2026"


@pytest.mark.usefixtures("ledger")
def test_bad_tiers_floors_and_dry_runs_are_4xx_and_write_nothing() -> None:
    before = all_items(TABLE)
    assert (
        as_staff(
            "PUT",
            "/v1/admin/tiers/gold",
            {"name": "Gold", "rank": 2, "qualify": 100, "retain": 500},
            path_parameters={"tier_id": "gold"},
        )[0]
        == 422
    )
    assert (
        as_staff(
            "PUT",
            "/v1/admin/tiers/Bad Id",
            {"name": "X", "rank": 1, "qualify": 1},
            path_parameters={"tier_id": "Bad Id"},
        )[0]
        == 422
    )
    assert (
        as_staff(
            "PUT",
            f"/v1/admin/members/{ALICE}/tier-floor",
            {"tier_id": "nope", "reason": "because"},
            path_parameters={"member_id": ALICE},
        )[0]
        == 422
    )
    assert (
        as_staff(
            "POST",
            "/v1/admin/earning-rules/dry-run",
            {
                "store_id": "s",
                "amount_cents": 100,
                "items": [{"category": "a", "amount_cents": 100}],
                "occurred_at": "2026-03-01T12:00:00+08:00",
                "tier": "nope",
            },
        )[0]
        == 422
    )
    assert as_staff("POST", "/v1/admin/earning-rules", "{not json")[0] == 400
    assert all_items(TABLE) == before
