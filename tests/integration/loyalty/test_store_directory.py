"""The mall's store directory through LoyaltyApiFunction on moto: operators manage it, signed
purchases are checked against it from the cached configuration (no read per request), refusals
leave the ledger and the nonces untouched, a purchase's amount is backed by its lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.loyalty.dal import loyalty_config
from services.loyalty.dal.ledger import clear_calendar_cache
from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
from services.loyalty.models.earning import EarningRule, RuleScope
from services.loyalty.models.stores import Store
from shared.aws import client
from tests.integration.helpers import all_items
from tests.integration.loyalty.conftest import TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import (
    BASE_RULE,
    as_staff,
    configure,
    post_purchase,
    post_refund,
    purchase,
    refund,
)

UNIQLO = {"tenant_id": "tenant-uniqlo", "name": "Uniqlo 1F-01", "floor": "1F", "unit": "1F-01"}


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    clear_config_cache()
    yield
    clear_config_cache()


def put_store(store_id: str, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    return as_staff(
        "PUT",
        f"/v1/admin/stores/{store_id}",
        body,
        path_parameters={"store_id": store_id},
        route_key="PUT /v1/admin/stores/{store_id}",
        **kw,
    )


def snapshot() -> list[dict[str, Any]]:
    return sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"]))


def written_by_purchases() -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i["pk"].startswith(("PURCHASE#", "NONCE#", "LEDGER#", "OUTBOX#"))]


@pytest.mark.usefixtures("ledger")
class TestOperatorsManageTheDirectory:
    def test_create_replace_read_and_audit(self) -> None:
        status, created = put_store("store-0101", UNIQLO)
        assert status == 201
        assert created["store_id"] == "store-0101" and created["active"] is True and created["version"] == 1
        assert created["updated_by"] == "staff:staff-ann"
        status, closed = put_store("store-0101", {**UNIQLO, "active": False})
        assert status == 200 and closed["version"] == 2 and closed["active"] is False
        status, listed = as_staff("GET", "/v1/admin/stores", groups=("marketer",))
        assert status == 200 and [s["store_id"] for s in listed["stores"]] == ["store-0101"]
        status, one = as_staff(
            "GET",
            "/v1/admin/stores/store-0101",
            path_parameters={"store_id": "store-0101"},
            route_key="GET /v1/admin/stores/{store_id}",
        )
        assert status == 200 and one["active"] is False and one["floor"] == "1F"
        audit = [i for i in all_items(TABLE) if i["pk"] == "AUDIT#STORE#store-0101"]
        assert sorted(a["action"] for a in audit) == ["store_changed", "store_created"]
        assert {a["actor"] for a in audit} == {"staff:staff-ann"}

    def test_unknown_store_bad_body_and_roles_are_refused(self) -> None:
        status, body = as_staff(
            "GET",
            "/v1/admin/stores/nope",
            path_parameters={"store_id": "nope"},
            route_key="GET /v1/admin/stores/{store_id}",
        )
        assert status == 404 and body["error"]["code"] == "store_not_found"
        status, body = put_store("store-0101", {"name": "no tenant"})
        assert status == 422 and body["error"]["code"] == "validation_failed"
        status, _ = put_store("store-0101", UNIQLO, groups=("marketer",))
        assert status == 403
        status, _ = put_store("store-0101", UNIQLO, groups=("store_staff",))
        assert status == 403
        assert not [i for i in all_items(TABLE) if "STORE" in i["pk"]]


@pytest.mark.usefixtures("ledger")
class TestPurchasesAreCheckedAgainstTheDirectory:
    def _load(self) -> None:
        configure()
        assert put_store("store-0101", UNIQLO)[0] == 201
        assert put_store("store-0202", {**UNIQLO, "name": "Closed", "active": False})[0] == 201

    @pytest.mark.parametrize(
        ("overrides", "code", "field"),
        [
            ({"store_id": "S-NOPE"}, "unknown_store", "store_id"),
            ({"store_id": "store-0202"}, "store_inactive", "store_id"),
            ({"tenant_id": "tenant-other"}, "store_tenant_mismatch", "tenant_id"),
            ({"amount_cents": 100_000}, "amount_exceeds_items", "amount_cents"),
        ],
    )
    def test_refusals_are_422_and_write_nothing(
        self, overrides: dict[str, Any], code: str, field: str
    ) -> None:
        self._load()
        before = snapshot()
        status, body = post_purchase(purchase(**overrides))
        assert status == 422, body
        assert body["error"]["code"] == code and body["error"]["fields"][0]["field"] == field
        assert snapshot() == before  # no purchase, no points, no outbox, and the nonce not spent
        assert written_by_purchases() == []

    def test_a_known_store_earns_and_its_tenant_is_filled_in(self) -> None:
        configure(
            BASE_RULE,
            EarningRule(
                rule_id="01HX0000000000000000000009",
                kind="base",
                name="Uniqlo: 2 points per yuan",
                points=2,
                per_cents=100,
                scope=RuleScope(tenant_ids=("tenant-uniqlo",)),
            ),
        )
        put_store("store-0101", UNIQLO)
        body = purchase()
        del body["tenant_id"]
        status, answer = post_purchase(body)
        assert status == 201
        assert answer["tenant_id"] == "tenant-uniqlo" and answer["points_earned"] == 518  # the tenant's rule

    def test_a_fresh_install_records_any_store(self) -> None:
        configure()
        status, answer = post_purchase(purchase(store_id="S-NOPE"))
        assert status == 201 and answer["store_id"] == "S-NOPE" and answer["tenant_id"] == "tenant-uniqlo"
        # The amount rule holds without a directory too.
        status, answer = post_purchase(purchase("POS-2", amount_cents=100_000))
        assert status == 422 and answer["error"]["code"] == "amount_exceeds_items"

    def test_lines_above_the_amount_are_a_discount(self) -> None:
        self._load()
        lines = [
            {"sku": "A", "category": "apparel", "quantity": 1, "amount_cents": 19900},
            {"sku": "B", "category": "apparel", "quantity": 1, "amount_cents": 10000},
        ]
        status, answer = post_purchase(purchase(items=lines))  # 29,900 on the lines, 25,900 paid
        assert status == 201 and answer["points_earned"] == 259

    def test_a_retry_after_the_store_closed_is_answered_as_a_replay(self) -> None:
        self._load()
        status, first = post_purchase(purchase())
        assert status == 201
        put_store("store-0101", {**UNIQLO, "active": False})
        status, again = post_purchase(purchase())
        assert status == 200 and again["replayed"] is True and again["purchase_id"] == first["purchase_id"]
        status, other = post_purchase(purchase(amount_cents=25000))
        assert status == 409 and other["error"]["code"] == "purchase_conflict"
        # Refunds follow their purchase: a closed store's purchase can still be refunded.
        status, refunded = post_refund(refund())
        assert status == 201 and refunded["points_clawed_back"] == 259

    def test_the_purchase_path_reads_the_directory_from_the_cache(self) -> None:
        self._load()
        assert post_purchase(purchase("POS-0"))[0] == 201  # warms the container's configuration
        calls: list[str] = []

        def count(model: Any, **_: Any) -> None:
            calls.append(model.name)

        events = client("dynamodb").meta.events
        events.register("before-call.dynamodb", count)
        try:
            assert post_purchase(purchase("POS-1"))[0] == 201
        finally:
            events.unregister("before-call.dynamodb", count)
        # The balance, then the one transaction; no Query of the directory. (Off AWS the due
        # calendar's UpdateItem is written on every purchase, on AWS once per container per day.)
        assert [c for c in calls if c != "UpdateItem"] == ["GetItem", "TransactWriteItems"]

    def test_a_store_added_by_another_container_is_found_before_refusing(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = [1_000.0]

        class Monotonic:
            @staticmethod
            def monotonic() -> float:
                return now[0]

        monkeypatch.setattr(loyalty_config, "time", Monotonic)
        self._load()
        assert post_purchase(purchase("POS-0"))[0] == 201  # this container caches the directory
        # Another container adds a store: this one's cache does not know it.
        DynamoLoyaltyConfig(TABLE).put_store(
            Store(store_id="store-0303", tenant_id="tenant-new", name="Just opened"), expected_version=None
        )
        calls: list[str] = []

        def count(model: Any, **_: Any) -> None:
            calls.append(model.name)

        events = client("dynamodb").meta.events
        events.register("before-call.dynamodb", count)
        try:
            now[0] += 1  # within STORE_RELOAD_SECONDS of the last read: refused without a read
            status, body = post_purchase(purchase("POS-3", store_id="store-0303", tenant_id=None))
            assert status == 422 and body["error"]["code"] == "unknown_store"
            assert "Query" not in calls
            now[0] += loyalty_config.STORE_RELOAD_SECONDS  # later: the refusal path re-reads once
            status, body = post_purchase(purchase("POS-3", store_id="store-0303", tenant_id=None))
            assert status == 201 and body["tenant_id"] == "tenant-new"
            assert calls.count("Query") == 3  # earning rules, tiers, stores: one reload
            calls.clear()
            assert post_purchase(purchase("POS-4", store_id="store-0303", tenant_id=None))[0] == 201
            assert "Query" not in calls  # known now: no read
        finally:
            events.unregister("before-call.dynamodb", count)


@pytest.mark.usefixtures("ledger")
def test_the_dry_run_applies_the_amount_rule() -> None:
    configure()
    run = {
        "store_id": "store-0101",
        "amount_cents": 100_000,
        "items": [{"category": "apparel", "amount_cents": 3600}],
        "occurred_at": "2026-03-01T11:58:00+08:00",
    }
    status, body = as_staff("POST", "/v1/admin/earning-rules/dry-run", run)
    assert status == 422 and body["error"]["code"] == "amount_exceeds_items"
    status, body = as_staff("POST", "/v1/admin/earning-rules/dry-run", {**run, "amount_cents": 3000})
    assert status == 200 and body["points"] == 30  # lines above the amount: scaled to what was paid
