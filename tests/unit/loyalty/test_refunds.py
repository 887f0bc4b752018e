"""Refund clawback arithmetic (pure): proportional on the running total, exact over partial refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from services.loyalty.logic.refunds import clawback_points, ledger_id_for
from services.loyalty.models.entities import Purchase

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def purchase(amount: int, points: int | None, refunded: int = 0, **kw: object) -> Purchase:
    return Purchase(
        purchase_id="01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        external_id="x",
        source_system="pos",
        store_id="s",
        tenant_id=None,
        member_id=kw.get("member_id", "01HX9ZK3M5N7P9Q1R3S5T7V9WX"),  # type: ignore[arg-type]
        amount_cents=amount,
        currency="CNY",
        channel="pos",
        items=(),
        occurred_at=NOW,
        recorded_at=NOW,
        fingerprint="f",
        points_earned=points,
        refunded_cents=refunded,
        member_status=kw.get("member_status"),  # type: ignore[arg-type]
    )


def test_a_full_refund_takes_everything_and_a_purchase_without_points_nothing() -> None:
    assert clawback_points(purchase(25900, 259), 25900) == 259
    assert clawback_points(purchase(25900, None), 25900) == 0


@given(
    amount=st.integers(1, 10_000_000),
    points=st.integers(0, 100_000),
    cuts=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=0, max_size=6),
)
def test_partial_refunds_add_up_exactly_to_the_points_earned(
    amount: int, points: int, cuts: list[float]
) -> None:
    marks = sorted({int(amount * c) for c in cuts} | {0, amount})
    refunded, taken = 0, 0
    for before, after in pairwise(marks):
        part = after - before
        if part <= 0:
            continue
        step = clawback_points(purchase(amount, points, refunded), part)
        assert 0 <= step <= points
        taken += step
        refunded += part
    assert refunded == amount
    assert taken == points


def test_an_erased_members_purchase_already_carries_its_ledger_id() -> None:
    erased = purchase(100, 1, member_id="anon_abc", member_status="erased")
    assert ledger_id_for(erased, lambda m: "never called") == "anon_abc"
    assert ledger_id_for(purchase(100, 1), lambda m: f"alias-of-{m}") == "alias-of-01HX9ZK3M5N7P9Q1R3S5T7V9WX"
    assert ledger_id_for(purchase(100, 1, member_id=None), lambda m: "x") is None
