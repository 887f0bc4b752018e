"""Points adjustments (and reversals) of a member who is erased before they are decided, on moto,
through the real MemberErased consumer: no adjustment is applied, no event names the member, and
nothing is left under the member id (ledger contract: "don't publish events naming them")."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from services.loyalty.dal.ledger import DynamoLedgerRepository, clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.dal.wallet_privacy import DynamoWalletEraser
from services.loyalty.handlers import offers, on_member_erased, on_points_adjustment_requested
from services.loyalty.logic.privacy import pseudonym
from shared.events.contracts import MemberErased, PointsAdjustmentRequested
from tests.integration.helpers import FakeContext, all_items, contract_bus_event, sqs_event
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import as_member, configure
from tests.integration.loyalty.wallet_support import ALICE, entities, staff


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    configure()
    yield
    clear_config_cache()  # the earning rules must not outlive the test (config is cached)


def alias() -> str:
    return pseudonym(pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"]), ALICE)


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


def ask(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return staff(
        "POST",
        f"/v1/admin/members/{ALICE}/points-adjustments",
        {"reason": "goodwill: lift out of order", **body},
        roles=("service_agent",),
        sub="agent-1",
    )


def decide(adjustment_id: str, action: str = "approve", body: Any = None) -> tuple[int, dict[str, Any]]:
    return staff("POST", f"/v1/admin/points-adjustments/{adjustment_id}/{action}", body, sub="ops-2")


def erase(*, wallet_fails: bool = False) -> None:
    """The real MemberErased consumer. With ``wallet_fails`` its wallet step fails (a throttled
    query, a crash): the tombstone and the ledger are erased, the wallet is not yet — SQS
    redelivers the message later, and staff may act in between."""
    event = contract_bus_event(MemberErased(member_id=ALICE, erased_at=NOW, requested_by="member"))
    with pytest.MonkeyPatch.context() as patch:
        if wallet_fails:

            def fails(*_args: Any, **_kwargs: Any) -> Any:
                raise RuntimeError("the wallet step failed this time")

            patch.setattr(DynamoWalletEraser, "erase", fails)
        result = on_member_erased.handler(sqs_event([event]), FakeContext())
    assert len(result["batchItemFailures"]) == (1 if wallet_fails else 0)


def outbox_details() -> list[dict[str, Any]]:
    return [
        {"type": i["detail_type"], **json.loads(i["detail"])["data"]}
        for i in all_items(TABLE)
        if i.get("entity") == "outbox"
    ]


def naming_alice(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if ALICE in json.dumps(i, default=str)]


def assert_closed_as_erased(adjustment_id: str) -> None:
    [stored] = [a for a in entities("points_adjustment") if a["adjustment_id"] == adjustment_id]
    assert stored["status"] == "rejected" and stored["rejection_reason"] == "member_erased"
    assert stored["member_id"] == alias() and stored.get("movement_id") is None
    assert not entities("adjustment_queue")
    assert not [i for i in all_items(TABLE) if i["pk"] == f"WALLET#{ALICE}"]
    assert not naming_alice([i for i in all_items(TABLE) if i.get("entity") != "outbox"])


@pytest.mark.usefixtures("ledger")
class TestErasedBeforeTheDecision:
    def test_an_approval_after_a_complete_erasure_is_409_member_erased(self) -> None:
        award(100, "a1")
        _, pending = ask({"points": 300})
        erase()
        events_before = outbox_details()

        status, body = decide(pending["adjustment_id"])

        assert (status, body["error"]["code"]) == (409, "member_erased")
        assert outbox_details() == events_before
        assert_closed_as_erased(pending["adjustment_id"])
        assert DynamoLedgerRepository(TABLE).get_balance(alias()).available == 100  # type: ignore[union-attr]

    @pytest.mark.parametrize("kind", ["points", "reversal"])
    def test_an_approval_while_the_erasure_is_half_done_moves_nothing_and_names_nobody(
        self, kind: str
    ) -> None:
        award(100, "a1")
        if kind == "points":
            body: dict[str, Any] = {"points": 300}
        else:
            _, page = as_member("GET", "/v1/members/me/points/movements", ALICE)
            body = {"reverses": page["movements"][0]["movement_id"]}
        status, pending = ask(body)
        assert status == 201, pending
        erase(wallet_fails=True)  # tombstone and ledger erased; the wallet (the pending adjustment) not yet
        events_before = outbox_details()

        status, refused = decide(pending["adjustment_id"])

        assert (status, refused["error"]["code"]) == (409, "member_erased")
        new_events = [e for e in outbox_details() if e not in events_before]
        assert new_events == []
        ledger = DynamoLedgerRepository(TABLE)
        assert ledger.get_balance(alias()).available == 100  # type: ignore[union-attr]
        assert ledger.reversed_by(alias(), body.get("reverses", "-")) is None
        assert_closed_as_erased(pending["adjustment_id"])
        # the redelivered MemberErased finishes the wallet and finds the adjustment closed
        erase()
        assert_closed_as_erased(pending["adjustment_id"])
        # asking again for the erased member is refused
        assert decide(pending["adjustment_id"])[1]["error"]["code"] == "member_erased"

    def test_a_rejection_while_the_erasure_is_half_done_publishes_nothing_naming_the_member(self) -> None:
        _, pending = ask({"points": 300})
        erase(wallet_fails=True)
        events_before = outbox_details()

        status, refused = decide(pending["adjustment_id"], "reject", {"reason": "not warranted"})

        assert (status, refused["error"]["code"]) == (409, "member_erased")
        assert outbox_details() == events_before
        assert_closed_as_erased(pending["adjustment_id"])

    def test_a_request_after_the_erasure_is_refused_and_writes_nothing(self) -> None:
        award(100, "a1")
        erase()
        _, page = as_member("GET", "/v1/members/me/points/movements", ALICE)
        before = sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"]))

        for body in ({"points": 300}, {"reverses": page["movements"][0]["movement_id"]}):
            status, refused = ask(body)
            assert (status, refused["error"]["code"]) == (409, "member_erased"), refused

        assert sorted(all_items(TABLE), key=lambda i: (i["pk"], i["sk"])) == before

    def test_a_tickets_request_after_the_erasure_is_closed_at_its_approval(self) -> None:
        erase()
        data = PointsAdjustmentRequested(
            request_id="01HZ5555555555555555555555",
            ticket_id="01HZ1111111111111111111111",
            member_id=ALICE,
            points=259,
            reason="points_dispute: purchase not credited",
            requested_by="agent-7",
            requested_at=NOW,
        )
        result = on_points_adjustment_requested.handler(sqs_event([contract_bus_event(data)]), FakeContext())
        assert result == {"batchItemFailures": []}
        [pending] = entities("points_adjustment")
        events_before = outbox_details()

        status, refused = decide(pending["adjustment_id"])

        assert (status, refused["error"]["code"]) == (409, "member_erased")
        assert outbox_details() == events_before
        assert_closed_as_erased(pending["adjustment_id"])
