"""Coupon templates, staff issue, the member's wallet and till redemption through LoyaltyApiFunction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from shared import clock
from tests.integration.helpers import fixed_clock
from tests.integration.loyalty.conftest import NOW
from tests.integration.loyalty.wallet_support import (
    ALICE,
    BOB,
    audit,
    entities,
    member,
    outbox,
    serialisable_transactions,  # noqa: F401 - fixture
    staff,
)

TEMPLATE = {
    "template_id": "spring-20",
    "name": "Spring 20 off 100",
    "kind": "amount_off",
    "amount_off_cents": 2000,
    "min_spend_cents": 10000,
    "store_ids": ["store-0101", "store-0102"],
    "valid_days": 10,
    "per_member_limit": 2,
    "budget_cents": 100_000,
    "funded_by": "tenant",
    "funder_tenant_id": "tenant-7",
}


def given_template(**overrides: Any) -> dict[str, Any]:
    status, body = staff("POST", "/v1/admin/coupon-templates", {**TEMPLATE, **overrides})
    assert status == 201, body
    return body


def given_coupon(member_id: str = ALICE, request_id: str = "issue-0001") -> dict[str, Any]:
    status, body = staff(
        "POST",
        "/v1/admin/coupons",
        {"request_id": request_id, "member_id": member_id, "template_id": "spring-20"},
        roles=("service_agent",),
    )
    assert status == 201, body
    _, wallet = member("GET", "/v1/members/me/coupons", member_id)
    return next(c for c in wallet["coupons"] if c["coupon_id"] == body["coupon_id"])


def redeem(code: str, member_id: str = ALICE, **overrides: Any) -> tuple[int, dict[str, Any]]:
    body = {"code": code, "member_id": member_id, "store_id": "store-0101", "purchase_amount_cents": 15000}
    return staff(
        "POST", "/v1/admin/coupons/redeem", {**body, **overrides}, roles=("store_staff",), sub="till-9"
    )


def test_templates_are_created_read_changed_and_retired_by_loyalty_ops(loyalty: None) -> None:
    created = given_template()
    status, again = staff("POST", "/v1/admin/coupon-templates", TEMPLATE)
    _, one = staff("GET", "/v1/admin/coupon-templates/spring-20", roles=("marketer",))
    status_patch, patched = staff(
        "PATCH", "/v1/admin/coupon-templates/spring-20", {"status": "paused", "add_budget_cents": 50_000}
    )
    _, listed = staff("GET", "/v1/admin/coupon-templates")
    status_delete, retired = staff("DELETE", "/v1/admin/coupon-templates/spring-20")

    assert created["status"] == "active" and created["funded_by"] == "tenant"
    assert (status, again["error"]["code"]) == (409, "coupon_template_exists")
    assert one["remaining_budget_cents"] == 100_000 and one["remaining_count"] is None
    assert (
        status_patch == 200 and patched["status"] == "paused" and patched["remaining_budget_cents"] == 150_000
    )
    assert [t["template_id"] for t in listed["templates"]] == ["spring-20"]
    assert status_delete == 200 and retired["status"] == "retired"
    assert [a["action"] for a in audit("COUPON_TEMPLATE#spring-20")] == [
        "coupon_template_created",
        "coupon_template_updated",
        "coupon_template_updated",
    ]


@pytest.mark.parametrize(
    ("overrides", "message_part"),
    [
        ({"amount_off_cents": None}, "amount_off_cents is required"),
        ({"valid_days": None}, "valid_until, valid_days"),
        ({"funder_tenant_id": None}, "funder_tenant_id is required"),
        ({"kind": "percent_off", "percent_off": 10}, "max_discount_cents"),
    ],
)
def test_an_inconsistent_template_is_422_and_writes_nothing(
    loyalty: None, overrides: dict[str, Any], message_part: str
) -> None:
    status, body = staff("POST", "/v1/admin/coupon-templates", {**TEMPLATE, **overrides})

    assert status == 422 and body["error"]["code"] == "validation_failed"
    assert message_part in body["error"]["fields"][0]["message"]
    assert not entities("coupon_template")


def test_templates_need_a_loyalty_role(loyalty: None) -> None:
    status_staff, body_staff = staff("POST", "/v1/admin/coupon-templates", TEMPLATE, roles=("store_staff",))
    status_member, _ = member("POST", "/v1/admin/coupon-templates", ALICE, TEMPLATE)

    assert (status_staff, body_staff["error"]["code"]) == (403, "missing_role")
    assert status_member == 403


def test_staff_issue_is_audited_idempotent_and_lands_in_the_wallet_with_an_unguessable_code(
    loyalty: None,
) -> None:
    given_template()
    coupon = given_coupon()
    status, replay = staff(
        "POST",
        "/v1/admin/coupons",
        {"request_id": "issue-0001", "member_id": ALICE, "template_id": "spring-20"},
        roles=("service_agent",),
    )
    _, bob_wallet = member("GET", "/v1/members/me/coupons", BOB)

    assert status == 200 and replay["replayed"] is True and replay["coupon_id"] == coupon["coupon_id"]
    assert len(coupon["code"]) == 16 and coupon["status"] == "issued" and coupon["min_spend_cents"] == 10000
    assert bob_wallet == {"coupons": [], "next_cursor": None}
    assert [a["action"] for a in audit(f"COUPON#{coupon['coupon_id']}")] == ["coupon_issued"]
    assert [e["reason"] for e in outbox("CouponIssued")] == ["manual"]


def test_a_coupon_is_redeemed_once_by_its_member_in_its_stores(loyalty: None) -> None:
    given_template()
    coupon = given_coupon()

    assert redeem(coupon["code"], member_id=BOB)[1]["error"]["code"] == "coupon_not_yours"
    assert redeem(coupon["code"], store_id="store-9999")[1]["error"]["code"] == "coupon_not_valid_here"
    assert (
        redeem(coupon["code"], purchase_amount_cents=9999)[1]["error"]["code"]
        == "coupon_minimum_spend_not_met"
    )
    assert redeem("ZZZZZZZZZZZZZZZZ")[0] == 404
    status, done = redeem(coupon["code"].lower())  # the till may type it in lower case
    status_again, again = redeem(coupon["code"])
    _, wallet = member("GET", "/v1/members/me/coupons", ALICE, query={"status": "redeemed"})

    assert status == 200 and done["discount_cents"] == 2000 and done["funder_tenant_id"] == "tenant-7"
    assert (status_again, again["error"]["code"]) == (409, "coupon_already_redeemed")
    assert [c["coupon_id"] for c in wallet["coupons"]] == [coupon["coupon_id"]]
    assert outbox("CouponRedeemed") == [
        {
            "coupon_id": coupon["coupon_id"],
            "template_id": "spring-20",
            "member_id": ALICE,
            "campaign_id": None,
            "store_id": "store-0101",
            "redeemed_at": clock.to_utc_iso(NOW),
            "discount_cents": 2000,
        }
    ]
    redeemed = audit(f"COUPON#{coupon['coupon_id']}")[-1]
    assert redeemed["action"] == "coupon_redeemed" and redeemed["actor"] == "staff:till-9"
    # Redeemed coupons leave the expiry index: no reminder for them.
    assert not entities("coupon_expiry")


def test_a_till_retrying_with_its_request_id_gets_the_same_redemption(loyalty: None) -> None:
    given_template()
    coupon = given_coupon()

    first = redeem(coupon["code"], request_id="till-9-000123")
    retry = redeem(coupon["code"], request_id="till-9-000123")
    other = redeem(coupon["code"], request_id="till-9-000124")

    assert first[0] == retry[0] == 200 and retry[1]["replayed"] is True
    assert retry[1]["discount_cents"] == first[1]["discount_cents"] == 2000
    assert (other[0], other[1]["error"]["code"]) == (409, "coupon_already_redeemed")
    assert len(outbox("CouponRedeemed")) == 1


def test_the_till_is_checked_against_the_malls_store_directory(loyalty: None) -> None:
    from services.loyalty.dal.loyalty_config import DynamoLoyaltyConfig, clear_config_cache
    from services.loyalty.models.stores import Store
    from tests.integration.loyalty.conftest import TABLE

    config = DynamoLoyaltyConfig(TABLE)
    config.put_store(Store(store_id="store-0101", tenant_id="tenant-7", name="Uniqlo"), expected_version=None)
    config.put_store(
        Store(store_id="store-0102", tenant_id="tenant-8", name="Closed", active=False), expected_version=None
    )
    clear_config_cache()
    try:
        given_template(tenant_ids=["tenant-7"])
        coupon = given_coupon()

        refusals = [
            redeem(coupon["code"], store_id="store-0555"),
            redeem(coupon["code"], store_id="store-0102"),
            redeem(coupon["code"], tenant_id="tenant-8"),
        ]
        # The till sends no tenant: the directory's tenant of store-0101 makes the coupon valid.
        status, done = redeem(coupon["code"])
    finally:
        clear_config_cache()

    assert [(s, b["error"]["code"]) for s, b in refusals] == [
        (422, "unknown_store"),
        (422, "store_inactive"),
        (422, "store_tenant_mismatch"),
    ]
    assert status == 200 and done["discount_cents"] == 2000
    assert len(outbox("CouponRedeemed")) == 1


def test_an_expired_coupon_is_refused_and_shown_expired(loyalty: None) -> None:
    given_template()
    coupon = given_coupon()
    clock.set_clock(lambda: NOW + timedelta(days=11))

    status, body = redeem(coupon["code"])
    _, wallet = member("GET", "/v1/members/me/coupons", ALICE)

    assert (status, body["error"]["code"]) == (409, "coupon_expired")
    assert wallet["coupons"][0]["status"] == "expired"


@pytest.mark.usefixtures("serialisable_transactions")
def test_two_tills_redeeming_the_same_coupon_at_once_succeed_exactly_once(loyalty: None) -> None:
    given_template()
    coupon = given_coupon()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: redeem(coupon["code"]), range(2)))

    assert sorted(status for status, _ in results) == [200, 409]
    assert len(outbox("CouponRedeemed")) == 1


def test_the_per_member_limit_applies_to_staff_issues(loyalty: None) -> None:
    given_template()
    given_coupon(request_id="issue-0001")
    given_coupon(request_id="issue-0002")
    status, body = staff(
        "POST",
        "/v1/admin/coupons",
        {"request_id": "issue-0003", "member_id": ALICE, "template_id": "spring-20"},
    )

    assert (status, body["error"]["code"]) == (409, "coupon_limit_reached")


def test_the_wallet_is_paginated_newest_first(loyalty: None) -> None:
    given_template(per_member_limit=10)
    issued = []
    for n in range(5):
        clock.set_clock(fixed_clock(NOW + timedelta(seconds=n)))  # ULIDs in issue order
        issued.append(given_coupon(request_id=f"issue-page-{n}")["coupon_id"])
    pages, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = member("GET", "/v1/members/me/coupons", ALICE, query=query)
        assert status == 200, page
        pages.append([c["coupon_id"] for c in page["coupons"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages if p] == [2, 2, 1]
    assert [c for p in pages for c in p] == list(reversed(issued))
    _, everything = member("GET", "/v1/members/me/coupons", ALICE)
    assert len(everything["coupons"]) == 5 and everything["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    # '²' and 'é' pass str.isdigit / str.isalnum; '²' then made int() raise (a 500).
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "x"},
        {"limit": "\u00b2"},
        {"limit": "-1"},
        {"limit": "+5"},  # pydantic's lax int would take it; the route never did
        {"cursor": "../x"},
        {"cursor": "\u00e9"},
        {"status": "active"},
    ],
)
def test_a_bad_page_request_is_422(loyalty: None, query: dict[str, str]) -> None:
    status, body = member("GET", "/v1/members/me/coupons", ALICE, query=query)
    assert (status, body["error"]["code"]) == (422, "validation_failed")
