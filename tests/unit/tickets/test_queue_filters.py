"""The staff list's filters (pure): status sets, unknown parameters, one member's tickets in the
queue view's working order with the member's own counts; and the erasure tombstone's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.tickets.dal.tickets import erased_member_key
from services.tickets.logic.queue import ALL_STATUSES, member_list, statuses_for, unknown_parameters
from services.tickets.models.entities import ACTIVE_STATUSES, Ticket

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


def ticket(ticket_id: str, *, priority: str = "medium", status: str = "open", queue: str = "front_desk",
           due_in: int = 60, answered: bool = False) -> Ticket:  # fmt: skip
    data: dict[str, Any] = {
        "ticket_id": ticket_id,
        "member_id": MEMBER,
        "channel": "mini_program",
        "opened_by": "member",
        "category": "inquiry",
        "category_source": "auto",
        "priority": priority,
        "subject": "s",
        "description": "d",
        "queue": queue,
        "status": status,
        "opened_at": NOW,
        "updated_at": NOW,
        "first_response_due_at": NOW + timedelta(minutes=due_in),
        "resolution_due_at": NOW + timedelta(minutes=10 * due_in),
        "first_responded_at": NOW if answered else None,
    }
    return Ticket.model_validate(data)


def test_status_filters() -> None:
    assert statuses_for("active") == list(ACTIVE_STATUSES)
    assert statuses_for("all") == list(ALL_STATUSES) and "closed" in ALL_STATUSES
    assert statuses_for("resolved") == ["resolved"]


def test_unknown_parameters_are_named_and_known_ones_pass() -> None:
    known = ("status", "queue", "member_id", "limit")
    assert unknown_parameters({"status": "all", "member_id": MEMBER}, known) == []
    assert unknown_parameters(["memberId", "status", "agent"], known) == [
        {"field": "query.agent", "message": "Unknown query parameter."},
        {"field": "query.memberId", "message": "Unknown query parameter."},
    ]


def test_a_members_list_is_filtered_ordered_and_counted_over_all_their_tickets() -> None:
    low = ticket("T1", priority="low", due_in=30)
    urgent_late = ticket("T2", priority="urgent", due_in=90)
    urgent_soon = ticket("T3", priority="urgent", due_in=15)
    answered = ticket("T4", priority="urgent", due_in=5, answered=True)  # next due: resolution (50 min)
    closed = ticket("T5", status="closed")
    parking = ticket("T6", queue="parking")
    everything = [low, urgent_late, urgent_soon, answered, closed, parking]
    shown, counts = member_list(everything, statuses=list(ACTIVE_STATUSES), queue=None, limit=50)
    assert [t.ticket_id for t in shown] == ["T3", "T4", "T2", "T6", "T1"]
    assert counts == {"front_desk": {"open": 4, "closed": 1}, "parking": {"open": 1}}
    shown, counts = member_list(everything, statuses=["closed"], queue=None, limit=50)
    assert [t.ticket_id for t in shown] == ["T5"]
    shown, counts = member_list(everything, statuses=list(ALL_STATUSES), queue="parking", limit=50)
    assert ([t.ticket_id for t in shown], counts) == (["T6"], {"parking": {"open": 1}})
    shown, _ = member_list(everything, statuses=list(ALL_STATUSES), queue=None, limit=2)
    assert [t.ticket_id for t in shown] == ["T3", "T4"]
    assert member_list([], statuses=list(ALL_STATUSES), queue=None, limit=5) == ([], {})


def test_the_erasure_tombstone_key_does_not_hold_the_member_id() -> None:
    key = erased_member_key(MEMBER)
    assert key["sk"] == "ERASED" and key["pk"].startswith("ERASED#")
    assert MEMBER not in key["pk"] and len(key["pk"]) == len("ERASED#") + 32
    assert erased_member_key(MEMBER) == key  # stable: found again when a ticket opens
    assert erased_member_key("01HX9ZK3M5N7P9Q1R3S5T7V9WY") != key
