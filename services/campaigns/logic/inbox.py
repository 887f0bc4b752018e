"""The member's in-app inbox: newest first; a message marked read (``read_at``, once) and a click
recorded once per message (a click also reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.campaigns.logic.errors import InboxMessageNotFound
from shared.events.contracts import MessageClicked


@dataclass(frozen=True)
class InboxPage:
    items: list[dict[str, Any]]
    next_token: str | None


class InboxRepository(Protocol):
    def newest_first(self, member_id: str, limit: int, next_token: str | None) -> InboxPage: ...

    def get(self, member_id: str, message_id: str) -> dict[str, Any] | None: ...

    def record_click(self, member_id: str, message: dict[str, Any], event: MessageClicked | None) -> bool:
        """Mark clicked (once; and read, unless it was); with ``event``, also the counter and the
        outbox item. False if it was clicked before."""

    def record_read(self, member_id: str, message_id: str, at: datetime) -> bool:
        """Set ``read_at`` once; False if it was read before."""


def click(member_id: str, message_id: str, repo: InboxRepository, *, now: datetime) -> dict[str, Any]:
    message = repo.get(member_id, message_id)
    if message is None:
        raise InboxMessageNotFound()
    if message.get("clicked_at"):
        return message
    event = MessageClicked(
        send_id=str(message["send_id"]),
        member_id=member_id,
        campaign_id=message.get("campaign_id"),
        variant=message.get("variant"),
        channel="inbox",
        clicked_at=now,
    )
    repo.record_click(member_id, message, event)
    return repo.get(member_id, message_id) or message


def read(member_id: str, message_id: str, repo: InboxRepository, *, now: datetime) -> dict[str, Any]:
    """Mark the member's message read (idempotent: a second call changes nothing and answers the
    same). Only the member's own partition is looked in: another member's message id is unknown."""
    message = repo.get(member_id, message_id)
    if message is None:
        raise InboxMessageNotFound()
    if message.get("read_at"):
        return message
    repo.record_read(member_id, message_id, now)
    return repo.get(member_id, message_id) or message
