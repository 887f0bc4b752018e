"""The wallet's way to move points: through L1's ledger API only (``logic/ledger.py``,
``dal/ledger.py``), never by writing ledger items.

:class:`LedgerPoints` credits (campaign awards, approved receipts, positive adjustments) and debits
(reward redemptions, parking offsets, negative adjustments) one member's points with
``post_movement``: the wallet's own items (a reward's stock, a redemption record, an adjustment's
status) go in the same transaction as ``extra``, so points never move without their reason and a
reason is never recorded without its points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from services.loyalty.dal.keys import tombstone_key
from services.loyalty.dal.ledger import DynamoLedgerRepository
from services.loyalty.logic import ledger as L
from services.loyalty.logic.earning import ExpiryPolicy, expiry_for
from services.loyalty.logic.offers import Award
from services.loyalty.models.offers import AwardPointsAction
from shared import clock
from shared.dynamo import to_item
from shared.events.contracts import EventData, PointsEarned
from shared.ids import new_ulid

EarnReason = Literal["purchase", "receipt_claim", "parking", "campaign", "birthday", "adjustment"]


@dataclass(frozen=True)
class Moved:
    """A posted (or replayed) movement: its id, the available balance after it, and whether this
    call repeated an earlier one (same idempotency key: nothing was written)."""

    movement_id: str
    balance_after: int
    replayed: bool


class LedgerPoints:
    def __init__(
        self,
        table_name: str,
        pseudonymise: Callable[[str], str],
        tz: tzinfo,
        *,
        expiry_policy: ExpiryPolicy = "end_of_following_year",
        expiry_days: int = 365,
    ) -> None:
        self.repo = DynamoLedgerRepository(table_name)
        self.pseudonymise = pseudonymise
        self.tz = tz
        self.expiry_policy: ExpiryPolicy = expiry_policy
        self.expiry_days = expiry_days

    def lot_expiry(self, at: datetime) -> datetime:
        """When points credited ``at`` expire: the ledger's policy, as for purchases."""
        return expiry_for(at, self.expiry_policy, self.expiry_days, self.tz)

    def ledger_id(self, member_id: str) -> str:
        return self.pseudonymise(member_id)

    def balance(self, member_id: str) -> L.Balance | None:
        return self.repo.get_balance(self.ledger_id(member_id))

    def _moved(self, outcome: L.Outcome) -> Moved:
        if outcome.change is not None:
            return Moved(outcome.change.movement.movement_id, outcome.change.movement.balance_after, False)
        previous = outcome.previous or {}
        return Moved(str(previous.get("movement_id", "")), int(previous.get("balance_after", 0)), True)

    def credit(
        self,
        member_id: str,
        points: int,
        *,
        kind: Literal["earn", "adjustment"],
        earn_reason: EarnReason,
        reason: str,
        source: L.Source,
        actor: str,
        idempotency_key: str | None,
        correlation_id: str,
        producer: str,
        now: datetime,
        extra: Callable[[L.LedgerChange], Sequence[Mapping[str, Any]]] | None = None,
        events: Callable[[L.LedgerChange], Sequence[EventData]] | None = None,
    ) -> Moved:
        """A new available lot of ``points`` (pays any debt first), with ``PointsEarned``."""
        ledger_id = self.ledger_id(member_id)
        expires_at = self.lot_expiry(now)

        def compute(balance: L.Balance) -> L.LedgerChange:
            return L.earn(
                balance,
                points=points,
                lot_id=new_ulid(),
                movement_id=new_ulid(),
                at=now,
                expires_at=expires_at,
                kind=kind,
                reason=reason,
                source=source,
                actor=actor,
            )

        def out(change: L.LedgerChange) -> L.EventsOut:
            earned = PointsEarned(
                member_id=member_id,
                movement_id=change.movement.movement_id,
                points=points,
                reason=earn_reason,
                purchase_id=None,
                status="available",
                available_at=None,
                expires_at=expires_at,
                balance_after=change.movement.balance_after,
                earned_at=now,
                balance_version=change.version_after,
            )
            more = list(events(change)) if events else []
            return L.EventsOut(
                events=[earned, *more], correlation_id=correlation_id, producer=producer, at=now
            )

        outcome = L.post_movement(
            self.repo, ledger_id, member_id, compute, extra=extra, events=out, idempotency_key=idempotency_key
        )
        return self._moved(outcome)

    def debit(
        self,
        member_id: str,
        points: int,
        *,
        kind: Literal["redeem", "adjustment"],
        reason: str,
        source: L.Source,
        actor: str,
        idempotency_key: str | None,
        correlation_id: str,
        producer: str,
        now: datetime,
        allow_negative: bool = False,
        extra: Callable[[L.LedgerChange], Sequence[Mapping[str, Any]]] | None = None,
        events: Callable[[L.LedgerChange], Sequence[EventData]] | None = None,
    ) -> Moved:
        """Take ``points``, oldest lot first; :class:`~services.loyalty.logic.ledger.InsufficientPoints`
        (409) unless ``allow_negative`` (a staff correction records a debt, never hides it)."""
        ledger_id = self.ledger_id(member_id)

        def compute(balance: L.Balance) -> L.LedgerChange:
            return L.debit(
                balance,
                self.repo.open_lots(ledger_id),
                points=points,
                kind=kind,
                movement_id=new_ulid(),
                at=now,
                reason=reason,
                source=source,
                actor=actor,
                allow_negative=allow_negative,
            )

        return self._post(
            ledger_id,
            member_id,
            compute,
            extra=extra,
            events=events,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            producer=producer,
            now=now,
        )

    def _post(
        self,
        ledger_id: str,
        member_id: str,
        compute: Callable[[L.Balance], L.LedgerChange],
        *,
        extra: Callable[[L.LedgerChange], Sequence[Mapping[str, Any]]] | None,
        events: Callable[[L.LedgerChange], Sequence[EventData]] | None,
        idempotency_key: str | None,
        correlation_id: str,
        producer: str,
        now: datetime,
    ) -> Moved:
        """Post a debit-like movement; its events (if any) go out in the same transaction."""

        def out(change: L.LedgerChange) -> L.EventsOut | None:
            more = list(events(change)) if events else []
            return (
                L.EventsOut(events=more, correlation_id=correlation_id, producer=producer, at=now)
                if more
                else None
            )

        outcome = L.post_movement(
            self.repo, ledger_id, member_id, compute, extra=extra, events=out, idempotency_key=idempotency_key
        )
        return self._moved(outcome)

    def movement(self, member_id: str, movement_id: str) -> L.Movement | None:
        """The member's movement (another member's is not in this member's ledger: None)."""
        return self.repo.get_movement(self.ledger_id(member_id), movement_id)

    def reversed_by(self, member_id: str, movement_id: str) -> str | None:
        return self.repo.reversed_by(self.ledger_id(member_id), movement_id)

    def reverse(
        self,
        member_id: str,
        movement_id: str,
        *,
        reason: str,
        source: L.Source,
        actor: str,
        idempotency_key: str | None,
        correlation_id: str,
        producer: str,
        now: datetime,
        extra: Callable[[L.LedgerChange], Sequence[Mapping[str, Any]]] | None = None,
        events: Callable[[L.LedgerChange], Sequence[EventData]] | None = None,
    ) -> Moved:
        """Reverse one of the member's movements (``ledger.reverse``): a credit is taken back from
        its lots (into debt if spent), a debit given back to its lots or a new lot expiring as
        points credited now would, paying debt first. Raises 404 ``movement_not_found``, the
        rules of logic/reversals.py, and :class:`~services.loyalty.logic.ledger.AlreadyReversed`
        (409) when it was reversed before — the ledger writes the movement's marker in the same
        transaction, so of two racing reversals one is written."""
        from services.loyalty.logic.reversals import check_reversible  # noqa: PLC0415 - reversals only
        from services.loyalty.logic.wallet_errors import MovementNotFound  # noqa: PLC0415

        ledger_id = self.ledger_id(member_id)
        original = self.repo.get_movement(ledger_id, movement_id)
        if original is None:
            raise MovementNotFound()
        check_reversible(original)
        fallback = self.lot_expiry(now)
        named = [c.lot_id for c in original.lots]

        def compute(balance: L.Balance) -> L.LedgerChange:
            # The open lots (with the debt lot) and the ones the original names: a lot it emptied
            # is no longer open, one gone is given back in a new lot (ledger.reverse).
            lots = {lot.lot_id: lot for lot in self.repo.open_lots(ledger_id)}
            lots.update(self.repo.get_lots(ledger_id, [i for i in named if i not in lots]))
            return L.reverse(
                balance,
                lots.values(),
                original,
                movement_id=new_ulid(),
                at=now,
                reason=reason,
                source=source,
                actor=actor,
                fallback_expires_at=fallback,
            )

        return self._post(
            ledger_id,
            member_id,
            compute,
            extra=extra,
            events=events,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            producer=producer,
            now=now,
        )

    def award(self, action: AwardPointsAction, *, correlation_id: str) -> Award | None:
        """Contract A's ``award_points``: a campaign credit, once per request id; None (nothing
        written) when the member is erased — the erasure tombstone is checked in the same
        transaction, so an award cannot slip in after the erasure."""
        alias = self.ledger_id(action.member_id)
        guard = {
            "ConditionCheck": {
                "TableName": self.repo.table_name,
                "Key": to_item(tombstone_key(alias)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            moved = self.credit(
                action.member_id,
                action.points,
                kind="earn",
                earn_reason="campaign",
                reason=action.reason,
                source=L.Source("campaign", action.campaign_id),
                actor="system",
                idempotency_key=f"award#{action.request_id}",
                correlation_id=correlation_id,
                producer="loyalty.offers",
                now=clock.now(),
                extra=lambda _change: [guard],
            )
        except L.ExtraItemsFailed:
            return None
        return Award(
            movement_id=moved.movement_id, balance_after=moved.balance_after, replayed=moved.replayed
        )
