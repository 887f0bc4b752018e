"""What members' local fake senders do with a message they were asked to send: record it.

The fakes (``FakeSmsSender`` in ``dal/sms.py``, ``FakeVerificationMail`` in ``dal/email.py``) send
nothing. Each message gets a fake provider id, is appended to the fake's own ``sent`` list (tests
read it) and is logged once on ``mallcrm.local_outbox`` with the entry as ``extra={"outbox": …}``,
which the local cloud shows at ``GET /_local/outbox`` (docs/contracts/outbox.md; elsewhere it is an
INFO line — a fake is never chosen outside the local cloud and the tests). Campaigns has the same
four logging lines in its own module: the contract says copy them rather than import across
services.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from shared import clock

__all__ = ["OUTBOX_LOGGER", "record_fake_send", "record_local_outbox"]

OUTBOX_LOGGER = "mallcrm.local_outbox"

Sent = TypeVar("Sent")

# One lock for every fake's ``sent``: local-only traffic, and the local cloud may run functions on
# several threads.
_lock = threading.Lock()


def record_local_outbox(entry: dict[str, object]) -> None:
    """One local-outbox entry (fields: docs/contracts/outbox.md)."""
    logging.getLogger(OUTBOX_LOGGER).info(
        "local outbox: %s to %s", entry.get("channel"), entry.get("to"), extra={"outbox": entry}
    )


def record_fake_send(
    sent: list[Sent],
    record: Callable[[str, datetime], Sent],
    *,
    adapter: str,
    channel: str,
    to: str,
    title: str | None,
    body: str,
) -> str:
    """Record one verification-code message a fake was asked to send; returns its fake provider id.

    ``record(message_id, sent_at)`` builds the fake's own record (what its tests read) and is
    appended to ``sent``; the outbox entry is the same for every fake, ``kind =
    verification_code`` (the only thing members sends itself)."""
    message_id = f"fake-{channel}-{uuid.uuid4().hex[:12]}"
    kept = record(message_id, clock.now())
    with _lock:
        sent.append(kept)
    record_local_outbox(
        {
            "service": "members",
            "adapter": adapter,
            "channel": channel,
            "to": to,
            "kind": "verification_code",
            "title": title,
            "body": body,
            "provider_message_id": message_id,
        }
    )
    return message_id
