"""Every ledger movement that changes the available balance publishes it with the balance's
version (on moto): consumers projecting the balance (campaigns) can follow every movement and
order them. Release → ``PointsReleased``; a refund's clawback → ``PurchaseRefunded`` with
``movement_id``, ``balance_after``, ``balance_version``; earn and expiry carry the version too;
TierChanged carries the tiers' display names."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.loyalty.dal.ledger import DynamoLedgerRepository, clear_calendar_cache
from services.loyalty.dal.loyalty_config import clear_config_cache
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.handlers import ledger_jobs
from services.loyalty.logic import ledger as L
from services.loyalty.logic.privacy import pseudonym
from services.loyalty.models.earning import EarningRule, RuleScope
from shared import clock
from tests.integration.helpers import FakeContext, all_items
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2
from tests.integration.loyalty.ledger_support import (
    ALICE,
    BASE_RULE,
    configure,
    post_purchase,
    post_refund,
    purchase,
    refund,
)

WINDOW = EarningRule(
    rule_id="01HX0000000000000000000009", kind="return_window", name="7 days", days=7, scope=RuleScope()
)


@pytest.fixture
def ledger(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    add_gsi2(TABLE)
    clear_calendar_cache()
    monkeypatch.setenv("POINTS_EXPIRY_POLICY", "days")
    monkeypatch.setenv("POINTS_EXPIRY_DAYS", "30")
    clear_config_cache()
    yield
    clear_config_cache()


def at(moment: datetime) -> None:
    clock.set_clock(lambda: moment)


def balance() -> L.Balance:
    ledger_id = pseudonym(pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"]), ALICE)
    found = DynamoLedgerRepository(TABLE).get_balance(ledger_id)
    assert found is not None
    return found


def events(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i["detail_type"] == detail_type
    ]


@pytest.mark.usefixtures("ledger")
def test_release_publishes_the_balance_with_its_version_and_events_carry_the_version() -> None:
    configure(BASE_RULE, WINDOW)
    at(NOW)
    _, bought = post_purchase(purchase())
    (earned,) = events("PointsEarned")
    assert (earned["status"], earned["balance_after"]) == ("pending", 0)
    assert earned["balance_version"] == balance().version

    at(NOW + timedelta(days=7, minutes=5))
    assert ledger_jobs.handler({"job": "release"}, FakeContext())["released"] == 1
    (released,) = events("PointsReleased")
    after = balance()
    assert (released["member_id"], released["points"], released["lot_id"]) == (
        ALICE,
        259,
        bought["purchase_id"],
    )
    assert (
        (released["balance_after"], released["balance_version"])
        == (after.available, after.version)
        == (
            259,
            earned["balance_version"] + 1,
        )
    )
    assert ledger_jobs.handler({"job": "release"}, FakeContext())["released"] == 0
    assert len(events("PointsReleased")) == 1  # a rerun releases and publishes nothing

    at(NOW + timedelta(days=30, minutes=5))
    assert ledger_jobs.handler({"job": "expiry"}, FakeContext())["expired"] == 1
    (expired,) = events("PointsExpired")
    assert (expired["balance_after"], expired["balance_version"]) == (0, balance().version)


@pytest.mark.usefixtures("ledger")
def test_a_refund_publishes_its_clawback_movement_and_the_balance_after() -> None:
    configure(BASE_RULE)
    at(NOW)
    post_purchase(purchase())
    status, body = post_refund(refund(amount_cents=10000))
    assert status == 201 and body["points_clawed_back"] == 100
    (refunded,) = events("PurchaseRefunded")
    after = balance()
    movements, _ = DynamoLedgerRepository(TABLE).movements(after.ledger_id)
    assert movements[0].kind == "refund_clawback"
    assert refunded["movement_id"] == movements[0].movement_id
    assert (refunded["balance_after"], refunded["balance_version"]) == (after.available, after.version)
    assert after.available == 159
    assert refunded["recorded_at"] == clock.to_utc_iso(NOW)
