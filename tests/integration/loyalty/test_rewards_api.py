"""The rewards catalogue and redemptions: points and stock in one transaction (L1's ledger)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.loyalty.handlers import offers
from tests.integration.helpers import FakeContext
from tests.integration.loyalty.wallet_support import (
    ALICE,
    BOB,
    entities,
    member,
    outbox,
    serialisable_transactions,  # noqa: F401 - fixture
    staff,
)


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


def given_reward(**overrides: Any) -> dict[str, Any]:
    body = {"reward_id": "tote", "name": "Tote bag", "points_cost": 500, "stock": 1, **overrides}
    status, created = staff("POST", "/v1/admin/rewards", body)
    assert status == 201, created
    return created


def redeem(member_id: str, request_id: str, reward_id: str = "tote") -> tuple[int, dict[str, Any]]:
    return member(
        "POST", "/v1/members/me/redemptions", member_id, {"request_id": request_id, "reward_id": reward_id}
    )


def balance(member_id: str) -> int:
    # The award path answers balance_after; a zero-point probe is not allowed, so read the ledger.
    from services.loyalty.handlers.routes.wallet_deps import WalletDeps

    found = WalletDeps.load().points().balance(member_id)
    return found.available if found else 0


def test_a_redemption_spends_points_and_stock_once(loyalty: None) -> None:
    given_reward(stock=2)
    award(ALICE, 800, "a1")

    status, first = redeem(ALICE, "redeem-0001")
    status_again, again = redeem(ALICE, "redeem-0001")
    _, catalogue = member("GET", "/v1/rewards", ALICE)

    assert status == 201 and first["points"] == 500 and first["balance_after"] == 300
    assert first["pickup_code"] and first["kind"] == "gift"
    assert status_again == 200 and again == {**first, "replayed": True}
    assert catalogue["rewards"][0]["stock_left"] == 1 and catalogue["rewards"][0]["in_stock"] is True
    assert balance(ALICE) == 300
    [event] = outbox("RewardRedeemed")
    assert event["movement_id"] == first["movement_id"] and event["points"] == 500
    assert outbox("PointsRedeemed")[0]["reason"] == "reward"


def test_insufficient_points_is_409_and_changes_nothing(loyalty: None) -> None:
    given_reward()
    award(ALICE, 499, "a1")

    status, body = redeem(ALICE, "redeem-0001")
    _, catalogue = member("GET", "/v1/rewards", ALICE)

    assert (status, body["error"]["code"]) == (409, "insufficient_points")
    assert catalogue["rewards"][0]["stock_left"] == 1
    assert balance(ALICE) == 499 and not entities("redemption")


@pytest.mark.usefixtures("serialisable_transactions")
def test_two_members_racing_for_the_last_item_exactly_one_gets_it(loyalty: None) -> None:
    given_reward(stock=1)
    award(ALICE, 1000, "a1")
    award(BOB, 1000, "b1")
    barrier = threading.Barrier(2)

    def attempt(member_id: str) -> tuple[int, dict[str, Any]]:
        barrier.wait()
        return redeem(member_id, f"race-{member_id}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip((ALICE, BOB), pool.map(attempt, (ALICE, BOB)), strict=True))

    statuses = sorted(status for status, _ in results.values())
    assert statuses == [201, 409]
    loser = next(m for m, (status, _) in results.items() if status == 409)
    winner = next(m for m, (status, _) in results.items() if status == 201)
    assert results[loser][1]["error"]["code"] == "reward_out_of_stock"
    assert balance(loser) == 1000 and balance(winner) == 500
    assert len(entities("redemption")) == 1 and len(outbox("RewardRedeemed")) == 1


def test_per_member_limit_and_unavailable_rewards(loyalty: None) -> None:
    given_reward(stock=None, per_member_limit=1)
    award(ALICE, 5000, "a1")
    staff("POST", "/v1/admin/rewards", {"reward_id": "paused", "name": "Paused", "points_cost": 1})
    staff("PATCH", "/v1/admin/rewards/paused", {"status": "paused"})

    assert redeem(ALICE, "redeem-0001")[0] == 201
    status, body = redeem(ALICE, "redeem-0002")
    assert (status, body["error"]["code"]) == (409, "reward_limit_reached")
    assert redeem(ALICE, "redeem-0003", reward_id="paused")[1]["error"]["code"] == "reward_unavailable"
    assert redeem(ALICE, "redeem-0004", reward_id="nothing")[0] == 404
    assert balance(ALICE) == 4500


def test_a_coupon_reward_puts_the_coupon_in_the_wallet_in_the_same_step(loyalty: None) -> None:
    staff(
        "POST",
        "/v1/admin/coupon-templates",
        {
            "template_id": "parking-2h",
            "name": "2 h parking",
            "kind": "parking",
            "face_value_cents": 1000,
            "parking_minutes": 120,
            "valid_days": 30,
            "total_limit": 1,
        },
    )
    given_reward(reward_id="parking", kind="coupon", template_id="parking-2h", points_cost=100, stock=None)
    award(ALICE, 1000, "a1")
    award(BOB, 1000, "b1")

    status, body = redeem(ALICE, "redeem-0001", reward_id="parking")
    status_bob, body_bob = redeem(BOB, "redeem-0002", reward_id="parking")
    _, wallet = member("GET", "/v1/members/me/coupons", ALICE)

    assert status == 201 and wallet["coupons"][0]["coupon_id"] == body["coupon_id"]
    assert wallet["coupons"][0]["kind"] == "parking"
    assert [e["reason"] for e in outbox("CouponIssued")] == ["reward"]
    # The template's only coupon is gone: Bob's redemption fails whole, his points stay.
    assert (status_bob, body_bob["error"]["code"]) == (409, "coupon_budget_exhausted")
    assert balance(BOB) == 1000
