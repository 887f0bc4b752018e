"""dal/attrs.py builds the purchase path's attribute maps without boto3's serializer: it must give
exactly what ``shared.dynamo.to_item`` / ``put_op`` give, and refuse floats as they do."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.loyalty.dal.attrs import item_attrs, plain_item, put
from services.loyalty.dal.ledger import balance_item, lot_item, movement_item
from services.loyalty.dal.record_items import purchase_item
from services.loyalty.logic.ledger import Balance, Lot, LotChange, Movement, Source
from services.loyalty.models.entities import Purchase, PurchaseLine
from shared.dynamo import from_item, put_op, to_item

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


@pytest.mark.parametrize("item", samples(), ids=["balance", "lot", "movement", "odd types"])
def test_reading_gives_what_from_item_gives(item: dict[str, Any]) -> None:
    stored = to_item(item)
    assert plain_item(stored) == from_item(stored)


def test_reading_numbers_as_from_item_does() -> None:
    numbers = ["0", "-0", "007", "-12", str(10**37), str(-(10**38) + 1), "1.5", "1E+2", "2.0", "-3.25e1"]
    stored: dict[str, Any] = {f"n{i}": {"N": n} for i, n in enumerate(numbers)}
    stored["nested"] = {"M": {"l": {"L": [{"N": "1.50"}, {"N": "12"}, {"NS": ["1", "2.5"]}]}}}
    read, expected = plain_item(stored), from_item(stored)
    assert read == expected
    assert {k: type(v) for k, v in read.items()} == {k: type(v) for k, v in expected.items()}


def test_floats_are_refused_as_by_to_item() -> None:
    with pytest.raises(TypeError, match="float"):
        item_attrs({"pk": "x", "amount": {"cents": 1.5}})


def test_numbers_beyond_dynamodbs_precision_fail_as_in_to_item() -> None:
    with pytest.raises(Exception) as by_shared:
        to_item({"n": 10**40 + 1})
    with pytest.raises(type(by_shared.value)):
        item_attrs({"n": 10**40 + 1})


def test_the_purchase_items_lines_are_the_lines_model_dump() -> None:
    # purchase_item builds the lines by hand (hot path): a field added to PurchaseLine must appear.
    lines = (
        PurchaseLine(sku="a-1", category="apparel", quantity=2, amount_cents=25900),
        PurchaseLine(sku="b-2", category="food", quantity=1, amount_cents=0),
    )
    purchase = Purchase(
        purchase_id="01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        external_id="x",
        source_system="pos",
        store_id="s",
        tenant_id=None,
        member_id="01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        amount_cents=25900,
        currency="CNY",
        channel="pos",
        items=lines,
        occurred_at=AT,
        recorded_at=AT,
        fingerprint="f",
    )
    item = purchase_item(purchase)
    assert item["items"] == [line.model_dump() for line in lines]
    assert item["gsi1sk"].startswith(item["occurred_at"] + "#")
