"""Receipt-photo claims: duplicates, auto-approval for known stores below the threshold, review
queue with approve/reject (audited), points through the ledger under the earning rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from services.loyalty.models.earning import EarningRule
from shared import clock
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.wallet_support import ALICE, BOB, audit, entities, member, outbox, staff


@pytest.fixture
def receipts(loyalty: None) -> None:
    clear_config_cache()
    DynamoLoyaltyConfig(TABLE).put_rule(
        EarningRule(rule_id="base", kind="base", name="1 point per yuan", points=1, per_cents=100),
        expected_version=None,
    )
    status, _ = staff(
        "PUT",
        "/v1/admin/receipt-settings",
        {"auto_approve_below_cents": 50_000, "known_store_ids": ["store-0101"], "max_age_days": 30},
    )
    assert status == 200


def claim(member_id: str = ALICE, **overrides: Any) -> tuple[int, dict[str, Any]]:
    body = {
        "store_id": "store-0101",
        "receipt_number": "R-000123",
        "machine_number": "POS-02",
        "purchased_at": clock.to_utc_iso(NOW - timedelta(hours=2)),
        "amount_cents": 25_900,
        "image_key": "receipts/2026/03/01/abc.jpg",
        **overrides,
    }
    return member("POST", "/v1/members/me/receipts", member_id, body)


def balance(member_id: str = ALICE) -> int:
    found = WalletDeps.load().points().balance(member_id)
    return found.available if found else 0


def test_a_known_store_below_the_threshold_is_approved_at_once(receipts: None) -> None:
    status, body = claim()

    assert status == 201 and body["status"] == "approved" and body["auto_approved"] is True
    assert body["points"] == 259 and body["movement_id"] and balance() == 259
    [earned] = outbox("PointsEarned")
    assert earned["reason"] == "receipt_claim" and earned["points"] == 259


def test_the_same_receipt_twice_is_a_duplicate_whoever_claims_it(receipts: None) -> None:
    claim()
    status_again, again = claim()
    status_bob, by_bob = claim(BOB)
    status_other, _ = claim(BOB, receipt_number="R-000124")

    assert (status_again, again["error"]["code"]) == (409, "receipt_duplicate")
    assert (status_bob, by_bob["error"]["code"]) == (409, "receipt_duplicate")
    assert status_other == 201
    assert balance() == 259 and len(entities("receipt_claim")) == 2


def test_an_unknown_store_or_a_large_amount_waits_for_review_then_is_approved(receipts: None) -> None:
    _, large = claim(amount_cents=80_000)
    _, unknown = claim(store_id="store-0999", receipt_number="R-9")
    _, queue = staff("GET", "/v1/admin/receipts", roles=("service_agent",))

    assert large["status"] == unknown["status"] == "pending" and balance() == 0
    assert [r["receipt_id"] for r in queue["receipts"]] == [large["receipt_id"], unknown["receipt_id"]]

    status, approved = staff(
        "POST",
        f"/v1/admin/receipts/{large['receipt_id']}/approve",
        {"amount_cents": 79_900},
        sub="agent-2",
        roles=("service_agent",),
    )
    twice, _ = staff("POST", f"/v1/admin/receipts/{large['receipt_id']}/approve", roles=("service_agent",))

    assert status == 200 and approved["points"] == 799 and approved["decided_by"] == "staff:agent-2"
    assert twice == 409 and balance() == 799
    assert [a["action"] for a in audit(f"RECEIPT#{large['receipt_id']}")] == ["receipt_approved"]
    _, queue_after = staff("GET", "/v1/admin/receipts")
    assert [r["receipt_id"] for r in queue_after["receipts"]] == [unknown["receipt_id"]]


def test_a_rejection_needs_a_reason_and_credits_nothing(receipts: None) -> None:
    _, pending = claim(store_id="store-0999")

    no_reason, _ = staff("POST", f"/v1/admin/receipts/{pending['receipt_id']}/reject", {})
    status, rejected = staff(
        "POST", f"/v1/admin/receipts/{pending['receipt_id']}/reject", {"reason": "photo unreadable"}
    )
    _, mine = member("GET", "/v1/members/me/receipts", ALICE)

    assert no_reason == 422
    assert status == 200 and rejected["rejection_reason"] == "photo unreadable" and balance() == 0
    assert mine["receipts"][0]["status"] == "rejected" and "decided_by" not in mine["receipts"][0]
    assert audit(f"RECEIPT#{pending['receipt_id']}")[0]["reason"] == "photo unreadable"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"purchased_at": clock.to_utc_iso(NOW - timedelta(days=31))}, "receipt_too_old"),
        ({"purchased_at": clock.to_utc_iso(NOW + timedelta(hours=1))}, "validation_failed"),
        ({"amount_cents": -5}, "validation_failed"),
        ({"receipt_number": "R#1"}, "validation_failed"),
    ],
)
def test_bad_claims_are_422_and_write_nothing(receipts: None, overrides: dict[str, Any], code: str) -> None:
    status, body = claim(**overrides)

    assert (status, body["error"]["code"]) == (422, code)
    assert not entities("receipt_claim") and not entities("receipt_key")


def test_review_and_settings_need_staff_roles(receipts: None) -> None:
    _, pending = claim(store_id="store-0999")

    assert staff("GET", "/v1/admin/receipts", roles=("store_staff",))[0] == 403
    assert member("POST", f"/v1/admin/receipts/{pending['receipt_id']}/approve", ALICE)[0] == 403
    assert staff("PUT", "/v1/admin/receipt-settings", {"max_age_days": 5}, roles=("service_agent",))[0] == 403


def test_the_store_directory_says_which_stores_are_known(receipts: None) -> None:
    from services.loyalty.models.stores import Store

    config = DynamoLoyaltyConfig(TABLE)
    for store in (
        Store(store_id="store-0202", tenant_id="tenant-b", name="In the directory"),
        Store(store_id="store-0303", tenant_id="tenant-c", name="Closed", active=False),
    ):
        config.put_store(store, expected_version=None)
    clear_config_cache()

    status, approved = claim(store_id="store-0202")  # not in known_store_ids, active in the directory
    assert status == 201 and approved["auto_approved"] is True and balance() == 259
    status, queued = claim(store_id="store-0303", receipt_number="R-2")
    assert status == 201 and queued["status"] == "pending"
    status, refused = claim(store_id="S-NOPE", receipt_number="R-3")
    assert status == 422 and refused["error"]["code"] == "unknown_store"
    status, _ = claim(receipt_number="R-4")  # in known_store_ids, not in the (enforced) directory
    assert status == 422
    assert len(entities("receipt_claim")) == 2
