"""What every wallet repository writes alongside its change: the outbox item and the audit entry.

**Audit log** (DESIGN §7: every staff action that changes points or coupons): append-only items
``AUDIT#<subject>`` / ``<at>#<entry_id>`` (subject e.g. ``ADJUSTMENT#<id>``, ``COUPON#<id>``,
``RECEIPT#<id>``), written in the same transaction as the change they record, never updated or
deleted (erasure deletes a coupon, not the audit of its redemption; audit entries carry ids only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import clock
from shared.dynamo import put_op
from shared.events.contracts import EventData
from shared.ids import new_ulid
from shared.outbox import outbox_item

NOT_EXISTS = "attribute_not_exists(pk)"


def outbox_put(
    table: str, event: EventData, correlation_id: str, producer: str, at: datetime
) -> dict[str, Any]:
    return put_op(
        table,
        outbox_item(event, correlation_id=correlation_id, producer=producer, now=at),
        condition=NOT_EXISTS,
    )


def audit_put(
    table: str, *, subject: str, action: str, actor: str, at: datetime, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    stamp = clock.to_utc_iso(at)
    return put_op(
        table,
        {
            "pk": f"AUDIT#{subject}",
            "sk": f"{stamp}#{new_ulid(at)}",
            "entity": "audit",
            "subject": subject,
            "action": action,
            "actor": actor,
            "at": stamp,
            **(details or {}),
        },
        condition=NOT_EXISTS,
    )
