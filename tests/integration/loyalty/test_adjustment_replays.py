"""A points adjustment or reversal request retried with its ``request_id`` (the console's retry
after a timeout) answers the adjustment stored the first time — 200, nothing written — also after
that adjustment was approved or rejected; the same ``request_id`` for another movement is 409."""

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
from tests.integration.loyalty.ledger_support import as_member, configure
from tests.integration.loyalty.wallet_support import ALICE, staff


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    configure()
    yield
    clear_config_cache()  # the earning rules must not outlive the test (config is cached)


def award(points: int, request_id: str) -> None:
    answer = offers.handler(
        {
            "action": "award_points",
            "request_id": request_id,
            "member_id": ALICE,
            "points": points,
            "reason": "test credit",
            "campaign_id": None,
        },
        FakeContext(),
    )
    assert answer["awarded"] is True, answer


def earn_movements() -> list[str]:
    _, page = as_member("GET", "/v1/members/me/points/movements", ALICE)
    return [m["movement_id"] for m in page["movements"] if m["kind"] == "earn"]


def ask(body: dict[str, Any], request_id: str = "console-retry-0001") -> tuple[int, dict[str, Any]]:
    return staff(
        "POST",
        f"/v1/admin/members/{ALICE}/points-adjustments",
        {"reason": "goodwill reversed in error", "request_id": request_id, **body},
        roles=("service_agent",),
        sub="agent-1",
    )


def decide(adjustment_id: str, action: str = "approve", body: Any = None) -> tuple[int, dict[str, Any]]:
    return staff("POST", f"/v1/admin/points-adjustments/{adjustment_id}/{action}", body, sub="ops-2")


def sorted_items() -> list[dict[str, Any]]:
    return sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"]))


@pytest.mark.usefixtures("ledger")
class TestRequestReplays:
    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_a_reversal_retried_after_its_decision_answers_the_stored_adjustment(self, decision: str) -> None:
        award(500, "a1")
        [earned] = earn_movements()
        status, first = ask({"reverses": earned})
        assert status == 201
        body = {"reason": "not warranted"} if decision == "reject" else None
        status, decided = decide(first["adjustment_id"], decision, body)
        assert status == 200, decided
        before = sorted_items()

        status, again = ask({"reverses": earned})

        assert status == 200, again
        assert again == decided
        assert sorted_items() == before

    def test_a_points_adjustment_retried_after_its_approval_answers_the_stored_adjustment(self) -> None:
        status, first = ask({"points": 300})
        assert status == 201
        _, applied = decide(first["adjustment_id"])
        before = sorted_items()

        status, again = ask({"points": 300})

        assert (status, again) == (200, applied)
        assert sorted_items() == before

    def test_the_same_request_id_for_another_movement_is_409_and_writes_nothing(self) -> None:
        award(500, "a1")
        award(200, "a2")
        first_earn, second_earn = earn_movements()
        assert ask({"reverses": first_earn})[0] == 201
        before = sorted_items()

        status, refused = ask({"reverses": second_earn})

        assert (status, refused["error"]["code"]) == (409, "request_id_reused")
        assert sorted_items() == before
