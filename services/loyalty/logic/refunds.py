"""Recording a refund once and taking back its purchase's points (pure).

A refund references a purchase of the same source. Its amount, with the purchase's earlier
refunds, may not exceed what was paid (422, nothing written). The points taken back are the
purchase's points in proportion to the amount refunded, counted on the running total so that
partial refunds add up exactly to the points earned: ``floor(P * refunded_after / amount) -
floor(P * refunded_before / amount)``. They come out of the lots the purchase created first
(pending or available), then the member's oldest lots; a shortfall (the points were spent) is a
recorded debt — a negative balance, never hidden. The refund, the purchase's new refunded total
(conditioned on the total read: concurrent partial refunds cannot both pass), the ledger change,
the nonce and ``PurchaseRefunded`` are one transaction. The tier is not lowered now: the month
buckets drop and the next review decides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import Enum
from typing import Protocol

from services.loyalty.logic import tiers as tier_logic
from services.loyalty.logic.errors import (
    NonceReused,
    PurchaseNotFound,
    RefundConflict,
    RefundExceedsPurchase,
    SourceMismatch,
)
from services.loyalty.logic.ledger import Balance, LedgerBusy, LedgerChange, Lot, Source, debit, new_balance
from services.loyalty.logic.purchases import ERASED, MAX_CLOCK_DRIFT, NonceClaim, SignedBy
from services.loyalty.models.entities import Purchase
from services.loyalty.models.refunds import Refund, RefundRequest
from shared import clock
from shared.errors import Unprocessable
from shared.events.contracts import PurchaseRefunded


class RefundOutcome(Enum):
    CREATED = "created"
    REFUND_EXISTS = "refund_exists"
    NONCE_USED = "nonce_used"
    RETRY = "retry"
    """The purchase's refunded total or the member's balance changed since read."""


class RefundRepository(Protocol):
    def get_purchase(self, source_system: str, external_id: str) -> Purchase | None: ...

    def get_refund(self, source_system: str, external_id: str) -> Refund | None: ...

    def claim_nonce(self, nonce: NonceClaim) -> bool: ...

    def insert(
        self,
        refund: Refund,
        purchase: Purchase,
        nonce: NonceClaim,
        event: PurchaseRefunded,
        change: LedgerChange | None,
        *,
        correlation_id: str,
        producer: str,
        at: datetime,
    ) -> RefundOutcome: ...


class RefundLedger(Protocol):
    def get_balance(self, ledger_id: str) -> Balance | None: ...

    def open_lots(self, ledger_id: str) -> list[Lot]: ...


@dataclass(frozen=True)
class RecordedRefund:
    refund: Refund
    replayed: bool


def fingerprint(request: RefundRequest) -> str:
    content = request.model_dump(mode="json")
    content["occurred_at"] = clock.to_utc_iso(request.occurred_at)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def clawback_points(purchase: Purchase, refund_cents: int) -> int:
    earned = purchase.points_earned or 0
    before = earned * purchase.refunded_cents // purchase.amount_cents
    after = earned * (purchase.refunded_cents + refund_cents) // purchase.amount_cents
    return after - before


def ledger_id_for(purchase: Purchase, pseudonymise: Callable[[str], str]) -> str | None:
    """An erased member's purchase already carries the pseudonym, which is the ledger id."""
    if purchase.member_id is None:
        return None
    return purchase.member_id if purchase.member_status == ERASED else pseudonymise(purchase.member_id)


def plan_clawback(
    purchase: Purchase,
    points: int,
    balance: Balance,
    lots: list[Lot],
    *,
    refund_id: str,
    movement_id: str,
    refund_cents: int,
    now: datetime,
    tz: tzinfo,
) -> LedgerChange:
    change = debit(
        balance,
        lots,
        points=points,
        kind="refund_clawback",
        movement_id=movement_id,
        at=now,
        reason="refund",
        source=Source("refund", refund_id),
        actor=f"integration:{purchase.source_system}",
        first=[purchase.purchase_id],
        allow_negative=True,
        purchase_id=purchase.purchase_id,
    )
    after = tier_logic.record_activity(change.after, points=-points, spend_cents=-refund_cents, at=now, tz=tz)
    return change.with_after(after)


