"""The daily coupon job (CouponExpiring once, then expired; index only) and erasure of a
member's wallet on MemberErased (coupons and receipts removed, the rest pseudonymised)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.dal.wechat_links import DynamoWeChatLinks
from services.loyalty.handlers import coupon_expiry, on_member_erased
from services.loyalty.logic.privacy import pseudonym
from shared import clock
from shared.events.contracts import MemberErased
from tests.integration.helpers import FakeContext, contract_bus_event, sqs_event
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.wallet_support import ALICE, BOB, entities, member, outbox, staff


def given_coupons() -> dict[str, dict[str, Any]]:
    staff(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "template_id": "t10",
            "name": "10 off",
            "kind": "amount_off",
            "amount_off_cents": 1000,
            "valid_days": 5,
        },
    )
    coupons = {}
    for member_id, request_id in ((ALICE, "issue-alice"), (BOB, "issue-bobby")):
        status, body = staff(
            "POST",
            "/v1/admin/coupons",
            {"request_id": request_id, "member_id": member_id, "template_id": "t10"},
        )
        assert status == 201
        coupons[member_id] = body
    return coupons


def run_job(at: Any) -> dict[str, int]:
    clock.set_clock(lambda: at)
    summary: dict[str, int] = coupon_expiry.handler({"job": "coupon-expiry"}, FakeContext())
    return summary


def test_coupons_are_reminded_once_a_few_days_ahead_then_expire(loyalty: None) -> None:
    coupons = given_coupons()  # valid until the end of local day 5 (2026-03-05 23:59:59 +08:00)
    code = member("GET", "/v1/members/me/coupons", BOB)[1]["coupons"][0]["code"]
    staff(
        "POST",
        "/v1/admin/coupons/redeem",
        {"code": code, "member_id": BOB, "store_id": "s1", "purchase_amount_cents": 5000},
        roles=("store_staff",),
    )

    assert run_job(NOW) == {"reminded": 0, "expired": 0}  # 4 days left: not yet
    assert run_job(NOW + timedelta(days=1)) == {"reminded": 1, "expired": 0}
    assert run_job(NOW + timedelta(days=2)) == {"reminded": 0, "expired": 0}  # once per coupon
    [reminder] = outbox("CouponExpiring")
    assert reminder["coupon_id"] == coupons[ALICE]["coupon_id"] and reminder["days_left"] == 3
    assert reminder["valid_until"] == "2026-03-05T15:59:59.000000Z"

    assert run_job(NOW + timedelta(days=5)) == {"reminded": 0, "expired": 1}
    [alice] = member("GET", "/v1/members/me/coupons", ALICE)[1]["coupons"]
    assert alice["status"] == "expired"
    assert not entities("coupon_expiry")  # the index is empty again


def test_member_erased_removes_coupons_and_receipts_and_keeps_the_rest_under_a_pseudonym(
    loyalty: None,
) -> None:
    clear_config_cache()
    coupons = given_coupons()
    member(
        "POST",
        "/v1/members/me/receipts",
        ALICE,
        {
            "store_id": "store-1",
            "receipt_number": "R1",
            "machine_number": "M1",
            "purchased_at": clock.to_utc_iso(NOW),
            "amount_cents": 100,
            "image_key": "k/1.jpg",
        },
    )
    _, adjustment = staff(
        "POST", "/v1/admin/points-adjustments", {"member_id": ALICE, "points": 5, "reason": "goodwill"}
    )
    DynamoWeChatLinks(TABLE).link("openid-hash-of-alice", ALICE, NOW)
    event = contract_bus_event(MemberErased(member_id=ALICE, erased_at=NOW, requested_by="member"))

    for _ in range(2):  # redelivery is harmless
        assert on_member_erased.handler(sqs_event([event]), FakeContext()) == {"batchItemFailures": []}

    alias = pseudonym(pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"]), ALICE)
    assert [c["member_id"] for c in entities("coupon")] == [BOB]
    assert [c["coupon_id"] for c in entities("coupon_code")] == [coupons[BOB]["coupon_id"]]
    assert not entities("receipt_claim") and not entities("receipt_queue")
    assert len(entities("receipt_key")) == 1  # the receipt stays claimed (no member id on it)
    [kept] = entities("points_adjustment")
    assert kept["adjustment_id"] == adjustment["adjustment_id"]
    assert kept["member_id"] == alias and kept["status"] == "rejected"
    assert not entities("adjustment_queue")
    assert not entities("wechat_link") and not entities("wechat_link_ref")
    leftovers = entities("coupon_limit") + entities("adjustment_ref") + entities("receipt_ref")
    assert not [i for i in leftovers if ALICE in str(i["pk"])]
    # From now on no coupon reaches the erased member.
    status, body = staff(
        "POST", "/v1/admin/coupons", {"request_id": "issue-later", "member_id": ALICE, "template_id": "t10"}
    )
    assert (status, body["error"]["code"]) == (409, "member_erased")
