"""The transactional outbox: the table is the outbox, its stream is the delivery.

A service writes :func:`outbox_item` in the *same* TransactWriteItems as its state change, so the
change and its event cannot part (no "saved but never announced", no "announced but rolled
back"). The table's stream, filtered in the template to INSERTs of ``entity = outbox``, invokes
``<Svc>StreamPublisherFunction``, whose handler is :func:`publish_stream_batch`.

Delivery is at least once: after a partial failure the records from the first failure on are
retried, and some of them may have been published already. Consumers are idempotent on
``metadata.event_id`` (:func:`shared.dynamo.idempotency_put`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared import clock
from shared.events.contracts import EventData
from shared.events.envelope import EventMetadata
from shared.events.publisher import MAX_ENTRIES_PER_CALL, build_entry, put_entries
from shared.observability import get_logger
from shared.settings import ServiceSettings, load

__all__ = ["OUTBOX_ENTITY", "OUTBOX_TTL", "outbox_item", "publish_stream_batch"]

OUTBOX_ENTITY = "outbox"
OUTBOX_TTL = timedelta(days=7)


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
    metadata = data.new_metadata(correlation_id=correlation_id, producer=producer, occurred_at=moment)
    return {
        "pk": f"OUTBOX#{metadata.event_id}",
        "sk": "OUTBOX",
        "entity": OUTBOX_ENTITY,
        "event_id": metadata.event_id,
        "source": data.SOURCE,
        "detail_type": data.detail_type(),
        "detail": data.detail_json(metadata),
        "ttl": clock.epoch_seconds(moment + OUTBOX_TTL),
    }


def _string(image: Mapping[str, Any], name: str) -> str:
    value = image.get(name, {})
    if not isinstance(value, Mapping) or "S" not in value:
        raise ValueError(f"outbox item without string attribute {name!r}")
    return str(value["S"])


def _entry_from_image(image: Mapping[str, Any], bus_name: str) -> dict[str, Any]:
    detail = _string(image, "detail")
    metadata = EventMetadata.model_validate(json.loads(detail)["metadata"])
    return build_entry(
        source=_string(image, "source"),
        detail_type=_string(image, "detail_type"),
        detail=detail,
        bus_name=bus_name,
        occurred_at=metadata.occurred_at,
    )


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


def publish_stream_batch(
    event: Mapping[str, Any],
    context: Any,
    *,
    bus_name: str | None = None,
    client: Any | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Handler body for ``<Svc>StreamPublisherFunction`` (DynamoDB stream, ReportBatchItemFailures).

    Publishes every outbox INSERT in the batch to ``EVENT_BUS_NAME`` (read now) and returns
    ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}`` for the first record
    that could not be published and every outbox record after it: a stream is ordered, and
    Lambda restarts the shard from the lowest reported sequence number.
    """
    logger = get_logger()
    if bus_name is None:
        bus_name = load(ServiceSettings).event_bus_name

    # Every record's sequence number in stream order; outbox records also get an entry.
    sequence_numbers: list[str] = []
    entries: list[dict[str, Any]] = []
    entry_positions: list[int] = []  # entries[i] came from sequence_numbers[entry_positions[i]]
    failed_at: int | None = None  # position in sequence_numbers of the first failure
    for record in event.get("Records", []):
        sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
        sequence_numbers.append(sequence)
        if failed_at is not None or not _is_outbox_insert(record):
            continue  # non-outbox records: the template filters them out; tolerate them anyway
        try:
            entries.append(_entry_from_image(record["dynamodb"]["NewImage"], bus_name))
            entry_positions.append(len(sequence_numbers) - 1)
        except (ValueError, KeyError, TypeError) as exc:
            # Poison record: fail it and the rest, so retries end in the stream's failure destination.
            logger.error("malformed outbox record", extra={"sequence_number": sequence, "error": str(exc)})
            failed_at = len(sequence_numbers) - 1

    failed_entry = _publish_in_order(entries, client, logger)
    if failed_entry is not None:
        failed_at = entry_positions[failed_entry]

    if failed_at is None:
        logger.info("outbox published", extra={"published": len(entries)})
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in sequence_numbers[failed_at:]]}
