"""dal/attrs.py builds the purchase path's attribute maps without boto3's serializer: it must give
exactly what ``shared.dynamo.to_item`` / ``put_op`` give, and refuse floats as they do."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.loyalty.dal.attrs import item_attrs, put
from services.loyalty.dal.ledger import balance_item, lot_item, movement_item
from services.loyalty.logic.ledger import Balance, Lot, LotChange, Movement, Source
from shared.dynamo import put_op, to_item

AT = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def samples() -> list[dict[str, Any]]:
    balance = Balance(
        ledger_id="anon_1",
        member_id="01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        available=1200,
        pending=-3,
        version=7,
        lifetime_earned=4800,
        earned_by_month={"2026-11": 1200, "2026-10": 0},
        spend_by_month={"2026-11": 120000},
        tier="gold",
        tier_since=AT,
    )
    lot = Lot(
        lot_id="L1",
        points=100,
        remaining=100,
        status="available",
        earned_at=AT,
        available_at=None,
        expires_at=AT,
        source=Source("purchase", "p1"),
        purchase_id="p1",
    )
    movement = Movement(
        movement_id="M1",
        ledger_id="anon_1",
        kind="earn",
        points=100,
        reason="purchase",
        source=Source("purchase", "p1"),
        actor="system",
        at=AT,
        balance_after=1300,
        pending_after=0,
        lots=(LotChange("L1", 100),),
    )
    odd = {
        "pk": "X",
        "sk": "Y",
        "flag": True,
        "nothing": None,
        "nested": {"a": [1, "b", None, False, {"c": -(10**12)}], "e": ()},
        "decimal": Decimal("1.5"),
        "big": 10**37,
        "names": {"a", "b"},
        "blob": b"\x00\x01",
    }
    return [balance_item(balance), lot_item("anon_1", lot), movement_item(movement), odd]


@pytest.mark.parametrize("item", samples(), ids=["balance", "lot", "movement", "odd types"])
def test_the_maps_are_to_items(item: dict[str, Any]) -> None:
    assert item_attrs(item) == to_item(item)
    expected = put_op("t", item, condition="version = :v", names={"#s": "s"}, values={":v": 3})
    assert put("t", item, condition="version = :v", names={"#s": "s"}, values={":v": 3}) == expected
    assert put("t", item) == put_op("t", item)


def test_floats_are_refused_as_by_to_item() -> None:
    with pytest.raises(TypeError, match="float"):
        item_attrs({"pk": "x", "amount": {"cents": 1.5}})


def test_numbers_beyond_dynamodbs_precision_fail_as_in_to_item() -> None:
    with pytest.raises(Exception) as by_shared:
        to_item({"n": 10**40 + 1})
    with pytest.raises(type(by_shared.value)):
        item_attrs({"n": 10**40 + 1})
