"""The audience projection's ``points_balance`` on moto follows every ledger movement that changes
the available balance (not only earn and expiry), ordered by the ledger's balance version."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.handlers import on_member_facts
from shared.events.contracts import (
    PointsAdjusted,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsReleased,
    PurchaseRefunded,
    TierChanged,
)
from tests.integration.campaigns.planning_support import TABLE, Planning, planning_world
from tests.integration.helpers import FakeContext, all_items, contract_bus_event, sqs_event

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
M = "01HX0000000000000000000042"
pytestmark = pytest.mark.usefixtures("planning")


@pytest.fixture
def planning(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Planning]:
    yield from planning_world(monkeypatch)


def facts(*events: Any) -> None:
    answer = on_member_facts.handler(sqs_event([contract_bus_event(e) for e in events]), FakeContext())
    assert answer == {"batchItemFailures": []}


def row() -> dict[str, Any]:
    return next(i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{M}" and i["sk"] == "ATTRS")


def mv(n: int) -> str:
    return f"01HXMV{n:020d}"


def earned(balance: int, version: int | None, at: datetime, n: int) -> PointsEarned:
    return PointsEarned(
        member_id=M, movement_id=mv(n), points=100, reason="purchase", purchase_id=None,
        status="available", available_at=None, expires_at=None, balance_after=balance, earned_at=at,
        balance_version=version,
    )  # fmt: skip


def redeemed(balance: int, version: int, at: datetime, n: int) -> PointsRedeemed:
    return PointsRedeemed(
        member_id=M, movement_id=mv(n), points=50, reason="reward", reference_id="R1",
        balance_after=balance, redeemed_at=at, balance_version=version,
    )  # fmt: skip


def test_every_balance_changing_movement_moves_the_balance() -> None:
    t = NOW
    facts(earned(1000, 1, t, 1))
    assert row()["points_balance"] == 1000
    steps: list[tuple[Any, int]] = [
        (redeemed(500, 2, t + timedelta(minutes=1), 2), 500),  # a reward
        (
            PointsRedeemed(
                member_id=M, movement_id=mv(3), points=100, reason="parking", reference_id="S1",
                balance_after=400, redeemed_at=t + timedelta(minutes=2), balance_version=3,
            ),
            400,
        ),  # a parking fee offset
        (
            PointsReleased(
                member_id=M, movement_id=mv(4), points=300, lot_id="L1", purchase_id="P1",
                balance_after=700, balance_version=4, released_at=t + timedelta(minutes=3),
            ),
            700,
        ),  # pending points became available
        (
            PurchaseRefunded(
                refund_id="RF1", external_id="E-RF1", source_system="pos", purchase_id="P1", member_id=M,
                store_id="s1", amount_cents=100, full_refund=False, points_clawed_back=200,
                occurred_at=t, movement_id=mv(5), balance_after=500, balance_version=5,
                recorded_at=t + timedelta(minutes=4),
            ),
            500,
        ),  # the refund clawed points back
        (
            PointsAdjusted(
                adjustment_id="A1", member_id=M, points=-600, reason="correction", ticket_id=None,
                requested_by="s1", approved_by="s2", movement_id=mv(6), balance_after=-100,
                adjusted_at=t + timedelta(minutes=5), balance_version=6,
            ),
            -100,
        ),  # a staff debit (or a reversal) into debt
        (
            PointsExpired(
                member_id=M, movement_id=mv(7), points=10, balance_after=-110,
                expired_at=t + timedelta(minutes=6), balance_version=7,
            ),
            -110,
        ),
    ]  # fmt: skip
    for event, balance in steps:
        facts(event)
        assert row()["points_balance"] == balance, type(event).__name__
    assert row()["points_version"] == 7


def test_a_refund_without_a_clawback_changes_nothing() -> None:
    facts(earned(1000, 1, NOW, 1))
    facts(
        PurchaseRefunded(
            refund_id="RF1", external_id="E-RF1", source_system="pos", purchase_id="P1", member_id=M,
            store_id="s1", amount_cents=100, full_refund=False, points_clawed_back=None,
            occurred_at=NOW + timedelta(hours=1),
        )
    )  # fmt: skip
    assert row()["points_balance"] == 1000


def test_the_ledger_version_orders_movements_not_their_clocks() -> None:
    # Movement 3 was computed at 10:00:05 but posted after an optimistic-concurrency retry, behind
    # movement 2 (10:00:06): its version is the newer one, and its balance is the member's.
    facts(redeemed(600, 2, NOW + timedelta(seconds=6), 2))
    facts(redeemed(300, 3, NOW + timedelta(seconds=5), 3))
    assert row()["points_balance"] == 300
    # Late redeliveries of older versions, whatever their clock, change nothing.
    facts(redeemed(600, 2, NOW + timedelta(seconds=6), 2), earned(1000, 1, NOW + timedelta(hours=1), 1))
    assert (row()["points_balance"], row()["points_version"]) == (300, 3)


def test_events_without_a_version_fall_back_to_time_and_never_beat_a_versioned_balance() -> None:
    facts(earned(100, None, NOW, 1))
    facts(earned(50, None, NOW - timedelta(minutes=1), 0))  # older: ignored
    assert row()["points_balance"] == 100
    facts(earned(200, None, NOW + timedelta(minutes=1), 2))  # newer: taken
    assert row()["points_balance"] == 200
    facts(redeemed(150, 9, NOW + timedelta(minutes=2), 3))  # the first versioned movement
    assert row()["points_balance"] == 150
    facts(earned(999, None, NOW + timedelta(days=1), 4))  # an unversioned event never wins now
    assert (row()["points_balance"], row()["points_version"]) == (150, 9)


def test_the_tier_keeps_its_display_name_with_it() -> None:
    facts(
        TierChanged(
            member_id=M, previous_tier="t_silver", new_tier="t_gold", direction="up",
            reason="qualifying_spend", changed_at=NOW, new_tier_label="Gold", previous_tier_label="Silver",
        )
    )  # fmt: skip
    assert (row()["tier"], row()["tier_name"]) == ("t_gold", "Gold")
    # an older producer's event (no name) for a newer change: the old name does not stay beside it
    facts(
        TierChanged(
            member_id=M, previous_tier="t_gold", new_tier="t_diamond", direction="up",
            reason="qualifying_spend", changed_at=NOW + timedelta(days=1),
        )
    )  # fmt: skip
    assert row()["tier"] == "t_diamond" and "tier_name" not in row()
