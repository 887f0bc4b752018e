"""Staff reversals of a member's movement on moto: asked with a reason (an adjustment naming
``reverses``), applied by a second person as one ``reversal`` movement (balance = sum of lots),
audited, at most once however approvals race; refusals are 4xx and change nothing."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from services.loyalty.dal.ledger import DynamoLedgerRepository, clear_calendar_cache, reversed_key
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.handlers import offers
from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import post_movement
from services.loyalty.logic.privacy import pseudonym
from tests.integration.helpers import FakeContext, all_items
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import (
    as_member,
    configure,
    post_purchase,
    post_refund,
    purchase,
    refund,
)
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


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    configure()
    yield


def award(member_id: str, points: int, request_id: str) -> None:
    """A campaign credit (an ``earn`` with no purchase: staff may reverse it)."""
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


def given_reward(points_cost: int) -> None:
    body = {"reward_id": "tote", "name": "Tote bag", "points_cost": points_cost, "stock": 5}
    status, created = staff("POST", "/v1/admin/rewards", body)
    assert status == 201, created


def redeem(member_id: str, request_id: str) -> tuple[int, dict[str, Any]]:
    return member(
        "POST", "/v1/members/me/redemptions", member_id, {"request_id": request_id, "reward_id": "tote"}
    )


def ledger_id(member_id: str = ALICE) -> str:
    return pseudonym(pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"]), member_id)


def state(member_id: str = ALICE) -> L.Balance:
    """The balance, checked against its lots (balance = sum of lots, no debt beside points)."""
    repo = DynamoLedgerRepository(TABLE)
    found = repo.get_balance(ledger_id(member_id))
    assert found is not None
    assert L.check_invariants(found, repo.open_lots(ledger_id(member_id)), at=NOW) == []
    return found


def movements(member_id: str = ALICE) -> list[dict[str, Any]]:
    status, page = as_member("GET", "/v1/members/me/points/movements", member_id, query={"limit": "100"})
    assert status == 200
    return list(page["movements"])


def movement_of(kind: str, member_id: str = ALICE) -> dict[str, Any]:
    return next(m for m in movements(member_id) if m["kind"] == kind)


def ask(
    movement_id: str, reason: Any = "goodwill reversed in error", member_id: str = ALICE, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"reverses": movement_id, **extra}
    if reason is not None:
        body["reason"] = reason
    return staff(
        "POST",
        f"/v1/admin/members/{member_id}/points-adjustments",
        body,
        roles=("service_agent",),
        sub="agent-1",
    )


def approve(adjustment_id: str, sub: str = "ops-2") -> tuple[int, dict[str, Any]]:
    return staff("POST", f"/v1/admin/points-adjustments/{adjustment_id}/approve", sub=sub)


def reversed_and_approved(movement_id: str, member_id: str = ALICE) -> dict[str, Any]:
    status, pending = ask(movement_id, member_id=member_id)
    assert status == 201, pending
    status, applied = approve(pending["adjustment_id"])
    assert status == 200, applied
    return applied


def post_directly(compute: Any) -> None:
    repo = DynamoLedgerRepository(TABLE)
    post_movement(repo, ledger_id(), ALICE, lambda b: compute(b, repo))


@pytest.mark.usefixtures("ledger")
class TestApproval:
    def test_an_award_is_reversed_after_a_second_approval_and_the_member_sees_it(self) -> None:
        award(ALICE, 500, "a1")
        earned = movement_of("earn")

        status, pending = ask(earned["movement_id"])
        assert status == 201 and pending["status"] == "pending"
        assert pending["reverses"] == earned["movement_id"] and pending["points"] == -500
        assert state().available == 500  # nothing moves before the approval
        by_requester = approve(pending["adjustment_id"], sub="agent-1")
        assert (by_requester[0], by_requester[1]["error"]["code"]) == (403, "second_approver_required")

        status, applied = approve(pending["adjustment_id"])
        assert status == 200 and applied["status"] == "applied" and applied["balance_after"] == 0
        after = state()
        assert (after.available, after.debt, after.lifetime_earned) == (0, 0, 0)

        newest = movements()[0]
        assert newest["kind"] == "reversal" and newest["points"] == -500
        assert newest["reverses"] == earned["movement_id"] and newest["movement_id"] == applied["movement_id"]
        assert newest["actor"] == "staff:ops-2" and newest["reason"] == "reversal: goodwill reversed in error"
        assert newest["source"] == {"kind": "staff", "id": pending["adjustment_id"]}

        [event] = outbox("PointsAdjusted")
        assert event["points"] == -500 and event["movement_id"] == applied["movement_id"]
        assert (event["requested_by"], event["approved_by"]) == ("agent-1", "ops-2")
        assert not [e for e in outbox("PointsEarned") if e["movement_id"] == applied["movement_id"]]
        trail = audit(f"ADJUSTMENT#{pending['adjustment_id']}")
        assert [(a["action"], a["actor"]) for a in trail] == [
            ("points_adjustment_requested", "staff:agent-1"),
            ("points_adjustment_approved", "staff:ops-2"),
        ]
        assert all(a["reverses"] == earned["movement_id"] for a in trail)
        assert trail[1]["movement_id"] == applied["movement_id"] and trail[1]["points"] == -500

    def test_an_approval_retried_moves_nothing_twice(self) -> None:
        award(ALICE, 500, "a1")
        _, pending = ask(movement_of("earn")["movement_id"])
        first = approve(pending["adjustment_id"])
        again = approve(pending["adjustment_id"])  # the console's retry after a timeout
        other = approve(pending["adjustment_id"], sub="ops-3")

        assert first[0] == again[0] == 200 and again[1] == first[1]
        assert (other[0], other[1]["error"]["code"]) == (409, "adjustment_not_pending")
        assert [m["kind"] for m in movements()].count("reversal") == 1
        assert state().available == 0 and len(outbox("PointsAdjusted")) == 1

    def test_reversing_an_earn_that_was_partly_spent_records_a_negative_balance(self) -> None:
        given_reward(points_cost=300)
        award(ALICE, 500, "a1")
        assert redeem(ALICE, "redeem-0001")[0] == 201
        earned = movement_of("earn")

        applied = reversed_and_approved(earned["movement_id"])

        after = state()
        assert applied["balance_after"] == -300 and (after.available, after.debt) == (-300, 300)
        assert movements()[0]["balance_after"] == -300
        # the next credit pays the debt first
        award(ALICE, 400, "a2")
        assert (state().available, state().debt) == (100, 0)

    def test_reversing_a_redemption_made_before_a_refund_created_debt_pays_the_debt_first(self) -> None:
        given_reward(points_cost=200)
        post_purchase(purchase())  # 259 points
        status, redeemed = redeem(ALICE, "redeem-0001")
        assert status == 201 and redeemed["balance_after"] == 59
        post_refund(refund())  # claws back 259: 59 from the lot, 200 into debt
        assert (state().available, state().debt) == (-200, 200)

        applied = reversed_and_approved(redeemed["movement_id"])

        after = state()
        assert applied["balance_after"] == 0 and (after.available, after.debt) == (0, 0)
        reversal = movements()[0]
        assert reversal["kind"] == "reversal" and reversal["points"] == 200
        assert reversal["reverses"] == redeemed["movement_id"]

    def test_reversing_a_correction_that_created_debt_restores_the_lot_and_clears_the_debt(self) -> None:
        award(ALICE, 100, "a1")
        _, correction = staff(
            "POST",
            "/v1/admin/points-adjustments",
            {"member_id": ALICE, "points": -150, "reason": "duplicate credit"},
            roles=("service_agent",),
            sub="agent-1",
        )
        approve(correction["adjustment_id"])
        assert (state().available, state().debt) == (-50, 50)
        debit = movement_of("adjustment")

        reversed_and_approved(debit["movement_id"])

        after = state()
        assert (after.available, after.debt) == (100, 0)
        lots = DynamoLedgerRepository(TABLE).open_lots(ledger_id())
        # the award's lot holds its 100 again; the debt lot is paid off (kept at 0)
        assert sorted((lot.lot_id == L.DEBT_LOT_ID, lot.remaining) for lot in lots) == [
            (False, 100),
            (True, 0),
        ]


@pytest.mark.usefixtures("ledger", "serialisable_transactions")
class TestRaces:
    @staticmethod
    def _together(calls: list[Any]) -> list[tuple[int, dict[str, Any]]]:
        barrier = threading.Barrier(len(calls))

        def run(call: Any) -> tuple[int, dict[str, Any]]:
            barrier.wait()
            result: tuple[int, dict[str, Any]] = call()
            return result

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(run, calls))

    def test_two_approvals_of_one_reversal_make_exactly_one_movement(self) -> None:
        award(ALICE, 500, "a1")
        _, pending = ask(movement_of("earn")["movement_id"])

        results = self._together(
            [
                lambda: approve(pending["adjustment_id"], "ops-2"),
                lambda: approve(pending["adjustment_id"], "ops-3"),
            ]
        )

        assert sorted(status for status, _ in results) == [200, 409]
        assert [m["kind"] for m in movements()].count("reversal") == 1
        assert state().available == 0 and len(outbox("PointsAdjusted")) == 1

    def test_two_reversals_of_one_movement_approved_together_apply_once(self) -> None:
        award(ALICE, 500, "a1")
        earned = movement_of("earn")["movement_id"]
        _, first = ask(earned)
        _, second = ask(earned, reason="asked twice by two agents")

        results = self._together(
            [
                lambda: approve(first["adjustment_id"], "ops-2"),
                lambda: approve(second["adjustment_id"], "ops-3"),
            ]
        )

        statuses = sorted((status, body.get("error", {}).get("code")) for status, body in results)
        assert statuses == [(200, None), (409, "movement_already_reversed")]
        assert [m["kind"] for m in movements()].count("reversal") == 1
        assert state().available == 0 and len(outbox("PointsAdjusted")) == 1
        assert sorted(a["status"] for a in entities("points_adjustment")) == ["applied", "pending"]
        # the loser is still pending: a reviewer rejects it; asking again is refused at once
        assert (ask(earned)[0], ask(earned)[1]["error"]["code"]) == (409, "movement_already_reversed")


@pytest.mark.usefixtures("ledger")
class TestRefusals:
    def _unchanged(
        self, call: Callable[[], tuple[int, dict[str, Any]]], status: int, code: str
    ) -> dict[str, Any]:
        before = sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"]))
        got, body = call()
        assert (got, body.get("error", {}).get("code")) == (status, code), body
        assert sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"])) == before
        return body

    def test_unknown_and_other_members_movements_are_404(self) -> None:
        award(ALICE, 100, "a1")
        award(BOB, 100, "b1")
        bobs = movement_of("earn", BOB)["movement_id"]

        self._unchanged(lambda: ask("01HZZZZZZZZZZZZZZZZZZZZZZZ"), 404, "movement_not_found")
        self._unchanged(lambda: ask(bobs), 404, "movement_not_found")

    def test_a_reversal_or_a_reversed_movement_is_409(self) -> None:
        award(ALICE, 100, "a1")
        earned = movement_of("earn")["movement_id"]
        applied = reversed_and_approved(earned)

        self._unchanged(lambda: ask(applied["movement_id"]), 409, "movement_is_reversal")
        self._unchanged(lambda: ask(earned), 409, "movement_already_reversed")

    def test_kinds_that_belong_to_purchases_refunds_and_expiry_are_422_with_a_reason(self) -> None:
        post_purchase(purchase())
        post_refund(refund(amount_cents=10000))
        bought = movement_of("earn")["movement_id"]
        clawed = movement_of("refund_clawback")["movement_id"]
        award(ALICE, 50, "a1")
        lots = DynamoLedgerRepository(TABLE).open_lots(ledger_id())
        award_lot = next(lot for lot in lots if lot.source.kind == "campaign")
        post_directly(  # what the daily job does once the lot's expiry has passed
            lambda b, repo: L.expire(
                b,
                award_lot,
                movement_id="01HZ0000000000000000000EXP",
                at=award_lot.expires_at or NOW,
            )
        )
        expired = movement_of("expire")["movement_id"]

        for movement_id in (bought, clawed, expired):
            body = self._unchanged(partial(ask, movement_id), 422, "movement_not_reversible")
            assert body["error"]["fields"][0]["field"] == "reverses"

    def test_a_missing_reason_or_both_points_and_reverses_is_422(self) -> None:
        award(ALICE, 100, "a1")
        earned = movement_of("earn")["movement_id"]

        self._unchanged(lambda: ask(earned, reason=None), 422, "validation_failed")
        self._unchanged(lambda: ask(earned, reason="   "), 422, "validation_failed")
        self._unchanged(lambda: ask(earned, points=5), 422, "validation_failed")
        self._unchanged(lambda: ask("not-a-movement"), 422, "validation_failed")

    def test_an_approval_refused_at_the_ledger_changes_nothing(self) -> None:
        award(ALICE, 100, "a1")
        earned = movement_of("earn")["movement_id"]
        _, first = ask(earned)
        _, second = ask(earned)
        _, applied = approve(first["adjustment_id"])

        self._unchanged(lambda: approve(second["adjustment_id"], "ops-3"), 409, "movement_already_reversed")
        key = reversed_key(ledger_id(), earned)
        [marker] = [i for i in all_items(TABLE) if i["pk"] == key["pk"] and i["sk"] == key["sk"]]
        assert marker["reversal_id"] == applied["movement_id"]
