"""The store directory and the amount/items rule on the purchase path (pure logic)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.loyalty.logic.errors import (
    AmountExceedsItems,
    NonceReused,
    PurchaseConflict,
    StoreInactive,
    StoreTenantMismatch,
    UnknownStore,
)
from services.loyalty.logic.purchases import RecordedPurchase, SignedBy, record_purchase
from services.loyalty.logic.receipts import submit_receipt
from services.loyalty.logic.stores import StoreCheck, StoreDirectory, check_amount_against_items, check_store
from services.loyalty.models.receipts import ReceiptClaim, ReceiptClaimIn, ReceiptSettings
from services.loyalty.models.stores import Store
from tests.unit.loyalty.test_purchases import NOW, MemoryRepo, alias_of, request

UNIQLO = Store(store_id="S-L2-03", tenant_id="T-UNIQLO", name="Uniqlo L2-03", floor="L2")
CLOSED = Store(store_id="S-L4-01", tenant_id="T-OLD", name="Closed shop", active=False)
DIRECTORY = StoreDirectory.of([UNIQLO, CLOSED])


def record(repo: MemoryRepo, req: Any, stores: StoreCheck | None, nonce: str = "n" * 16) -> RecordedPurchase:
    ids = iter(f"01J{n:023d}" for n in range(100))
    return record_purchase(
        req,
        SignedBy(source="pos-main", nonce=nonce),
        repo,
        now=NOW,
        new_id=lambda: next(ids),
        correlation_id="c-1",
        producer="tests",
        nonce_ttl=timedelta(minutes=11),
        pseudonymise=alias_of,
        stores=stores,
    )


class TestCheckStore:
    def test_an_empty_directory_checks_nothing(self) -> None:
        assert check_store(StoreCheck(StoreDirectory({})), "S-ANY", "T-ANY") is None

    def test_a_known_active_store_of_the_tenant_or_without_a_tenant_passes(self) -> None:
        assert check_store(StoreCheck(DIRECTORY), "S-L2-03", "T-UNIQLO") == UNIQLO
        assert check_store(StoreCheck(DIRECTORY), "S-L2-03", None) == UNIQLO

    @pytest.mark.parametrize(
        ("store_id", "tenant_id", "error", "field"),
        [
            ("S-NOPE", None, UnknownStore, "store_id"),
            ("S-L4-01", None, StoreInactive, "store_id"),
            ("S-L2-03", "T-OTHER", StoreTenantMismatch, "tenant_id"),
        ],
    )
    def test_refusals_are_422_with_a_code_and_the_field(
        self, store_id: str, tenant_id: str | None, error: type[Exception], field: str
    ) -> None:
        with pytest.raises(error) as caught:
            check_store(StoreCheck(DIRECTORY), store_id, tenant_id)
        assert caught.value.status == 422  # type: ignore[attr-defined]
        assert caught.value.fields[0]["field"] == field  # type: ignore[attr-defined]

    def test_an_unknown_store_is_looked_up_again_once_before_refusing(self) -> None:
        added = Store(store_id="S-NEW", tenant_id="T-NEW", name="Opened a minute ago")
        reloads: list[int] = []

        def reload() -> StoreDirectory:
            reloads.append(1)
            return StoreDirectory.of([UNIQLO, added])

        assert check_store(StoreCheck(DIRECTORY, reload), "S-NEW", None) == added
        assert len(reloads) == 1
        check_store(StoreCheck(DIRECTORY, reload), "S-L2-03", None)  # known: no reload
        assert len(reloads) == 1
        with pytest.raises(UnknownStore):
            check_store(StoreCheck(DIRECTORY, reload), "S-NOPE", None)
        assert len(reloads) == 2

    def test_an_empty_directory_is_not_reloaded(self) -> None:
        def reload() -> StoreDirectory:
            raise AssertionError("no reload for an unenforced directory")

        assert check_store(StoreCheck(StoreDirectory({}), reload), "S-ANY", None) is None


class TestAmountAgainstItems:
    def test_equal_or_discounted_lines_pass(self) -> None:
        check_amount_against_items(6500, [3600, 2900])
        check_amount_against_items(3100, [3600])  # 5 yuan off the receipt
        check_amount_against_items(1, [100_000])  # a coupon paid nearly all of it

    def test_more_paid_than_the_lines_add_up_to_is_refused(self) -> None:
        with pytest.raises(AmountExceedsItems) as caught:
            check_amount_against_items(100_000, [3600])
        assert caught.value.code == "amount_exceeds_items"
        assert "3600" in caught.value.fields[0]["message"]
        with pytest.raises(AmountExceedsItems):
            check_amount_against_items(3601, [3600])  # no tolerance: every cent is on a line


class TestRecordPurchaseWithTheDirectory:
    def test_unknown_store_writes_nothing_and_keeps_the_nonce(self) -> None:
        repo = MemoryRepo()
        with pytest.raises(UnknownStore):
            record(repo, request(store_id="S-NOPE"), StoreCheck(DIRECTORY))
        assert repo.purchases == {} and repo.outbox == [] and repo.nonces == set()

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"store_id": "S-L4-01"}, StoreInactive),
            ({"store_id": "S-L2-03", "tenant_id": "T-OTHER"}, StoreTenantMismatch),
            ({"store_id": "S-L2-03", "amount_cents": 100_000}, AmountExceedsItems),
        ],
    )
    def test_other_refusals_write_nothing(self, overrides: dict[str, Any], error: type[Exception]) -> None:
        repo = MemoryRepo()
        with pytest.raises(error):
            record(repo, request(**overrides), StoreCheck(DIRECTORY))
        assert repo.purchases == {} and repo.outbox == [] and repo.nonces == set()

    def test_amount_rule_applies_without_a_directory_too(self) -> None:
        repo = MemoryRepo()
        with pytest.raises(AmountExceedsItems):
            record(repo, request(amount_cents=1001), None)
        assert repo.purchases == {}

    def test_the_store_tenant_is_recorded_when_the_request_has_none(self) -> None:
        repo = MemoryRepo()
        done = record(repo, request(store_id="S-L2-03"), StoreCheck(DIRECTORY))
        assert done.purchase.tenant_id == "T-UNIQLO"
        assert repo.outbox[0].event.tenant_id == "T-UNIQLO"

    def test_an_empty_directory_records_any_store_as_sent(self) -> None:
        repo = MemoryRepo()
        done = record(repo, request(store_id="S-ANY"), StoreCheck(StoreDirectory({})))
        assert (done.replayed, done.purchase.store_id, done.purchase.tenant_id) == (False, "S-ANY", None)

    def test_a_retry_after_the_store_closed_is_still_a_replay(self) -> None:
        repo = MemoryRepo()
        first = record(repo, request(store_id="S-L2-03"), StoreCheck(DIRECTORY))
        closed = StoreDirectory.of([UNIQLO.model_copy(update={"active": False})])
        again = record(repo, request(store_id="S-L2-03"), StoreCheck(closed), nonce="m" * 16)
        assert again.replayed and again.purchase.purchase_id == first.purchase.purchase_id
        assert ("pos-main", "m" * 16) in repo.nonces  # a repeat spends its nonce
        with pytest.raises(NonceReused):
            record(repo, request(store_id="S-L2-03"), StoreCheck(closed), nonce="m" * 16)
        with pytest.raises(PurchaseConflict):
            record(repo, request(store_id="S-L2-03", amount_cents=999), StoreCheck(closed), nonce="o" * 16)


class MemoryReceipts:
    def __init__(self, settings: ReceiptSettings) -> None:
        self._settings = settings
        self.claims: list[ReceiptClaim] = []

    def settings(self) -> ReceiptSettings:
        return self._settings

    def submit(self, claim: ReceiptClaim, *, points: int, correlation_id: str) -> ReceiptClaim | None:
        self.claims.append(claim)
        return claim


def _receipt(store_id: str) -> ReceiptClaimIn:
    return ReceiptClaimIn(
        store_id=store_id,
        receipt_number="R-1",
        machine_number="M-1",
        purchased_at=NOW - timedelta(hours=2),
        amount_cents=5000,
        image_key="receipts/r-1.jpg",
    )


class TestReceiptsUseTheDirectory:
    def _submit(self, repo: MemoryReceipts, store_id: str, directory: StoreDirectory | None) -> ReceiptClaim:
        return submit_receipt(
            _receipt(store_id),
            "01J00000000000000000000001",
            repo,  # type: ignore[arg-type]  # only settings() and submit() are used
            now=NOW,
            new_id=lambda: "01J00000000000000000000099",
            points_for=lambda store_id, cents, at: cents // 100,
            correlation_id="c",
            stores=StoreCheck(directory) if directory is not None else None,
        )

    def test_an_active_store_of_the_directory_is_known_for_auto_approval(self) -> None:
        repo = MemoryReceipts(ReceiptSettings(auto_approve_below_cents=10_000))
        claim = self._submit(repo, "S-L2-03", DIRECTORY)
        assert claim.auto_approved and claim.points == 50

    def test_a_closed_store_goes_to_review_and_an_unknown_one_is_refused(self) -> None:
        repo = MemoryReceipts(ReceiptSettings(auto_approve_below_cents=10_000))
        assert self._submit(repo, "S-L4-01", DIRECTORY).status == "pending"
        with pytest.raises(UnknownStore):
            self._submit(repo, "S-NOPE", DIRECTORY)
        assert len(repo.claims) == 1

    def test_known_store_ids_still_work_with_or_without_a_directory(self) -> None:
        repo = MemoryReceipts(ReceiptSettings(auto_approve_below_cents=10_000, known_store_ids=["S-OLD"]))
        assert self._submit(repo, "S-OLD", StoreDirectory({})).auto_approved
        assert self._submit(repo, "S-OLD", None).auto_approved
