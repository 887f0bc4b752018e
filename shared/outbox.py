"""The transactional outbox: the table is the outbox, its stream is the delivery.

A service writes :func:`outbox_item` in the *same* TransactWriteItems as its state change, so the
change and its event cannot part (no "saved but never announced", no "announced but rolled
back"). The table's stream, filtered in the template to INSERTs of ``entity = outbox``, invokes
``<Svc>StreamPublisherFunction``, whose handler is :func:`publish_stream_batch`.

Delivery is at least once: after a partial failure the records from the first failure on are
retried, and some of them may have been published already. Consumers are idempotent on
``metadata.event_id`` (:func:`shared.dynamo.idempotency_put`).

Once an item is on the bus the publisher deletes it from the table (``TABLE_NAME``): an outbox
item carries the event's data (member ids among it), and an already published copy has no use
that would justify keeping it for its 7-day TTL after, say, the member's erasure. The key holds
the event id, so a delete by key removes exactly the item published and a replayed stream record's
delete is a no-op; a record whose PutEvents entry failed is not deleted (it is
retried). The TTL stays as the safety net for a publisher that dies between PutEvents and the
delete, or a delete that fails. The delete shows on the stream as a REMOVE record, which the
template's filter (INSERTs of ``entity = outbox``) and :func:`_is_outbox_insert` both ignore.

Only items under an ``OUTBOX#`` partition key are deleted, the keys the publishers' IAM policies
reach (``dynamodb:LeadingKeys``). An owner may keep an outbox item in the partition of the person
it is about instead (campaigns: ``MEMBER#<id>`` / ``OUTBOX#<event_id>``, so that the member's
erasure finds it with one consistent Query and no reference item); such an item is published the
same way and left to its TTL or to that erasure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import aws, clock
from shared.events.contracts import EventData
from shared.events.envelope import EventMetadata
from shared.events.publisher import MAX_ENTRIES_PER_CALL, build_entry, put_entries
from shared.observability import get_logger
from shared.settings import ServiceSettings, load

__all__ = ["OUTBOX_ENTITY", "OUTBOX_TTL", "delete_published", "outbox_item", "publish_stream_batch"]

OUTBOX_ENTITY = "outbox"
OUTBOX_PK_PREFIX = "OUTBOX#"  # the publisher deletes these after publishing (see the module doc)
OUTBOX_TTL = timedelta(days=7)
DELETE_CHUNK = 25  # BatchWriteItem's limit
DELETE_ATTEMPTS = 3


def outbox_item(
    data: EventData,
    *,
    correlation_id: str,
    producer: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The outbox item (plain attributes) for ``data``, occurring ``now`` (default: the clock).

    ``pk = "OUTBOX#<event_id>"``, ``sk = "OUTBOX"``, ``entity = "outbox"``, ``source``,
    ``detail_type``, ``detail`` (the envelope as a JSON string), ``ttl`` (now + 7 days).
    Serialise with :func:`shared.dynamo.to_item` (or the table resource) and put it with
    ``attribute_not_exists(pk)`` next to the state change.
    """
    moment = now if now is not None else clock.now()
    # new_detail, not new_metadata + detail_json: the same text without building and validating
    # a metadata model per event (every producer writes one or two per request).
    event_id, detail = data.new_detail(correlation_id=correlation_id, producer=producer, occurred_at=moment)
    return {
        "pk": f"OUTBOX#{event_id}",
        "sk": "OUTBOX",
        "entity": OUTBOX_ENTITY,
        "event_id": event_id,
        "source": data.SOURCE,
        "detail_type": data.detail_type(),
        "detail": detail,
        "ttl": clock.epoch_seconds(moment + OUTBOX_TTL),
    }


def _string(image: Mapping[str, Any], name: str) -> str:
    value = image.get(name, {})
    if not isinstance(value, Mapping) or "S" not in value:
        raise ValueError(f"outbox item without string attribute {name!r}")
    return str(value["S"])


@dataclass(frozen=True)
class PublishedItem:
    """The key and event id of an outbox item, for the conditional delete after publishing."""

    pk: str
    sk: str
    event_id: str


def _entry_from_image(image: Mapping[str, Any], bus_name: str) -> tuple[dict[str, Any], PublishedItem]:
    """The PutEvents entry for an outbox item's image, and what deleting the item needs."""
    detail = _string(image, "detail")
    metadata = EventMetadata.model_validate(json.loads(detail)["metadata"])
    entry = build_entry(
        source=_string(image, "source"),
        detail_type=_string(image, "detail_type"),
        detail=detail,
        bus_name=bus_name,
        occurred_at=metadata.occurred_at,
    )
    return entry, PublishedItem(_string(image, "pk"), _string(image, "sk"), metadata.event_id)


def _is_outbox_insert(record: Mapping[str, Any]) -> bool:
    if record.get("eventName") != "INSERT":
        return False
    image = record.get("dynamodb", {}).get("NewImage", {})
    return bool(image.get("entity", {}).get("S") == OUTBOX_ENTITY)


def _publish_in_order(entries: list[dict[str, Any]], client: Any, logger: Any) -> int | None:
    """Publish chunk by chunk and stop at the first failure; the index of that failure, or None.

    Stopping matters: records after a failure are retried anyway, so publishing them now would
    only add duplicates.
    """
    for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
        chunk = entries[start : start + MAX_ENTRIES_PER_CALL]
        try:
            failed = put_entries(chunk, client=client)
        except Exception:
            logger.exception("PutEvents call failed", extra={"entries": len(chunk)})
            return start
        if failed:
            first = failed[0]
            logger.error(
                "events not published",
                extra={
                    "failed": len(failed),
                    "error_code": first.error_code,
                    "detail_type": first.detail_type,
                },
            )
            return start + first.index
    return None


