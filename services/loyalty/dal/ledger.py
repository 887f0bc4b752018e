"""The points ledger in LoyaltyTable (the only boto3 user for it).

Everything of one member's ledger shares the partition ``LEDGER#<ledger_id>``, where
``ledger_id`` is loyalty's keyed pseudonym of the member id (logic/privacy.py): the ledger is kept
under the pseudonym from the start, and the balance item alone holds the link ``member_id``
(dropped on erasure).

* balance — ``LEDGER#<ledger_id>`` / ``BALANCE``: totals, ``version`` (optimistic concurrency),
  tier, per-month statistics;
* lot — ``LEDGER#<ledger_id>`` / ``LOT#<lot_id>``: ``gsi2`` while something is due (pending →
  ``LOTREL#<date>#<shard>``, points left → ``LOTEXP#<date>#<shard>``);
* movement — ``LEDGER#<ledger_id>`` / ``MOV#<movement_id>``: immutable, ULIDs sort by time;
* request — ``LEDGER#<ledger_id>`` / ``REQ#<key>``: an idempotent posting's result (30 days);
* reversed — ``LEDGER#<ledger_id>`` / ``REVERSED#<movement_id>``: written (``attribute_not_exists``)
  in the transaction of the movement's reversal, so a movement is reversed at most once however
  many reversals race (kept, like the movements).

The **due calendar** (``LEDGERCAL`` / ``CAL``: string sets ``release_days``, ``expiry_days``) names
the UTC days that have lots to release or expire, so the daily job queries only those days' index
partitions instead of every day and shard (:class:`DueCalendar`). A day is added (``ADD``,
idempotent) when a change creates or releases a lot due on it — once per container per day, not
per purchase — and removed by the job once the day is over and processed.

``gsi2`` (KEYS_ONLY, overloaded) keys are sharded (``<shard>`` = 0..15 from the ledger id) so a
festival burst's lots of one day spread over 16 index partitions; ``gsi2sk`` = ``<due UTC
ISO>#<lot_id>``, ``<date>`` = the UTC date of the due time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from services.loyalty.dal.attrs import item_attrs, plain_item, put
from services.loyalty.dal.keys import BALANCE_SK, ledger_pk
from services.loyalty.dal.ledger_items import (
    INDEX_SHARDS,
    balance_from_item,
    balance_item,
    lot_due,
    lot_from_item,
    lot_item,
    movement_from_item,
    movement_item,
)
from services.loyalty.logic.ledger import (
    DEBT_LOT_ID,
    Balance,
    EventsOut,
    LedgerChange,
    Lot,
    Movement,
    PostResult,
)
from shared import clock
from shared.aws import client, target
from shared.dynamo import (
    IDEMPOTENCY_TTL,
    ConditionalCheckFailed,
    cancellation_reasons,
    from_item,
    put_op,
    query_all,
    to_item,
    transact_write,
)
from shared.outbox import outbox_item

NOT_EXISTS = "attribute_not_exists(pk)"


# --- posting -------------------------------------------------------------------------------------


class DynamoLedgerRepository:
    """The ledger on DynamoDB. Reads: :meth:`get_balance` (the only read on the purchase path),
    :meth:`open_lots`, :meth:`get_lots`, :meth:`movements`. Writes: :meth:`change_items` /
    :meth:`post` — one TransactWriteItems per change."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # reads

    def get_balance(self, ledger_id: str) -> Balance | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=item_attrs({"pk": ledger_pk(ledger_id), "sk": BALANCE_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return balance_from_item(plain_item(item)) if item else None

    def open_lots(self, ledger_id: str) -> list[Lot]:
        """Lots with points left and the debt lot (consistent Query of the member's partition,
        ``begins_with(sk, "LOT#")``, filter ``remaining <> 0``)."""
        request = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :lot)",
            "FilterExpression": "remaining <> :zero OR lot_id = :debt",
            "ExpressionAttributeValues": to_item(
                {":pk": ledger_pk(ledger_id), ":lot": "LOT#", ":zero": 0, ":debt": DEBT_LOT_ID}
            ),
            "ConsistentRead": True,
        }
        return [lot_from_item(item) for item in query_all(request)]

    def get_lots(self, ledger_id: str, lot_ids: Sequence[str]) -> dict[str, Lot]:
        """The named lots (consistent GetItem each; a change touches few lots)."""
        ddb = client("dynamodb")
        found: dict[str, Lot] = {}
        for lot_id in dict.fromkeys(lot_ids):
            response = ddb.get_item(
                TableName=self.table_name,
                Key=to_item({"pk": ledger_pk(ledger_id), "sk": f"LOT#{lot_id}"}),
                ConsistentRead=True,
            )
            if "Item" in response:
                found[lot_id] = lot_from_item(from_item(response["Item"]))
        return found

    def get_movement(self, ledger_id: str, movement_id: str) -> Movement | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": ledger_pk(ledger_id), "sk": f"MOV#{movement_id}"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return movement_from_item(from_item(item)) if item else None

    def movements(
        self, ledger_id: str, *, limit: int = 20, after: str | None = None
    ) -> tuple[list[Movement], str | None]:
        """Newest first; ``after`` is the last movement id of the previous page (the cursor)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :mov)",
            "ExpressionAttributeValues": to_item({":pk": ledger_pk(ledger_id), ":mov": "MOV#"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = to_item({"pk": ledger_pk(ledger_id), "sk": f"MOV#{after}"})
        page = client("dynamodb").query(**kwargs)
        items = [movement_from_item(from_item(raw)) for raw in page.get("Items", [])]
        cursor = items[-1].movement_id if "LastEvaluatedKey" in page and items else None
        return items, cursor

    def reversed_by(self, ledger_id: str, movement_id: str) -> str | None:
        """The id of the reversal of ``movement_id``, None when it was not reversed (consistent
        GetItem of its marker)."""
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item(reversed_key(ledger_id, movement_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return str(from_item(item)["reversal_id"]) if item else None

    def get_request(self, ledger_id: str, key: str) -> dict[str, Any] | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": ledger_pk(ledger_id), "sk": f"REQ#{key}"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_item(item) if item else None

    # writes

    def balance_op(self, before: Balance, after: Balance) -> dict[str, Any]:
        """Put the balance with ``version`` + 1, conditioned on the version read."""
        item = balance_item(after, version=before.version + 1)
        if before.version == 0:
            return put(self.table_name, item, condition=NOT_EXISTS)
        return put(
            self.table_name,
            item,
            condition="version = :v",
            values={":v": before.version},
        )

    def change_items(
        self,
        change: LedgerChange,
        *,
        idempotency_key: str | None = None,
        events: EventsOut | None = None,
    ) -> list[dict[str, Any]]:
        """The TransactWriteItems elements of ``change``: balance (conditional on its version),
        lots (new: must not exist; existing: must still hold what was read), the movement (must
        not exist), the idempotency record, for a reversal the marker of the reversed movement
        (must not exist: reversed once) and outbox items. Add them to your own transaction, or
        use :meth:`post`."""
        ledger_id = change.before.ledger_id
        DueCalendar(self.table_name).register_lots([w.lot for w in change.lots])
        ops = [self.balance_op(change.before, change.after)]
        for write in change.lots:
            item = lot_item(ledger_id, write.lot)
            if write.lot.is_debt:
                # Guarded by the balance version (which mirrors the debt); it may exist at 0.
                ops.append(put(self.table_name, item))
            elif write.expected is None:
                ops.append(put(self.table_name, item, condition=NOT_EXISTS))
            else:
                ops.append(
                    put(
                        self.table_name,
                        item,
                        condition="remaining = :r AND #s = :s",
                        names={"#s": "status"},
                        values={":r": write.expected.remaining, ":s": write.expected.status},
                    )
                )
        ops.append(put(self.table_name, movement_item(change.movement), condition=NOT_EXISTS))
        if idempotency_key is not None:
            ops.append(
                put(
                    self.table_name,
                    {
                        "pk": ledger_pk(ledger_id),
                        "sk": f"REQ#{idempotency_key}",
                        "entity": "ledger_request",
                        "movement_id": change.movement.movement_id,
                        "balance_after": change.movement.balance_after,
                        "points": change.movement.points,
                        "ttl": clock.epoch_seconds(change.movement.at + IDEMPOTENCY_TTL),
                    },
                    condition=NOT_EXISTS,
                )
            )
        reverses = change.movement.reverses
        if change.movement.kind == "reversal" and reverses is not None:
            ops.append(
                put(
                    self.table_name,
                    {
                        **reversed_key(ledger_id, reverses),
                        "entity": "ledger_reversed",
                        "movement_id": reverses,
                        "reversal_id": change.movement.movement_id,
                        "at": clock.to_utc_iso(change.movement.at),
                    },
                    condition=NOT_EXISTS,
                )
            )
        if events is not None:
            ops += self.change_items_events(events)
        return ops

    def change_items_events(self, events: EventsOut) -> list[dict[str, Any]]:
        """Outbox Puts for ``events`` (published from the table's stream)."""
        return [
            put(
                self.table_name,
                outbox_item(
                    event, correlation_id=events.correlation_id, producer=events.producer, now=events.at
                ),
                condition=NOT_EXISTS,
            )
            for event in events.events
        ]

    def post(
        self,
        change: LedgerChange,
        *,
        extra: Sequence[Mapping[str, Any]] = (),
        idempotency_key: str | None = None,
        events: EventsOut | None = None,
    ) -> PostResult:
        """Write ``extra`` (the caller's own TransactWriteItems elements: a reward's stock, a
        coupon, a purchase…) and the change in one transaction."""
        own = self.change_items(change, idempotency_key=idempotency_key, events=events)
        items = [*extra, *own]
        try:
            transact_write(items)
        except ConditionalCheckFailed as failed:
            extra_failed = tuple(i for i in failed.failed_indexes if i < len(extra))
            if extra_failed:
                return PostResult("extra_failed", extra_failed_indexes=extra_failed)
            request_index = len(extra) + 1 + len(change.lots) + 1
            if idempotency_key is not None and request_index in failed.failed_indexes:
                return PostResult(
                    "replayed", previous=self.get_request(change.before.ledger_id, idempotency_key)
                )
            marker_index = request_index + (1 if idempotency_key is not None else 0)
            if change.movement.kind == "reversal" and marker_index in failed.failed_indexes:
                return PostResult("already_reversed")
            return PostResult("conflict")
        except Exception as exc:
            # Another transaction held one of the items (TransactionConflict): same as a
            # version conflict — re-read and retry.
            if "TransactionConflict" in cancellation_reasons(exc):
                return PostResult("conflict")
            raise
        return PostResult("posted")

    def post_balance(
        self, before: Balance, after: Balance, events: EventsOut, *, audit: Mapping[str, Any] | None = None
    ) -> bool:
        """A balance-only change (a tier review, a manual floor) with its events and, for a staff
        action, its audit item; False on a version conflict."""
        ops = [self.balance_op(before, after), *self.change_items_events(events)]
        if audit is not None:
            ops.append(put_op(self.table_name, audit, condition=NOT_EXISTS))
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return False
        except Exception as exc:
            if "TransactionConflict" in cancellation_reasons(exc):
                return False
            raise
        return True

    def mark_noticed(self, ledger_id: str, lot: Lot, events: EventsOut) -> bool:
        """``expiring_noticed`` on the lot, once, with the PointsExpiring outbox item."""
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item({"pk": ledger_pk(ledger_id), "sk": f"LOT#{lot.lot_id}"}),
                "UpdateExpression": "SET expiring_noticed = :t",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(expiring_noticed)",
                "ExpressionAttributeValues": to_item({":t": True}),
            }
        }
        try:
            transact_write([update, *self.change_items_events(events)])
        except ConditionalCheckFailed:
            return False
        return True

    def mark_erased(self, ledger_id: str, erased_at: datetime) -> None:
        """Erasure: drop the link to the member (``member_id``) and the tier index keys, keep the
        entries under the pseudonym. Bumps the version, so a purchase planned on the balance
        before the erasure fails its condition and is re-planned as erased. Idempotent (the first
        erasure time stays); creates the item if the member never had points."""
        client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item({"pk": ledger_pk(ledger_id), "sk": BALANCE_SK}),
            UpdateExpression=(
                "SET erased_at = if_not_exists(erased_at, :at), ledger_id = :id, entity = :entity, "
                "version = if_not_exists(version, :zero) + :one REMOVE member_id, gsi2pk, gsi2sk"
            ),
            ExpressionAttributeValues=to_item(
                {
                    ":at": clock.to_utc_iso(erased_at),
                    ":id": ledger_id,
                    ":entity": "points_balance",
                    ":zero": 0,
                    ":one": 1,
                }
            ),
        )


