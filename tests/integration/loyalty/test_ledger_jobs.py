"""LoyaltyLedgerJobsFunction on moto, on a moving clock: pending → released → expiring (once per
lot) → expired, and the tier review with retention; concurrency between purchases and between
redemptions (optimistic concurrency on the balance item)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.loyalty.dal.ledger import DueCalendar, DynamoLedgerRepository, clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.handlers import ledger_deps, ledger_jobs
from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import InsufficientPoints, Source, post_movement
from services.loyalty.logic.privacy import pseudonym
from services.loyalty.models.earning import EarningRule, RuleScope
from shared import clock
from tests.integration.helpers import FakeContext, all_items
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import ALICE, BASE_RULE, configure, post_purchase, purchase

WINDOW = EarningRule(
    rule_id="01HX0000000000000000000009", kind="return_window", name="7 days", days=7, scope=RuleScope()
)


@pytest.fixture
def ledger(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    monkeypatch.setenv("POINTS_EXPIRY_POLICY", "days")
    monkeypatch.setenv("POINTS_EXPIRY_DAYS", "30")
    monkeypatch.setenv("POINTS_EXPIRING_NOTICE_DAYS", "5")
    clear_config_cache()
    yield
    clear_config_cache()


def at(moment: datetime) -> None:
    clock.set_clock(lambda: moment)


def run(job: str) -> dict[str, Any]:
    summary: dict[str, Any] = ledger_jobs.handler({"job": job}, FakeContext())
    return summary


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


@pytest.mark.usefixtures("ledger")
def test_pending_released_expiring_expired_on_the_clock() -> None:
    configure(BASE_RULE, WINDOW)
    at(NOW)
    _, body = post_purchase(purchase())
    assert body["points_status"] == "pending"
    assert (balance().available, balance().pending) == (0, 259)

    at(NOW + timedelta(days=6, hours=23))
    assert run("release")["released"] == 0
    at(NOW + timedelta(days=7, minutes=5))
    assert run("release")["released"] == 1
    assert (balance().available, balance().pending) == (259, 0)
    assert run("release")["released"] == 0  # a rerun finds nothing more to do

    # earned at NOW, expires NOW + 30 days; 5 days' notice
    at(NOW + timedelta(days=24))
    assert run("expiry")["noticed"] == 0
    at(NOW + timedelta(days=25, hours=1))
    summary = run("expiry")
    assert (summary["noticed"], summary["expired"]) == (1, 0)
    (expiring,) = events("PointsExpiring")
    assert expiring["lot_id"] == body["purchase_id"] and expiring["points"] == 259
    assert expiring["days_left"] == 5 and expiring["member_id"] == ALICE
    at(NOW + timedelta(days=26, hours=1))
    assert run("expiry")["noticed"] == 0  # once per lot
    assert len(events("PointsExpiring")) == 1

    at(NOW + timedelta(days=30, minutes=5))
    assert run("expiry")["expired"] == 1
    assert balance().available == 0
    (expired,) = events("PointsExpired")
    assert expired["points"] == 259 and expired["balance_after"] == 0
    assert run("expiry")["expired"] == 0
    movements, _ = DynamoLedgerRepository(TABLE).movements(ledger_id())
    assert [m.kind for m in movements] == ["expire", "release", "pending"]
    assert L.check_invariants(balance(), DynamoLedgerRepository(TABLE).open_lots(ledger_id())) == []
    # processed days leave the due calendar once they are over: an idle day costs one GetItem
    assert DueCalendar(TABLE).days() == ({"2026-03-08"}, {"2026-03-31"})  # the expiry job alone ran since
    at(NOW + timedelta(days=31, minutes=5))
    assert run("daily")["expired"] == 0
    assert DueCalendar(TABLE).days() == (set(), set())


@pytest.mark.usefixtures("ledger")
def test_tier_review_downgrades_only_when_retention_fails() -> None:
    configure()
    at(NOW)
    post_purchase(
        purchase(
            amount_cents=110000, items=[{"sku": "S", "category": "a", "quantity": 1, "amount_cents": 110000}]
        )
    )
    assert balance().tier == "silver"
    at(NOW + timedelta(days=60))
    assert run("tier-review")["downgraded"] == 0
    assert balance().tier == "silver"
    # 13 months later the window no longer holds the qualifying points
    at(NOW + timedelta(days=400))
    summary = run("tier-review")
    assert summary["downgraded"] == 1
    assert balance().tier == "normal"
    changes = events("TierChanged")
    assert [(c["direction"], c["reason"]) for c in changes] == [
        ("up", "qualifying_spend"),
        ("down", "review"),
    ]


@pytest.mark.usefixtures("ledger")
def test_unknown_job_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ledger job"):
        run("nope")


class StaleOnce:
    """A ledger whose first balance read is answered, then another writer changes the balance
    before our write: the race, made deterministic."""

    def __init__(self, repo: DynamoLedgerRepository, interleave: Any) -> None:
        self.repo = repo
        self.interleave = interleave
        self.reads = 0

    def get_balance(self, ledger_id: str) -> L.Balance | None:
        self.reads += 1
        found = self.repo.get_balance(ledger_id)
        if self.reads == 1:
            self.interleave()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


class RacingWrite:
    """The other writer gets in between our compute and our write (the first time)."""

    def __init__(self, repo: DynamoLedgerRepository, interleave: Any) -> None:
        self.repo = repo
        self.interleave = interleave
        self.writes: list[str] = []

    def post(self, change: L.LedgerChange, **kw: Any) -> L.PostResult:
        if not self.writes:
            self.interleave()
        result = self.repo.post(change, **kw)
        self.writes.append(result.status)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


def _redeem(repo: DynamoLedgerRepository, points: int, movement_id: str):  # type: ignore[no-untyped-def]
    def compute(b: L.Balance) -> L.LedgerChange:
        return L.debit(
            b,
            repo.open_lots(ledger_id()),
            points=points,
            kind="redeem",
            movement_id=movement_id,
            at=NOW,
            reason="reward",
            source=Source("reward", "r1"),
            actor="member",
        )

    return compute


@pytest.mark.usefixtures("ledger")
def test_two_redemptions_racing_for_the_last_points_one_wins() -> None:
    configure()
    at(NOW)
    post_purchase(purchase())  # 259 points
    repo = DynamoLedgerRepository(TABLE)

    def other_redemption() -> None:
        post_movement(repo, ledger_id(), ALICE, _redeem(repo, 200, "01HZ0000000000000000000001"))

    racing = RacingWrite(repo, other_redemption)
    with pytest.raises(InsufficientPoints):
        # read 259 and plan; the other redemption spends 200; our write conflicts; re-read 59 < 200
        post_movement(racing, ledger_id(), ALICE, _redeem(repo, 200, "01HZ0000000000000000000002"))
    assert racing.writes == ["conflict"]
    assert balance().available == 59
    assert L.check_invariants(balance(), repo.open_lots(ledger_id())) == []


@pytest.mark.usefixtures("ledger")
def test_two_purchases_of_one_member_racing_both_earn(monkeypatch: pytest.MonkeyPatch) -> None:
    configure()
    at(NOW)
    repo = DynamoLedgerRepository(TABLE)
    racing = StaleOnce(repo, lambda: post_purchase(purchase("POS-OTHER")))
    # the purchase route imports ledger_repo from ledger_deps when it runs
    monkeypatch.setattr(ledger_deps, "ledger_repo", lambda settings: racing)
    status, _ = post_purchase(purchase("POS-MINE"))
    assert status == 201
    # mine (then the other purchase slips in, reading through the same wrapper), mine again after
    # the conflict, re-planned on the fresh balance
    assert racing.reads == 3
    assert balance().available == 2 * 259
    assert len(events("PointsEarned")) == 2
    assert L.check_invariants(balance(), repo.open_lots(ledger_id())) == []
