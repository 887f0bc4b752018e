"""The ledger's DynamoDB repository on moto: one transaction per change, optimistic concurrency,
the caller's own items in the same transaction, idempotency keys, the due-index keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.loyalty.dal.ledger import DynamoLedgerRepository, clear_calendar_cache
from services.loyalty.dal.ledger_items import shard_of
from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import Source
from shared.dynamo import put_op
from tests.integration.helpers import all_items, aws
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.ledger_fixtures import add_gsi2

LEDGER = "anon_0123456789abcdef0123456789abcdef"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


@pytest.fixture
def repo(loyalty: None) -> DynamoLedgerRepository:
    add_gsi2(TABLE)
    clear_calendar_cache()
    return DynamoLedgerRepository(TABLE)


def _earn(balance: L.Balance, lot_id: str, points: int, **kw: Any) -> L.LedgerChange:
    return L.earn(
        balance,
        points=points,
        lot_id=lot_id,
        movement_id=f"M{lot_id}",
        at=NOW,
        expires_at=kw.pop("expires_at", NOW + timedelta(days=365)),
        reason="purchase",
        source=Source("purchase", lot_id),
        actor="integration:pos-main",
        **kw,
    )


def test_a_change_is_written_in_one_transaction_and_read_back(repo: DynamoLedgerRepository) -> None:
    assert repo.get_balance(LEDGER) is None
    result = repo.post(_earn(L.new_balance(LEDGER, MEMBER), "lot1", 120))
    assert result.ok
    balance = repo.get_balance(LEDGER)
    assert balance is not None
    assert (balance.available, balance.version, balance.member_id) == (120, 1, MEMBER)
    lots = repo.open_lots(LEDGER)
    assert [(lot.lot_id, lot.remaining) for lot in lots] == [("lot1", 120)]
    movements, cursor = repo.movements(LEDGER)
    assert [(m.kind, m.points, m.balance_after) for m in movements] == [("earn", 120, 120)]
    assert cursor is None
    assert L.check_invariants(balance, lots) == []


def test_a_write_from_a_stale_read_is_a_conflict_and_writes_nothing(repo: DynamoLedgerRepository) -> None:
    start = L.new_balance(LEDGER, MEMBER)
    assert repo.post(_earn(start, "lot1", 10)).ok
    before = all_items(TABLE)
    stale = repo.post(_earn(start, "lot2", 10))
    assert stale.status == "conflict"
    assert all_items(TABLE) == before


def test_the_callers_items_share_the_transaction(repo: DynamoLedgerRepository) -> None:
    repo.post(_earn(L.new_balance(LEDGER, MEMBER), "lot1", 100))
    stock = put_op(TABLE, {"pk": "REWARD#r1", "sk": "STOCK", "left": 0}, condition="attribute_not_exists(pk)")
    balance = repo.get_balance(LEDGER)
    assert balance is not None

    def redeem(b: L.Balance) -> L.LedgerChange:
        return L.debit(
            b,
            repo.open_lots(LEDGER),
            points=30,
            kind="redeem",
            movement_id="Mredeem",
            at=NOW,
            reason="reward",
            source=Source("reward", "r1"),
            actor="member",
        )

    outcome = L.post_movement(repo, LEDGER, MEMBER, redeem, extra=lambda c: [stock])
    assert outcome.change is not None
    assert any(i["pk"] == "REWARD#r1" for i in all_items(TABLE))
    # the same stock item again: the caller's condition fails, the ledger is unchanged
    before = repo.get_balance(LEDGER)
    with pytest.raises(L.ExtraItemsFailed) as failed:
        L.post_movement(repo, LEDGER, MEMBER, redeem, extra=lambda c: [stock])
    assert failed.value.indexes == (0,)
    assert repo.get_balance(LEDGER) == before


def test_an_idempotency_key_makes_a_repeat_a_replay(repo: DynamoLedgerRepository) -> None:
    counter = iter(range(100))

    def award(b: L.Balance) -> L.LedgerChange:
        return _earn(b, f"award{next(counter)}", 5, kind="adjustment")

    first = L.post_movement(repo, LEDGER, MEMBER, award, idempotency_key="award#req1")
    again = L.post_movement(repo, LEDGER, MEMBER, award, idempotency_key="award#req1")
    assert first.change is not None
    assert again.replayed
    assert again.previous is not None
    assert again.previous["movement_id"] == first.change.movement.movement_id
    balance = repo.get_balance(LEDGER)
    assert balance is not None and balance.available == 5


def test_lots_carry_the_sharded_due_index_keys(repo: DynamoLedgerRepository) -> None:
    repo.post(_earn(L.new_balance(LEDGER, MEMBER), "lot1", 10, available_at=NOW + timedelta(days=7)))
    lot = next(i for i in all_items(TABLE) if i["sk"] == "LOT#lot1")
    assert lot["gsi2pk"] == f"LOTREL#2026-03-08#{shard_of(LEDGER)}"
    page = aws("dynamodb").query(
        TableName=TABLE,
        IndexName="gsi2",
        KeyConditionExpression="gsi2pk = :p",
        ExpressionAttributeValues={":p": {"S": lot["gsi2pk"]}},
    )
    assert [i["sk"]["S"] for i in page["Items"]] == ["LOT#lot1"]


def test_movements_are_paginated_newest_first(repo: DynamoLedgerRepository) -> None:
    balance = L.new_balance(LEDGER, MEMBER)
    for n in range(5):
        change = L.earn(
            balance,
            points=1,
            lot_id=f"lot{n}",
            movement_id=f"0{n}",
            at=NOW,
            expires_at=NOW + timedelta(days=365),
            reason="purchase",
            source=Source("purchase"),
            actor="system",
        )
        assert repo.post(change).ok
        balance = L.replace_version(change.after, balance.version + 1)
    page1, cursor = repo.movements(LEDGER, limit=2)
    page2, cursor2 = repo.movements(LEDGER, limit=2, after=cursor)
    page3, cursor3 = repo.movements(LEDGER, limit=2, after=cursor2)
    assert [m.movement_id for m in page1 + page2 + page3] == ["04", "03", "02", "01", "00"]
    assert cursor3 is None