def _delete_chunk(chunk: Sequence[PublishedItem], table_name: str, dynamodb: Any) -> tuple[int, str | None]:
    """Delete up to 25 published items in one ``BatchWriteItem`` (unprocessed ones retried twice);
    the number left and the error that left them."""
    pending: list[dict[str, Any]] = [
        {"DeleteRequest": {"Key": {"pk": {"S": item.pk}, "sk": {"S": item.sk}}}} for item in chunk
    ]
    for attempt in range(DELETE_ATTEMPTS):
        try:
            answer = dynamodb.batch_write_item(RequestItems={table_name: pending})
        except Exception as exc:  # any failure leaves the items to their TTL; reported by the caller
            error = getattr(exc, "response", {}).get("Error", {}).get("Code")
            return len(pending), str(error or type(exc).__name__)
        pending = list(answer.get("UnprocessedItems", {}).get(table_name, []))
        if not pending:
            return 0, None
        time.sleep(0.05 * 2**attempt)  # throttled: DynamoDB returned them unprocessed
    return len(pending), "UnprocessedItems"


def delete_published(
    items: Sequence[PublishedItem], *, table_name: str, dynamodb: Any | None = None, logger: Any = None
) -> int:
    """Delete outbox items already on the bus; the number of items whose delete failed. Items
    kept in another partition than ``OUTBOX#…`` are skipped (see the module doc).

    The key holds the event id (``OUTBOX#<event_id>``), so a delete by key removes exactly the item
    published, and a replayed record's delete of an item already gone is a no-op. ``BatchWriteItem``
    of 25, one after the other: no threads (moto, under the local cloud, is not thread-safe, and a
    stream batch of 100 is four calls). A failed delete is logged and left to the item's TTL:
    failing the stream record instead would publish it (and every record after it) again for a
    delete that a retry may fail just the same.
    """
    items = [item for item in items if item.pk.startswith(OUTBOX_PK_PREFIX)]
    if not items:
        return 0
    client = dynamodb if dynamodb is not None else aws.client("dynamodb")
    not_deleted = 0
    first_error: str | None = None
    for start in range(0, len(items), DELETE_CHUNK):
        left, error = _delete_chunk(items[start : start + DELETE_CHUNK], table_name, client)
        not_deleted += left
        first_error = first_error or error
    if not_deleted:
        (logger or get_logger()).error(
            "published outbox items not deleted; their TTL will remove them",
            extra={"not_deleted": not_deleted, "error_code": first_error},
        )
    return not_deleted


def publish_stream_batch(
    event: Mapping[str, Any],
    context: Any,
    *,
    bus_name: str | None = None,
    client: Any | None = None,
    table_name: str | None = None,
    dynamodb: Any | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Handler body for ``<Svc>StreamPublisherFunction`` (DynamoDB stream, ReportBatchItemFailures).

    Publishes every outbox INSERT in the batch to ``EVENT_BUS_NAME`` and deletes each published
    item from ``TABLE_NAME`` (both read now), and returns
    ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}`` for the first record
    that could not be published and every outbox record after it: a stream is ordered, and
    Lambda restarts the shard from the lowest reported sequence number. Only the items before
    that first failure are deleted (the rest are published again on the retry, and deleted then).
    """
    logger = get_logger()
    if bus_name is None or table_name is None:
        settings = load(ServiceSettings)
        bus_name = bus_name if bus_name is not None else settings.event_bus_name
        table_name = table_name if table_name is not None else settings.table_name

    # Every record's sequence number in stream order; outbox records also get an entry.
    sequence_numbers: list[str] = []
    entries: list[dict[str, Any]] = []
    items: list[PublishedItem] = []  # items[i] is the outbox item entries[i] was built from
    entry_positions: list[int] = []  # entries[i] came from sequence_numbers[entry_positions[i]]
    failed_at: int | None = None  # position in sequence_numbers of the first failure
    for record in event.get("Records", []):
        sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
        sequence_numbers.append(sequence)
        if failed_at is not None or not _is_outbox_insert(record):
            continue  # non-outbox records: the template filters them out; tolerate them anyway
        try:
            entry, item = _entry_from_image(record["dynamodb"]["NewImage"], bus_name)
            entries.append(entry)
            items.append(item)
            entry_positions.append(len(sequence_numbers) - 1)
        except (ValueError, KeyError, TypeError) as exc:
            # Poison record: fail it and the rest, so retries end in the stream's failure destination.
            logger.error("malformed outbox record", extra={"sequence_number": sequence, "error": str(exc)})
            failed_at = len(sequence_numbers) - 1

    failed_entry = _publish_in_order(entries, client, logger)
    published = items if failed_entry is None else items[:failed_entry]
    if failed_entry is not None:
        failed_at = entry_positions[failed_entry]
    if table_name:
        delete_published(published, table_name=table_name, dynamodb=dynamodb, logger=logger)
    elif published:
        logger.error("TABLE_NAME is not set: published outbox items are left to their TTL")

    if failed_at is None:
        logger.info("outbox published", extra={"published": len(entries)})
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in sequence_numbers[failed_at:]]}
