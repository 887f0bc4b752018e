"""Recording a purchase exactly once per (source_system, external_id).

The purchase, its PurchaseRecorded event (outbox) and the request's nonce are written in one
transaction by the repository. A repeat of the same purchase (same content) is an idempotent
replay and returns the original; the same external id with different content is a conflict.

A purchase for an **erased** member (a POS that cached the member id) is still recorded — it is an
accounting fact — but as such: ``member_id`` is loyalty's pseudonym of the id, ``member_status`` is
``erased`` and its ``PurchaseRecorded`` carries no member id, so no consumer links it to anyone.
Erased means loyalty's erasure tombstone (keyed by the pseudonym, written by the MemberErased
consumer) exists: read before the insert, and checked absent inside the insert's transaction, so a
tombstone written in between turns the insert into ``MEMBER_ERASED`` and the purchase is recorded
again as erased. Loyalty does not know which member ids exist: a purchase for an id members never
issued is recorded under that id (members' statistics consumer decides what it is worth).

Before anything is written the purchase is checked against the mall's **store directory** and
its lines (logic/stores.py: ``unknown_store``, ``store_inactive``, ``store_tenant_mismatch``,
``amount_exceeds_items``, all 422, nothing written, the nonce not spent). A refused request that
repeats a purchase recorded earlier (the store closed since, or the purchase predates the rule)
is still answered as a repeat: the refusal path, and only it, reads the stored purchase.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from services.loyalty.logic.errors import NonceReused, PurchaseConflict, SourceMismatch
from services.loyalty.logic.ledger import Balance, LedgerBusy, new_balance
from services.loyalty.logic.purchase_points import LoyaltyConfig, PurchaseLedgerPlan, plan_purchase_points
from services.loyalty.logic.stores import StoreCheck, check_amount_against_items, check_store
from services.loyalty.models.api import PurchaseRequest
from services.loyalty.models.entities import Purchase, PurchaseLine
from shared import clock
from shared.errors import Unprocessable
from shared.events.contracts import PurchaseItem, PurchaseRecorded

MAX_CLOCK_DRIFT = timedelta(minutes=5)
"""How far ``occurred_at`` may lie ahead of our clock (till clocks drift)."""


@dataclass(frozen=True)
class NonceClaim:
    """A signed request's nonce, to be stored until it can no longer pass the timestamp check."""

    source: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class OutboxEntry:
    """The event to publish with the state change, and what its metadata needs."""

    event: PurchaseRecorded
    correlation_id: str
    producer: str
    at: datetime


class InsertOutcome(Enum):
    CREATED = "created"
    PURCHASE_EXISTS = "purchase_exists"
    NONCE_USED = "nonce_used"
    MEMBER_ERASED = "member_erased"
    LEDGER_CONFLICT = "ledger_conflict"
    """The member's balance changed since it was read (or another transaction held it): retry."""


ERASED = "erased"


class PurchaseRepository(Protocol):
    def insert(
        self,
        purchase: Purchase,
        outbox: OutboxEntry,
        nonce: NonceClaim,
        *,
        unless_erased: str | None = None,
        ledger: PurchaseLedgerPlan | None = None,
    ) -> InsertOutcome:
        """Write the purchase, its outbox item and the nonce in one transaction, or nothing;
        with ``unless_erased`` (a pseudonym) only while no erasure tombstone exists for it
        (else ``MEMBER_ERASED``); with ``ledger`` also the member's points (balance conditioned
        on the version read, else ``LEDGER_CONFLICT``)."""

    def is_erased(self, alias: str) -> bool:
        """Whether loyalty's erasure tombstone exists for the pseudonym ``alias``."""

    def get(self, source_system: str, external_id: str) -> Purchase | None: ...

    def claim_nonce(self, nonce: NonceClaim) -> bool:
        """Store the nonce; False when it was already there."""


@dataclass(frozen=True)
class SignedBy:
    """Who signed the request (from shared.auth.verify_signed_request)."""

    source: str
    nonce: str


class LedgerHead(Protocol):
    def get_balance(self, ledger_id: str) -> Balance | None: ...


@dataclass(frozen=True)
class PurchasePoints:
    """What earning points on the purchase path needs: the member's balance item (the only
    read) and the configuration (cached per container by the caller)."""

    ledger: LedgerHead
    config: LoyaltyConfig
    attempts: int = 6


