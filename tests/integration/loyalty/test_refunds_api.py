"""POST /v1/integrations/refunds on moto: full and partial refunds claw back the purchase's points
(its own lots first), a refund beyond the purchase is a 422 with nothing written, a negative
balance is recorded, repeats are replays, PurchaseRefunded is published."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from services.loyalty.dal.ledger import DynamoLedgerRepository, clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import Source, post_movement
from services.loyalty.logic.privacy import pseudonym
from tests.integration.helpers import all_items
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import (
    ALICE,
    configure,
    post_purchase,
    post_refund,
    purchase,
    refund,
)


@pytest.fixture
def ledger(loyalty: None) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    clear_config_cache()
    configure()
    yield
    clear_config_cache()


def ledger_id() -> str:
    return pseudonym(pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"]), ALICE)


def balance() -> L.Balance:
    found = DynamoLedgerRepository(TABLE).get_balance(ledger_id())
    assert found is not None
    return found


def events(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i["detail_type"] == detail_type
    ]


def spend(points: int) -> None:
    repo = DynamoLedgerRepository(TABLE)

    def redeem(b: L.Balance) -> L.LedgerChange:
        return L.debit(
            b,
            repo.open_lots(ledger_id()),
            points=points,
            kind="redeem",
            movement_id=f"01HZ{points:022d}",
            at=NOW,
            reason="reward",
            source=Source("reward", "r1"),
            actor="member",
        )

    post_movement(repo, ledger_id(), ALICE, redeem)


@pytest.mark.usefixtures("ledger")
class TestRefunds:
    def test_a_full_refund_takes_back_the_purchases_points(self) -> None:
        _, bought = post_purchase(purchase())
        status, body = post_refund(refund())
        assert status == 201
        assert body["full_refund"] is True and body["points_clawed_back"] == 259
        assert balance().available == 0
        (event,) = events("PurchaseRefunded")
        assert event["purchase_id"] == bought["purchase_id"]
        assert event["points_clawed_back"] == 259 and event["member_id"] == ALICE
        movements, _ = DynamoLedgerRepository(TABLE).movements(ledger_id())
        assert movements[0].kind == "refund_clawback"
        assert movements[0].lots == (L.LotChange(bought["purchase_id"], -259),)
        assert movements[0].source == Source("refund", body["refund_id"])

    def test_partial_refunds_add_up_exactly_to_the_points_earned(self) -> None:
        post_purchase(purchase())  # 25900 cents -> 259 points
        clawed = []
        for n, cents in enumerate((10000, 10000, 5900)):
            status, body = post_refund(refund(f"REF-{n}", amount_cents=cents))
            assert status == 201
            clawed.append(body["points_clawed_back"])
        assert sum(clawed) == 259
        assert clawed == [100, 100, 59]
        assert body["full_refund"] is True
        assert balance().available == 0

    def test_more_than_the_purchase_is_a_422_and_nothing_changes(self) -> None:
        post_purchase(purchase())
        post_refund(refund("REF-1", amount_cents=20000))
        before = all_items(TABLE)
        status, body = post_refund(refund("REF-2", amount_cents=6000))
        assert status == 422
        assert body["error"]["code"] == "refund_exceeds_purchase"
        assert all_items(TABLE) == before

    def test_unknown_purchase_wrong_store_and_bad_amounts_are_4xx(self) -> None:
        post_purchase(purchase())
        before = all_items(TABLE)
        assert post_refund(refund(purchase_external_id="NOPE"))[0] == 404
        assert post_refund(refund(store_id="store-9999"))[0] == 422
        assert post_refund(refund(amount_cents=-5))[0] == 422
        assert post_refund(refund(amount_cents=0))[0] == 422
        assert all_items(TABLE) == before

    def test_a_refund_after_the_points_were_spent_leaves_a_visible_negative_balance(self) -> None:
        post_purchase(purchase())
        spend(200)
        post_refund(refund())
        b = balance()
        assert (b.available, b.debt) == (-200, 200)
        movements, _ = DynamoLedgerRepository(TABLE).movements(ledger_id())
        assert movements[0].balance_after == -200
        lots = DynamoLedgerRepository(TABLE).open_lots(ledger_id())
        assert L.check_invariants(b, lots) == []
        # the next purchase pays the debt first
        post_purchase(purchase("POS-2"))
        assert (balance().available, balance().debt) == (59, 0)

    def test_a_repeat_is_a_replay_and_other_content_a_conflict(self) -> None:
        post_purchase(purchase())
        first = post_refund(refund(amount_cents=1000))
        again = post_refund(refund(amount_cents=1000))
        assert (first[0], again[0]) == (201, 200)
        assert again[1]["replayed"] is True and again[1]["refund_id"] == first[1]["refund_id"]
        assert post_refund(refund(amount_cents=2000))[0] == 409
        assert balance().available == 249
        assert len(events("PurchaseRefunded")) == 1


class RacingRefunds:
    """Another till's refund of the same purchase lands between our read and our write."""

    def __init__(self, repo: Any, interleave: Any) -> None:
        self.repo = repo
        self.interleave = interleave
        self.outcomes: list[str] = []

    def insert(self, *args: Any, **kw: Any) -> Any:
        if not self.outcomes:
            self.interleave()
        outcome = self.repo.insert(*args, **kw)
        self.outcomes.append(outcome.value)
        return outcome

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


@pytest.mark.usefixtures("ledger")
@pytest.mark.parametrize(("mine", "expect_ok"), [(10000, True), (20000, False)])
def test_two_partial_refunds_racing_cannot_exceed_the_purchase(mine: int, expect_ok: bool) -> None:
    from services.loyalty.dal.refunds import DynamoRefundRepository
    from services.loyalty.logic.errors import RefundExceedsPurchase
    from services.loyalty.logic.purchases import SignedBy
    from services.loyalty.logic.refunds import record_refund
    from services.loyalty.models.refunds import RefundRequest
    from shared import clock

    post_purchase(purchase())  # 25900 cents, 259 points
    racing = RacingRefunds(
        DynamoRefundRepository(TABLE), lambda: post_refund(refund("REF-OTHER", amount_cents=15000))
    )
    request = RefundRequest.model_validate(refund("REF-MINE", amount_cents=mine))
    ids = iter(f"01HZ{n:022d}" for n in range(100))

    def attempt() -> Any:
        return record_refund(
            request,
            SignedBy(source="pos-main", nonce="n" * 20),
            racing,
            DynamoLedgerRepository(TABLE),
            now=NOW,
            new_id=lambda: next(ids),
            correlation_id="c",
            producer="test",
            nonce_expires_at=NOW,
            pseudonymise=lambda m: pseudonym(pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"]), m),
            tz=clock.zone("Asia/Shanghai"),
        )

    if expect_ok:
        recorded = attempt()
        assert racing.outcomes == ["retry", "created"]
        assert recorded.refund.points_clawed_back == 100
        assert balance().available == 259 - 150 - 100
    else:
        with pytest.raises(RefundExceedsPurchase):
            attempt()
        assert racing.outcomes == ["retry"]
        assert balance().available == 259 - 150
    lots = DynamoLedgerRepository(TABLE).open_lots(ledger_id())
    assert L.check_invariants(balance(), lots) == []
