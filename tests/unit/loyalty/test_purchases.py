"""Recording a purchase (pure logic, with an in-memory repository)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.loyalty.logic.errors import NonceReused, PurchaseConflict, SourceMismatch
from services.loyalty.logic.purchases import (
    InsertOutcome,
    NonceClaim,
    OutboxEntry,
    SignedBy,
    fingerprint,
    record_purchase,
)
from services.loyalty.models.api import PurchaseRequest
from services.loyalty.models.entities import Purchase
from shared.errors import Unprocessable

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


class MemoryRepo:
    def __init__(self) -> None:
        self.purchases: dict[tuple[str, str], Purchase] = {}
        self.nonces: set[tuple[str, str]] = set()
        self.outbox: list[OutboxEntry] = []

    def insert(self, purchase: Purchase, outbox: OutboxEntry, nonce: NonceClaim) -> InsertOutcome:
        if (nonce.source, nonce.nonce) in self.nonces:
            return InsertOutcome.NONCE_USED
        key = (purchase.source_system, purchase.external_id)
        if key in self.purchases:
            return InsertOutcome.PURCHASE_EXISTS
        self.purchases[key] = purchase
        self.nonces.add((nonce.source, nonce.nonce))
        self.outbox.append(outbox)
        return InsertOutcome.CREATED

    def get(self, source_system: str, external_id: str) -> Purchase | None:
        return self.purchases.get((source_system, external_id))

    def claim_nonce(self, nonce: NonceClaim) -> bool:
        if (nonce.source, nonce.nonce) in self.nonces:
            return False
        self.nonces.add((nonce.source, nonce.nonce))
        return True


def request(**overrides: Any) -> PurchaseRequest:
    body: dict[str, Any] = {
        "external_id": "POS-1",
        "source_system": "pos-main",
        "store_id": "store-1",
        "amount_cents": 1000,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "S", "category": "food", "quantity": 1, "amount_cents": 1000}],
        "occurred_at": "2026-03-01T11:58:00+08:00",
    }
    body.update(overrides)
    return PurchaseRequest.model_validate(body)


def record(repo: MemoryRepo, req: PurchaseRequest, nonce: str = "n" * 16, source: str = "pos-main") -> Any:
    ids = iter(f"01J{n:023d}" for n in range(100))
    return record_purchase(
        req,
        SignedBy(source=source, nonce=nonce),
        repo,
        now=NOW,
        new_id=lambda: next(ids),
        correlation_id="c-1",
        producer="tests",
        nonce_ttl=timedelta(minutes=11),
    )


def test_new_purchase_is_created_with_its_event():
    repo = MemoryRepo()
    result = record(repo, request())
    assert result.replayed is False
    (entry,) = repo.outbox
    assert entry.event.purchase_id == result.purchase.purchase_id
    assert entry.event.occurred_at == datetime(2026, 3, 1, 3, 58, tzinfo=UTC)
    assert (entry.correlation_id, entry.at) == ("c-1", NOW)


def test_replay_returns_the_original():
    repo = MemoryRepo()
    first = record(repo, request(), nonce="a" * 16)
    again = record(repo, request(), nonce="b" * 16)
    assert again.replayed is True
    assert again.purchase == first.purchase
    assert len(repo.outbox) == 1


def test_conflict_on_different_content():
    repo = MemoryRepo()
    record(repo, request(), nonce="a" * 16)
    with pytest.raises(PurchaseConflict):
        record(repo, request(amount_cents=2000), nonce="b" * 16)


def test_reused_nonce_is_rejected_on_both_paths():
    repo = MemoryRepo()
    record(repo, request(), nonce="a" * 16)
    with pytest.raises(NonceReused):
        record(repo, request(), nonce="a" * 16)  # the exact request again
    with pytest.raises(NonceReused):
        record(repo, request(external_id="POS-2"), nonce="a" * 16)


def test_signer_must_be_the_source_system():
    with pytest.raises(SourceMismatch):
        record(MemoryRepo(), request(), source="online-mall")


def test_future_purchase_is_unprocessable():
    with pytest.raises(Unprocessable) as raised:
        record(MemoryRepo(), request(occurred_at="2026-03-01T04:06:00Z"))
    assert raised.value.fields == [{"field": "occurred_at", "message": "Must not be in the future."}]


def test_fingerprint_ignores_the_offset_but_not_the_content():
    assert fingerprint(request()) == fingerprint(request(occurred_at="2026-03-01T03:58:00Z"))
    assert fingerprint(request()) != fingerprint(request(store_id="store-2"))
