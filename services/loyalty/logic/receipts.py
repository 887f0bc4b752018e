"""Receipt-photo claims (pure; the repository writes).

* **Duplicates**: a receipt is identified by store + machine number + receipt number; the claim
  writes that key with ``attribute_not_exists`` in its own transaction, so a receipt is claimed
  once, whoever claims it and however fast (409 ``receipt_duplicate``). The key outlives a
  rejection: a rejected receipt is not claimable again by another member.
* **Auto-approval**: a claim below ``auto_approve_below_cents`` for a known store — active in the
  mall's store directory (``/v1/admin/stores``), or listed in the settings' ``known_store_ids``
  (kept for malls that have not loaded their directory) — earns its points at once (same
  transaction); any other claim waits in the review queue for staff (``approve`` / ``reject``
  with a reason, both audited). Once the directory holds stores, a claim naming a store it lacks
  is refused (422 ``unknown_store``); a closed store's receipt goes to review.
* **Points**: what the same purchase would earn at the till — L1's earning rules (``calculate``)
  with the member's tier multiplier — credited through the ledger (reason ``receipt_claim``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.loyalty.logic.errors import UnknownStore
from services.loyalty.logic.stores import StoreCheck
from services.loyalty.logic.wallet_errors import ReceiptDuplicate, ReceiptNotFound, ReceiptNotPending
from services.loyalty.models.receipts import ReceiptClaim, ReceiptClaimIn, ReceiptSettings
from shared.errors import Unprocessable

MAX_CLOCK_DRIFT = timedelta(minutes=5)


@dataclass(frozen=True)
class Submitted:
    claim: ReceiptClaim


class ReceiptRepository(Protocol):
    def settings(self) -> ReceiptSettings: ...

    def put_settings(self, settings: ReceiptSettings, actor: str) -> None: ...

    def submit(self, claim: ReceiptClaim, *, points: int, correlation_id: str) -> ReceiptClaim | None:
        """Write the claim (and, when ``claim.status`` is approved, credit ``points``); None when the
        receipt was claimed before."""

    def get(self, receipt_id: str) -> ReceiptClaim | None: ...

    def pending(self, limit: int) -> list[ReceiptClaim]: ...

    def of_member(self, member_id: str) -> list[ReceiptClaim]: ...

    def approve(
        self,
        claim: ReceiptClaim,
        *,
        points: int,
        amount_cents: int,
        actor: str,
        now: datetime,
        correlation_id: str,
    ) -> ReceiptClaim | None: ...

    def reject(
        self, claim: ReceiptClaim, *, reason: str, actor: str, now: datetime
    ) -> ReceiptClaim | None: ...


def submit_receipt(
    request: ReceiptClaimIn,
    member_id: str,
    repo: ReceiptRepository,
    *,
    now: datetime,
    new_id: Callable[[], str],
    points_for: Callable[[str, int, datetime], int],
    correlation_id: str,
    stores: StoreCheck | None = None,
) -> ReceiptClaim:
    """``points_for(store_id, amount_cents, purchased_at)``: what the purchase earns (earning rules);
    ``stores``: the mall's store directory (an empty one checks nothing)."""
    directory, store = stores.resolve(request.store_id) if stores is not None else (None, None)
    if directory is not None and directory.enforced and store is None:
        raise UnknownStore(
            fields=[{"field": "store_id", "message": f"{request.store_id} is not a store of this mall."}]
        )
    settings = repo.settings()
    if request.purchased_at > now + MAX_CLOCK_DRIFT:
        raise Unprocessable(fields=[{"field": "purchased_at", "message": "Must not be in the future."}])
    if request.purchased_at < now - timedelta(days=settings.max_age_days):
        raise Unprocessable(
            "receipt_too_old",
            "The receipt is too old to claim.",
            [{"field": "purchased_at", "message": f"At most {settings.max_age_days} days old."}],
        )
    known = request.store_id in settings.known_store_ids or (store is not None and store.active)
    auto = known and request.amount_cents < settings.auto_approve_below_cents
    points = points_for(request.store_id, request.amount_cents, request.purchased_at) if auto else 0
    claim = ReceiptClaim(
        receipt_id=new_id(),
        member_id=member_id,
        store_id=request.store_id,
        receipt_number=request.receipt_number,
        machine_number=request.machine_number,
        purchased_at=request.purchased_at,
        amount_cents=request.amount_cents,
        image_key=request.image_key,
        submitted_at=now,
        status="approved" if auto else "pending",
        auto_approved=auto,
        points=points if auto else None,
        decided_by="system" if auto else None,
        decided_at=now if auto else None,
    )
    stored = repo.submit(claim, points=points, correlation_id=correlation_id)
    if stored is None:
        raise ReceiptDuplicate()
    return stored


def _pending(receipt_id: str, repo: ReceiptRepository) -> ReceiptClaim:
    claim = repo.get(receipt_id)
    if claim is None:
        raise ReceiptNotFound()
    if claim.status != "pending":
        raise ReceiptNotPending()
    return claim


def approve_receipt(
    receipt_id: str,
    repo: ReceiptRepository,
    *,
    amount_cents: int | None,
    actor: str,
    now: datetime,
    points_for: Callable[[str, int, datetime], int],
    correlation_id: str,
) -> ReceiptClaim:
    claim = _pending(receipt_id, repo)
    amount = amount_cents or claim.amount_cents
    points = points_for(claim.store_id, amount, claim.purchased_at)
    done = repo.approve(
        claim, points=points, amount_cents=amount, actor=actor, now=now, correlation_id=correlation_id
    )
    if done is None:
        raise ReceiptNotPending()
    return done


def reject_receipt(
    receipt_id: str, repo: ReceiptRepository, *, reason: str, actor: str, now: datetime
) -> ReceiptClaim:
    claim = _pending(receipt_id, repo)
    done = repo.reject(claim, reason=reason, actor=actor, now=now)
    if done is None:
        raise ReceiptNotPending()
    return done
