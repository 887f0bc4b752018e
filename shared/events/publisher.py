"""Publishing to the bus: PutEvents in chunks of 10, trace header propagated, failures raised.

Why raise on any failed entry: PutEvents answers 200 with ``FailedEntryCount > 0`` when some
entries were throttled or rejected; code that only checks for exceptions loses those events
silently. Here a partial failure is a :class:`PublishError` naming the entries, so the caller
(normally the outbox stream publisher) retries exactly those.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import aws
from shared.events.contracts import EventData
from shared.events.envelope import EventMetadata

__all__ = ["MAX_ENTRIES_PER_CALL", "FailedEntry", "PublishError", "build_entry", "publish", "put_entries"]

MAX_ENTRIES_PER_CALL = 10  # the PutEvents limit


@dataclass(frozen=True)
class FailedEntry:
    """One entry PutEvents did not accept; ``index`` is its position in the caller's sequence."""

    index: int
    detail_type: str
    error_code: str
    error_message: str


class PublishError(RuntimeError):
    """Some entries were not published (``failed``); the others were."""

    def __init__(self, failed: Sequence[FailedEntry]) -> None:
        self.failed = tuple(failed)
        summary = ", ".join(f"#{f.index} {f.detail_type} ({f.error_code})" for f in self.failed[:10])
        more = f" and {len(self.failed) - 10} more" if len(self.failed) > 10 else ""
        super().__init__(f"{len(self.failed)} event(s) not published: {summary}{more}")


def build_entry(
    *,
    source: str,
    detail_type: str,
    detail: str,
    bus_name: str,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """One PutEvents entry; the X-Ray trace header is taken from the invocation's environment."""
    entry: dict[str, Any] = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": detail,
        "EventBusName": bus_name,
    }
    if occurred_at is not None:
        entry["Time"] = occurred_at
    trace_header = os.environ.get("_X_AMZN_TRACE_ID")
    if trace_header:
        entry["TraceHeader"] = trace_header
    return entry


def put_entries(entries: Sequence[Mapping[str, Any]], *, client: Any | None = None) -> list[FailedEntry]:
    """PutEvents ``entries`` in chunks of 10 and return those that failed (in input order).

    An exception from a call (throttled beyond retries, access denied) propagates; entries of
    earlier chunks were published by then.
    """
    if client is None:
        client = aws.client("events")
    failed: list[FailedEntry] = []
    for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
        chunk = [dict(e) for e in entries[start : start + MAX_ENTRIES_PER_CALL]]
        response = client.put_events(Entries=chunk)
        if not response.get("FailedEntryCount"):
            continue
        for offset, result in enumerate(response.get("Entries", [])):
            if result.get("ErrorCode") or not result.get("EventId"):
                failed.append(
                    FailedEntry(
                        index=start + offset,
                        detail_type=str(chunk[offset].get("DetailType", "")),
                        error_code=str(result.get("ErrorCode") or "Unknown"),
                        error_message=str(result.get("ErrorMessage") or ""),
                    )
                )
    return failed


def publish(
    entries: Sequence[tuple[EventData, EventMetadata]],
    *,
    bus_name: str,
    client: Any | None = None,
) -> None:
    """Publish events with their metadata; :class:`PublishError` if any entry failed.

    Most producers do not call this directly: they write an outbox item in the same transaction
    as their state change (:mod:`shared.outbox`) and the stream publisher calls it.
    """
    raw = [
        build_entry(
            source=data.SOURCE,
            detail_type=data.detail_type(),
            detail=data.detail_json(metadata),
            bus_name=bus_name,
            occurred_at=metadata.occurred_at,
        )
        for data, metadata in entries
    ]
    failed = put_entries(raw, client=client)
    if failed:
        raise PublishError(failed)