def record_refund(  # noqa: PLR0912 - each branch is one documented outcome
    request: RefundRequest,
    signed_by: SignedBy,
    repo: RefundRepository,
    ledger: RefundLedger,
    *,
    now: datetime,
    new_id: Callable[[], str],
    correlation_id: str,
    producer: str,
    nonce_expires_at: datetime,
    pseudonymise: Callable[[str], str],
    tz: tzinfo,
    attempts: int = 6,
) -> RecordedRefund:
    """Record ``request`` once and claw back points; a repeat returns the original (replayed)."""
    if request.source_system != signed_by.source:
        raise SourceMismatch()
    if request.occurred_at > now + MAX_CLOCK_DRIFT:
        raise Unprocessable(fields=[{"field": "occurred_at", "message": "Must not be in the future."}])
    nonce = NonceClaim(source=signed_by.source, nonce=signed_by.nonce, expires_at=nonce_expires_at)
    digest = fingerprint(request)
    refund_id = new_id()

    for _ in range(attempts):
        purchase = repo.get_purchase(request.source_system, request.purchase_external_id)
        if purchase is None:
            existing = repo.get_refund(request.source_system, request.external_id)
            if existing is None:
                raise PurchaseNotFound()
            return _replay(existing, digest, nonce, repo)
        if request.store_id != purchase.store_id:
            raise Unprocessable(fields=[{"field": "store_id", "message": "Not the purchase's store."}])
        left = purchase.amount_cents - purchase.refunded_cents
        if request.amount_cents > left:
            existing = repo.get_refund(request.source_system, request.external_id)
            if existing is not None:
                return _replay(existing, digest, nonce, repo)
            raise RefundExceedsPurchase(
                fields=[{"field": "amount_cents", "message": f"At most {left} cents are left to refund."}]
            )
        points = clawback_points(purchase, request.amount_cents)
        alias = ledger_id_for(purchase, pseudonymise)
        change: LedgerChange | None = None
        movement_id = new_id() if points and alias else None
        if points and alias and movement_id:
            balance = ledger.get_balance(alias) or new_balance(alias, None)
            change = plan_clawback(
                purchase,
                points,
                balance,
                ledger.open_lots(alias),
                refund_id=refund_id,
                movement_id=movement_id,
                refund_cents=request.amount_cents,
                now=now,
                tz=tz,
            )
        full = purchase.refunded_cents + request.amount_cents == purchase.amount_cents
        refund = Refund(
            refund_id=refund_id,
            external_id=request.external_id,
            source_system=request.source_system,
            purchase_id=purchase.purchase_id,
            purchase_external_id=request.purchase_external_id,
            store_id=request.store_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            full_refund=full,
            points_clawed_back=points if purchase.points_earned is not None else None,
            movement_id=movement_id,
            occurred_at=request.occurred_at,
            recorded_at=now,
            fingerprint=digest,
        )
        event = PurchaseRefunded(
            refund_id=refund_id,
            external_id=request.external_id,
            source_system=request.source_system,
            purchase_id=purchase.purchase_id,
            member_id=None if purchase.member_status == ERASED else purchase.member_id,
            store_id=purchase.store_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            full_refund=full,
            points_clawed_back=refund.points_clawed_back,
            occurred_at=request.occurred_at,
            recorded_at=now,
            # The clawback's movement and the balance after it, for balance projections.
            movement_id=change.movement.movement_id if change is not None else None,
            balance_after=change.movement.balance_after if change is not None else None,
            balance_version=change.version_after if change is not None else None,
        )
        outcome = repo.insert(
            refund, purchase, nonce, event, change, correlation_id=correlation_id, producer=producer, at=now
        )
        if outcome is RefundOutcome.CREATED:
            return RecordedRefund(refund=refund, replayed=False)
        if outcome is RefundOutcome.NONCE_USED:
            raise NonceReused()
        if outcome is RefundOutcome.REFUND_EXISTS:
            existing = repo.get_refund(request.source_system, request.external_id)
            if existing is None:  # pragma: no cover - refunds are never deleted
                raise RuntimeError("refund reported as existing but not found")
            return _replay(existing, digest, nonce, repo)
    raise LedgerBusy()


def _replay(existing: Refund, digest: str, nonce: NonceClaim, repo: RefundRepository) -> RecordedRefund:
    # A repeat is still a signed request: its nonce is spent either way.
    if not repo.claim_nonce(nonce):
        raise NonceReused()
    if existing.fingerprint != digest:
        raise RefundConflict()
    return RecordedRefund(refund=existing, replayed=True)