@dataclass(frozen=True)
class RecordedPurchase:
    purchase: Purchase
    replayed: bool
    plan: PurchaseLedgerPlan | None = None


def fingerprint(request: PurchaseRequest) -> str:
    """A digest of the request's content (times normalised to UTC), to tell a replay from a conflict."""
    content = request.model_dump(mode="json")
    content["occurred_at"] = clock.to_utc_iso(request.occurred_at)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def to_event(purchase: Purchase) -> PurchaseRecorded:
    """The event; a purchase of an erased member is published without a member id."""
    return PurchaseRecorded(
        purchase_id=purchase.purchase_id,
        external_id=purchase.external_id,
        source_system=purchase.source_system,
        member_id=None if purchase.member_status == ERASED else purchase.member_id,
        store_id=purchase.store_id,
        tenant_id=purchase.tenant_id,
        amount_cents=purchase.amount_cents,
        currency=purchase.currency,
        channel=purchase.channel,
        items=[
            PurchaseItem(sku=i.sku, category=i.category, quantity=i.quantity, amount_cents=i.amount_cents)
            for i in purchase.items
        ],
        occurred_at=purchase.occurred_at,
    )


def as_erased(purchase: Purchase, alias: str) -> Purchase:
    """The purchase of an erased member: under the pseudonym, flagged (its fingerprint stays the
    request's, so a retry is still a replay)."""
    return purchase.model_copy(update={"member_id": alias, "member_status": ERASED})


def record_purchase(  # noqa: PLR0912 - each branch is one documented outcome
    request: PurchaseRequest,
    signed_by: SignedBy,
    repo: PurchaseRepository,
    *,
    now: datetime,
    new_id: Callable[[], str],
    correlation_id: str,
    producer: str,
    nonce_ttl: timedelta,
    pseudonymise: Callable[[str], str] | None = None,
    points: PurchasePoints | None = None,
    stores: StoreCheck | None = None,
) -> RecordedPurchase:
    """Record ``request`` once; replays return the original purchase with ``replayed=True``.

    ``pseudonymise`` (loyalty's keyed pseudonym of a member id) enables the erasure check (module
    doc); without it the member id is recorded as sent. With ``points`` (and ``pseudonymise``) a
    member's purchase also earns points in the same transaction (logic/purchase_points.py); the
    balance item, keyed by the pseudonym, then also answers "is the member erased?".

    With ``stores`` the store must be in the mall's directory (when it holds any store), active
    and run by the purchase's tenant; a purchase without a tenant is recorded under the store's.

    Raises :class:`SourceMismatch` (403), ``Unprocessable`` (422, occurred_at in the future; the
    store and amount rules of logic/stores.py), :class:`NonceReused` (401) and
    :class:`PurchaseConflict` (409).
    """
    if request.source_system != signed_by.source:
        raise SourceMismatch()
    if request.occurred_at > now + MAX_CLOCK_DRIFT:
        raise Unprocessable(fields=[{"field": "occurred_at", "message": "Must not be in the future."}])

    nonce = NonceClaim(source=signed_by.source, nonce=signed_by.nonce, expires_at=now + nonce_ttl)
    digest = fingerprint(request)
    try:
        check_amount_against_items(request.amount_cents, [i.amount_cents for i in request.items])
        store = check_store(stores, request.store_id, request.tenant_id) if stores is not None else None
    except Unprocessable:
        repeated = _repeat_of_recorded(request, digest, nonce, repo)
        if repeated is not None:
            return repeated
        raise
    purchase = Purchase(
        purchase_id=new_id(),
        external_id=request.external_id,
        source_system=request.source_system,
        store_id=request.store_id,
        tenant_id=request.tenant_id or (store.tenant_id if store is not None else None),
        member_id=request.member_id,
        amount_cents=request.amount_cents,
        currency=request.currency,
        channel=request.channel,
        items=tuple(
            PurchaseLine(sku=i.sku, category=i.category, quantity=i.quantity, amount_cents=i.amount_cents)
            for i in request.items
        ),
        occurred_at=request.occurred_at,
        recorded_at=now,
        fingerprint=digest,
    )
    alias = pseudonymise(request.member_id) if pseudonymise and request.member_id else None
    if points is not None and alias is not None and request.member_id is not None:
        outcome, purchase, plan = _insert_with_points(
            purchase,
            request.member_id,
            alias,
            points,
            repo,
            nonce,
            now=now,
            new_id=new_id,
            correlation_id=correlation_id,
            producer=producer,
        )
    else:
        plan = None
        if alias is not None and repo.is_erased(alias):
            purchase = as_erased(purchase, alias)
        guard = alias if alias is not None and purchase.member_status != ERASED else None
        outbox = OutboxEntry(
            event=to_event(purchase), correlation_id=correlation_id, producer=producer, at=now
        )
        outcome = repo.insert(purchase, outbox, nonce, unless_erased=guard)
        if outcome is InsertOutcome.MEMBER_ERASED and alias is not None:
            # The erasure landed between the read and the write: record the purchase as erased.
            purchase = as_erased(purchase, alias)
            outbox = OutboxEntry(
                event=to_event(purchase), correlation_id=correlation_id, producer=producer, at=now
            )
            outcome = repo.insert(purchase, outbox, nonce)
    if outcome is InsertOutcome.CREATED:
        return RecordedPurchase(purchase=purchase, replayed=False, plan=plan)
    if outcome is InsertOutcome.NONCE_USED:
        raise NonceReused()

    # The purchase exists. This request is still a signed request: its nonce is spent either way.
    if not repo.claim_nonce(nonce):
        raise NonceReused()
    original = repo.get(request.source_system, request.external_id)
    if original is None:  # pragma: no cover - purchases are never deleted
        raise RuntimeError("purchase reported as existing but not found")
    if original.fingerprint != purchase.fingerprint:
        raise PurchaseConflict()
    return RecordedPurchase(purchase=original, replayed=True)


