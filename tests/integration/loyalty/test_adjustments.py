"""Points adjustments with a second approver, audited; tickets' PointsAdjustmentRequested (contract D)."""

from __future__ import annotations

from typing import Any

import pytest

from services.loyalty.handlers import on_points_adjustment_requested
from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from shared.events.contracts import PointsAdjustmentRequested
from tests.integration.helpers import FakeContext, contract_bus_event, sqs_event
from tests.integration.loyalty.conftest import NOW
from tests.integration.loyalty.wallet_support import ALICE, audit, entities, outbox, staff


def request(
    points: int = 300, reason: str = "goodwill: lift out of order", **extra: Any
) -> tuple[int, dict[str, Any]]:
    return staff(
        "POST",
        "/v1/admin/points-adjustments",
        {"member_id": ALICE, "points": points, "reason": reason, **extra},
        roles=("service_agent",),
        sub="agent-1",
    )


def decide(
    adjustment_id: str, action: str, sub: str, body: Any = None, roles: tuple[str, ...] = ("loyalty_ops",)
) -> tuple[int, dict[str, Any]]:
    return staff("POST", f"/v1/admin/points-adjustments/{adjustment_id}/{action}", body, roles=roles, sub=sub)


def balance() -> int:
    found = WalletDeps.load().points().balance(ALICE)
    return found.available if found else 0


def test_an_adjustment_needs_a_reason_and_a_second_approver(loyalty: None) -> None:
    assert request(reason="  ")[0] == 422
    assert request(points=0)[0] == 422
    status, pending = request()
    assert status == 201 and pending["status"] == "pending" and balance() == 0

    by_requester = decide(pending["adjustment_id"], "approve", "agent-1", roles=("loyalty_ops",))
    by_till = decide(pending["adjustment_id"], "approve", "till-1", roles=("store_staff",))
    status_ok, applied = decide(pending["adjustment_id"], "approve", "ops-2")
    status_twice, twice = decide(pending["adjustment_id"], "approve", "ops-3")
    _, queue = staff("GET", "/v1/admin/points-adjustments")

    assert (by_requester[0], by_requester[1]["error"]["code"]) == (403, "second_approver_required")
    assert (by_till[0], by_till[1]["error"]["code"]) == (403, "missing_role")
    assert status_ok == 200 and applied["status"] == "applied" and applied["decided_by"] == "ops-2"
    assert applied["balance_after"] == 300 and balance() == 300
    assert (status_twice, twice["error"]["code"]) == (409, "adjustment_not_pending")
    assert queue == {"adjustments": []}
    [event] = outbox("PointsAdjusted")
    assert event["requested_by"] == "agent-1" and event["approved_by"] == "ops-2"
    assert event["movement_id"] == applied["movement_id"] and event["ticket_id"] is None
    trail = audit(f"ADJUSTMENT#{pending['adjustment_id']}")
    assert [(a["action"], a["actor"]) for a in trail] == [
        ("points_adjustment_requested", "staff:agent-1"),
        ("points_adjustment_approved", "staff:ops-2"),
    ]


def test_a_debit_beyond_the_balance_is_recorded_as_debt(loyalty: None) -> None:
    _, pending = request(points=-120, reason="duplicate credit reversed")
    status, applied = decide(pending["adjustment_id"], "approve", "ops-2")

    assert status == 200 and applied["balance_after"] == -120 and balance() == -120


def test_a_rejection_moves_nothing_and_is_published(loyalty: None) -> None:
    _, pending = request()
    status, rejected = decide(pending["adjustment_id"], "reject", "ops-2", {"reason": "already credited"})

    assert status == 200 and rejected["status"] == "rejected" and balance() == 0
    assert outbox("PointsAdjustmentRejected")[0]["rejection_reason"] == "already credited"
    assert not outbox("PointsAdjusted")


def test_the_same_request_id_creates_one_adjustment(loyalty: None) -> None:
    first = request(request_id="console-0001")
    again = request(request_id="console-0001")

    assert (first[0], again[0]) == (201, 200) and first[1]["adjustment_id"] == again[1]["adjustment_id"]
    assert len(entities("points_adjustment")) == 1


def test_a_ticket_request_becomes_one_pending_adjustment_answered_with_points_adjusted(loyalty: None) -> None:
    data = PointsAdjustmentRequested(
        request_id="01HZ5555555555555555555555",
        member_id=ALICE,
        points=259,
        reason="points_dispute: purchase not credited",
        ticket_id="01HZ1111111111111111111111",
        requested_by="agent-7",
        requested_at=NOW,
    )
    event = contract_bus_event(data)
    for _ in range(2):  # SQS delivers at least once
        result = on_points_adjustment_requested.handler(sqs_event([event]), FakeContext())
        assert result == {"batchItemFailures": []}
    [pending] = entities("points_adjustment")
    assert pending["status"] == "pending" and pending["ticket_id"] == data.ticket_id

    assert decide(pending["adjustment_id"], "approve", "agent-7")[0] == 403
    status, _ = decide(pending["adjustment_id"], "approve", "ops-2")
    assert status == 200
    [adjusted] = outbox("PointsAdjusted")
    assert adjusted["ticket_id"] == data.ticket_id and adjusted["points"] == 259


@pytest.mark.parametrize("path", ["/v1/admin/members/not-a-member/points-adjustments"])
def test_the_member_path_checks_the_id(loyalty: None, path: str) -> None:
    status, _ = staff("POST", path, {"points": 5, "reason": "goodwill"})
    assert status == 422