def reversed_key(ledger_id: str, movement_id: str) -> dict[str, str]:
    """The marker of a reversed movement (in the member's ledger partition)."""
    return {"pk": ledger_pk(ledger_id), "sk": f"REVERSED#{movement_id}"}


CALENDAR_KEY = {"pk": "LEDGERCAL", "sk": "CAL"}
_registered: set[tuple[str, str, str]] = set()
"""(table, kind, day) this container already added to the calendar."""


def _utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


class DueCalendar:
    """Which UTC days have lots due (module doc). Writers call :meth:`register_lots` before their
    transaction: a day registered for a write that then fails only costs the job one empty query."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def register_lots(self, lots: Sequence[Lot]) -> None:
        for lot in lots:
            due = lot_due(lot)  # the same rule as the lot's gsi2 keys
            if due is None:
                continue
            kind: Literal["release_days", "expiry_days"] = (
                "release_days" if due[0] == "LOTREL" else "expiry_days"
            )
            self.register(kind, _utc_day(due[1]))

    def register(self, kind: Literal["release_days", "expiry_days"], day: str) -> None:
        # The per-container memory is safe on AWS (a past day never gets new lots, so the job only
        # forgets days nobody can register again). The local cloud and LocalStack recreate tables
        # inside one long-lived process, where the memory would outlive the table: write always.
        remember = target() == "aws"
        if remember and (self.table_name, kind, day) in _registered:
            return
        client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item(CALENDAR_KEY),
            UpdateExpression="ADD #days :day SET entity = :entity",
            ExpressionAttributeNames={"#days": kind},
            ExpressionAttributeValues={":day": {"SS": [day]}, ":entity": {"S": "ledger_calendar"}},
        )
        if remember:
            _registered.add((self.table_name, kind, day))

    def days(self) -> tuple[set[str], set[str]]:
        """(release days, expiry days)."""
        response = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(CALENDAR_KEY), ConsistentRead=True
        )
        item = from_item(response.get("Item") or {})
        return set(item.get("release_days") or ()), set(item.get("expiry_days") or ())

    def forget(self, kind: Literal["release_days", "expiry_days"], day: str) -> None:
        """Called by the job for a day that is over and fully processed (no lot can become due
        on a past day)."""
        client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item(CALENDAR_KEY),
            UpdateExpression="DELETE #days :day",
            ExpressionAttributeNames={"#days": kind},
            ExpressionAttributeValues={":day": {"SS": [day]}},
        )


def clear_calendar_cache() -> None:
    """Tests: forget what this process registered."""
    _registered.clear()


class DynamoDueIndex:
    """The sharded ``gsi2`` (KEYS_ONLY): what is due, and who is in a tier."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def due(
        self, kind: Literal["LOTREL", "LOTEXP"], day: str, *, after: datetime | None, until: datetime
    ) -> Iterator[tuple[str, str]]:
        for shard in range(INDEX_SHARDS):
            values: dict[str, Any] = {
                ":pk": f"{kind}#{day}#{shard}",
                ":until": clock.to_utc_iso(until) + "#~",
            }
            condition = "gsi2pk = :pk AND gsi2sk <= :until"
            if after is not None:
                values[":after"] = clock.to_utc_iso(after) + "#~"
                condition = "gsi2pk = :pk AND gsi2sk BETWEEN :after AND :until"
            request = {
                "TableName": self.table_name,
                "IndexName": "gsi2",
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": to_item(values),
            }
            for item in query_all(request):
                yield item["pk"].removeprefix("LEDGER#"), item["sk"].removeprefix("LOT#")

    def calendar(self) -> tuple[set[str], set[str]]:
        return DueCalendar(self.table_name).days()

    def forget(self, kind: Literal["LOTREL", "LOTEXP"], day: str) -> None:
        DueCalendar(self.table_name).forget("release_days" if kind == "LOTREL" else "expiry_days", day)

    def in_tier(self, tier_id: str) -> Iterator[str]:
        for shard in range(INDEX_SHARDS):
            request = {
                "TableName": self.table_name,
                "IndexName": "gsi2",
                "KeyConditionExpression": "gsi2pk = :pk",
                "ExpressionAttributeValues": to_item({":pk": f"TIER#{tier_id}#{shard}"}),
            }
            for item in query_all(request):
                yield item["pk"].removeprefix("LEDGER#")


# The item converters (dal/ledger_items.py) stay importable from here (``ledger.balance_item`` …).
__all__ = [
    "CALENDAR_KEY",
    "NOT_EXISTS",
    "DueCalendar",
    "DynamoDueIndex",
    "DynamoLedgerRepository",
    "balance_from_item",
    "balance_item",
    "clear_calendar_cache",
    "lot_from_item",
    "lot_item",
    "movement_from_item",
    "movement_item",
    "reversed_key",
]