def _repeat_of_recorded(
    request: PurchaseRequest, digest: str, nonce: NonceClaim, repo: PurchaseRepository
) -> RecordedPurchase | None:
    """On a refusal: the purchase this request repeats, if it was recorded (its nonce spent, as any
    repeat's); None when it was not (the refusal stands and nothing is written)."""
    original = repo.get(request.source_system, request.external_id)
    if original is None:
        return None
    if not repo.claim_nonce(nonce):
        raise NonceReused()
    if original.fingerprint != digest:
        raise PurchaseConflict()
    return RecordedPurchase(purchase=original, replayed=True)


def _insert_with_points(  # noqa: PLR0917 - internal helper, all keywords at the call
    purchase: Purchase,
    member_id: str,
    alias: str,
    points: PurchasePoints,
    repo: PurchaseRepository,
    nonce: NonceClaim,
    *,
    now: datetime,
    new_id: Callable[[], str],
    correlation_id: str,
    producer: str,
) -> tuple[InsertOutcome, Purchase, PurchaseLedgerPlan | None]:
    """Read the balance, plan the points, write everything at once; a concurrent change of the
    member's balance (another purchase, a redemption) means: read again and re-plan."""
    base = purchase
    for _ in range(points.attempts):
        balance = points.ledger.get_balance(alias) or new_balance(alias, member_id)
        if balance.erased_at is not None:
            erased = as_erased(base, alias)
            outbox = OutboxEntry(
                event=to_event(erased), correlation_id=correlation_id, producer=producer, at=now
            )
            return repo.insert(erased, outbox, nonce), erased, None
        if balance.member_id is None:
            balance = replace(balance, member_id=member_id)
        plan = plan_purchase_points(base, balance, points.config, movement_id=new_id(), now=now)
        purchase = base.model_copy(
            update={
                "points_earned": plan.calculation.points,
                "points_movement_id": plan.change.movement.movement_id if plan.change else None,
            }
        )
        outbox = OutboxEntry(
            event=to_event(purchase), correlation_id=correlation_id, producer=producer, at=now
        )
        outcome = repo.insert(purchase, outbox, nonce, unless_erased=alias, ledger=plan)
        if outcome is InsertOutcome.LEDGER_CONFLICT:
            continue
        if outcome is InsertOutcome.MEMBER_ERASED:
            # Erased before the balance knew (a tombstone from an earlier erasure): no points.
            erased = as_erased(base, alias)
            outbox = OutboxEntry(
                event=to_event(erased), correlation_id=correlation_id, producer=producer, at=now
            )
            return repo.insert(erased, outbox, nonce), erased, None
        return outcome, purchase, plan
    raise LedgerBusy()
