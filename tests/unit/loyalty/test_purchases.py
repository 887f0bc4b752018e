"""Recording a purchase (pure logic, with an in-memory repository)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.loyalty.logic.errors import NonceReused, PurchaseConflict, SourceMismatch
from services.loyalty.logic.purchase_points import PurchaseLedgerPlan
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
        self.erased: set[str] = set()
        self.erase_before_insert: str | None = None  # a tombstone written between read and write

    def insert(
        self,
        purchase: Purchase,
        outbox: OutboxEntry,
        nonce: NonceClaim,
        *,
        unless_erased: str | None = None,
        ledger: PurchaseLedgerPlan | None = None,
    ) -> InsertOutcome:
        if self.erase_before_insert:
            self.erased.add(self.erase_before_insert)
            self.erase_before_insert = None
        if (nonce.source, nonce.nonce) in self.nonces:
            return InsertOutcome.NONCE_USED
        key = (purchase.source_system, purchase.external_id)
        if key in self.purchases:
            return InsertOutcome.PURCHASE_EXISTS
        if unless_erased is not None and unless_erased in self.erased:
            return InsertOutcome.MEMBER_ERASED
        self.purchases[key] = purchase
        self.nonces.add((nonce.source, nonce.nonce))
        self.outbox.append(outbox)
        return InsertOutcome.CREATED

    def get(self, source_system: str, external_id: str) -> Purchase | None:
        return self.purchases.get((source_system, external_id))

    def is_erased(self, alias: str) -> bool:
        return alias in self.erased

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


def alias_of(member_id: str) -> str:
    return "anon_" + member_id.lower()


def record(
    repo: MemoryRepo,
    req: PurchaseRequest,
    nonce: str = "n" * 16,
    source: str = "pos-main",
    pseudonymise: Any = alias_of,
) -> Any:
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
        pseudonymise=pseudonymise,
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


MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


def test_a_known_members_purchase_is_guarded_by_the_tombstone_and_keeps_the_id():
    repo = MemoryRepo()
    result = record(repo, request(member_id=MEMBER))
    assert result.purchase.member_id == MEMBER and result.purchase.member_status is None
    assert repo.outbox[0].event.member_id == MEMBER


def test_a_purchase_for_an_erased_member_is_recorded_under_the_pseudonym_without_a_member_event():
    repo = MemoryRepo()
    repo.erased.add(alias_of(MEMBER))
    result = record(repo, request(member_id=MEMBER))
    assert result.replayed is False
    assert result.purchase.member_id == alias_of(MEMBER)
    assert result.purchase.member_status == "erased"
    assert repo.outbox[0].event.member_id is None
    assert MEMBER not in repo.outbox[0].event.model_dump_json()

    again = record(repo, request(member_id=MEMBER), nonce="m" * 16)
    assert again.replayed is True and again.purchase.member_status == "erased"
    assert len(repo.outbox) == 1


def test_an_erasure_between_the_read_and_the_write_records_the_purchase_as_erased():
    repo = MemoryRepo()
    repo.erase_before_insert = alias_of(MEMBER)
    result = record(repo, request(member_id=MEMBER))
    assert result.purchase.member_status == "erased" and result.purchase.member_id == alias_of(MEMBER)
    assert [e.event.member_id for e in repo.outbox] == [None]


def test_without_a_pseudonymiser_or_member_no_erasure_check_is_made():
    repo = MemoryRepo()
    repo.erased.add(alias_of(MEMBER))
    assert record(repo, request(member_id=MEMBER), pseudonymise=None).purchase.member_id == MEMBER
    anonymous = record(MemoryRepo(), request())
    assert anonymous.purchase.member_id is None and anonymous.purchase.member_status is None
