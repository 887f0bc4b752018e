"""Reversing a reward redemption (the gift was never collected or came back) on moto: the points,
the reward's stock, the member's per-reward count and an unused coupon it issued are undone in the
reversal's one transaction; a redemption whose coupon was used is not reversed (409, nothing
written)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.loyalty.dal.ledger import clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.handlers import offers
from tests.integration.helpers import FakeContext, all_items
from tests.integration.loyalty.conftest import TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import configure
from tests.integration.loyalty.wallet_support import ALICE, BOB, audit, entities, member, outbox, staff


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    configure()
    yield
    clear_config_cache()  # the earning rules must not outlive the test (config is cached)


def award(member_id: str, points: int, request_id: str) -> None:
    answer = offers.handler(
        {
            "action": "award_points",
            "request_id": request_id,
            "member_id": member_id,
            "points": points,
            "reason": "test credit",
            "campaign_id": None,
        },
        FakeContext(),
    )
    assert answer["awarded"] is True, answer


def redeem(member_id: str, request_id: str, reward_id: str) -> tuple[int, dict[str, Any]]:
    return member(
        "POST", "/v1/members/me/redemptions", member_id, {"request_id": request_id, "reward_id": reward_id}
    )


def ask(movement_id: str, member_id: str = ALICE) -> tuple[int, dict[str, Any]]:
    return staff(
        "POST",
        f"/v1/admin/members/{member_id}/points-adjustments",
        {"reverses": movement_id, "reason": "gift never collected"},
        roles=("service_agent",),
        sub="agent-1",
    )


def approve(adjustment_id: str) -> tuple[int, dict[str, Any]]:
    return staff("POST", f"/v1/admin/points-adjustments/{adjustment_id}/approve", sub="ops-2")


def stock_left(reward_id: str) -> int | None:
    _, page = member("GET", "/v1/rewards", ALICE)
    [reward] = [r for r in page["rewards"] if r["reward_id"] == reward_id]
    left: int | None = reward["stock_left"]
    return left


def balance(member_id: str = ALICE) -> int:
    _, body = member("GET", "/v1/members/me/points", member_id)
    return int(body["available"])


def given_gift() -> None:
    body = {"reward_id": "tote", "name": "Tote bag", "points_cost": 300, "stock": 5, "per_member_limit": 1}
    assert staff("POST", "/v1/admin/rewards", body)[0] == 201


def given_coupon_reward() -> None:
    template = {
        "template_id": "parking-2h",
        "name": "2 h parking",
        "kind": "parking",
        "face_value_cents": 1000,
        "parking_minutes": 120,
        "valid_days": 30,
        "total_limit": 1,
        "per_member_limit": 1,
    }
    assert staff("POST", "/v1/admin/coupon-templates", template)[0] == 201
    body = {"reward_id": "parking", "name": "Parking", "kind": "coupon", "template_id": "parking-2h"}
    assert staff("POST", "/v1/admin/rewards", {**body, "points_cost": 100})[0] == 201


def sorted_items() -> list[dict[str, Any]]:
    return sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"]))


@pytest.mark.usefixtures("ledger")
class TestRewardReturns:
    def test_a_returned_gift_gives_back_points_stock_and_the_members_count(self) -> None:
        given_gift()
        award(ALICE, 700, "a1")
        status, redeemed = redeem(ALICE, "redeem-0001", "tote")
        assert status == 201 and stock_left("tote") == 4
        assert redeem(ALICE, "redeem-0002", "tote")[1]["error"]["code"] == "reward_limit_reached"

        _, pending = ask(redeemed["movement_id"])
        assert stock_left("tote") == 4  # nothing moves before the approval
        status, applied = approve(pending["adjustment_id"])

        assert status == 200 and applied["points"] == 300 and applied["balance_after"] == 700
        assert balance() == 700 and stock_left("tote") == 5
        _, mine = member("GET", "/v1/members/me/redemptions", ALICE)
        [record] = mine["redemptions"]
        assert record["return_movement_id"] == applied["movement_id"]
        assert record["returned_at"] == "2026-03-01T04:00:00.000000Z"
        [counter] = [i for i in entities("reward_limit") if i["pk"] == f"WALLET#{ALICE}"]
        assert counter["redeemed"] == 0
        # the per-member limit counts the gift she kept: none now
        status, again = redeem(ALICE, "redeem-0003", "tote")
        assert status == 201 and stock_left("tote") == 4 and again["balance_after"] == 400
        [returned] = audit(f"REDEMPTION#{redeemed['redemption_id']}")
        assert returned["action"] == "reward_returned" and returned["actor"] == "staff:ops-2"

    def test_a_returned_coupon_reward_voids_the_unused_coupon_and_gives_its_budget_back(self) -> None:
        given_coupon_reward()
        award(ALICE, 500, "a1")
        award(BOB, 500, "b1")
        _, redeemed = redeem(ALICE, "redeem-0001", "parking")
        assert redeem(BOB, "redeem-0002", "parking")[1]["error"]["code"] == "coupon_budget_exhausted"

        _, pending = ask(redeemed["movement_id"])
        status, applied = approve(pending["adjustment_id"])

        assert status == 200 and balance() == 500
        _, wallet = member("GET", "/v1/members/me/coupons", ALICE)
        [coupon] = wallet["coupons"]
        assert coupon["coupon_id"] == redeemed["coupon_id"] and coupon["status"] == "revoked"
        assert not entities("coupon_expiry")
        till = staff(
            "POST",
            "/v1/admin/coupons/redeem",
            {"code": coupon["code"], "member_id": ALICE, "store_id": "s1", "purchase_amount_cents": 5000},
            roles=("store_staff",),
        )
        assert till[0] == 409
        [revoked] = audit(f"COUPON#{redeemed['coupon_id']}")[-1:]
        assert revoked["action"] == "coupon_revoked" and revoked["reason"] == "reward_returned"
        # the template's only coupon is free again, and Alice may hold one again
        assert redeem(BOB, "redeem-0003", "parking")[0] == 201
        [event] = outbox("PointsAdjusted")
        assert event["movement_id"] == applied["movement_id"] and event["points"] == 100

    def test_a_redemption_whose_coupon_was_used_is_not_reversed(self) -> None:
        given_coupon_reward()
        award(ALICE, 500, "a1")
        _, redeemed = redeem(ALICE, "redeem-0001", "parking")
        _, pending = ask(redeemed["movement_id"])  # asked while the coupon was unused
        _, wallet = member("GET", "/v1/members/me/coupons", ALICE)
        used = staff(
            "POST",
            "/v1/admin/coupons/redeem",
            {
                "code": wallet["coupons"][0]["code"],
                "member_id": ALICE,
                "store_id": "s1",
                "purchase_amount_cents": 5000,
            },
            roles=("store_staff",),
        )
        assert used[0] == 200, used
        before = sorted_items()

        status, refused = approve(pending["adjustment_id"])
        asked = ask(redeemed["movement_id"])

        assert (status, refused["error"]["code"]) == (409, "reward_coupon_used")
        assert (asked[0], asked[1]["error"]["code"]) == (409, "reward_coupon_used")
        assert sorted_items() == before  # the adjustment stays pending: a reviewer rejects it
        assert balance() == 400
