# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Ticket operations with an in-memory repository: lost races are re-decided, SLA decisions,
auto-answer offers, pseudonymisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from services.tickets.logic import tickets as logic
from services.tickets.logic.errors import TicketChanged, TicketNotFound
from services.tickets.models.entities import Ticket
from shared.dynamo import ConditionalCheckFailed

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
_ids = count()


def new_id() -> str:
    return f"ID{next(_ids):024d}"


class FakeRepo:
    """Applies changes in memory; ``conflicts`` makes the next N writes lose a race."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.applied: list[logic.Change] = []
        self.conflicts = 0

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def apply(self, change: logic.Change) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ConditionalCheckFailed("lost", [1])
        self.tickets[change.after.ticket_id] = change.after
        self.applied.append(change)


def opened(text: str = "店员态度太差了，我要投诉！！", **kwargs: object) -> logic.Change:
    request = logic.OpenRequest(
        ticket_id="T" * 26, member_id="M1", channel="mini_program", opened_by="member", subject="s", text=text
    )
    return logic.open_ticket(request, now=NOW, new_id=new_id, **kwargs)  # type: ignore[arg-type]


def test_a_lost_race_is_re_read_and_decided_again_then_gives_up() -> None:
    repo = FakeRepo()
    repo.apply(opened().__class__(before=None, after=opened().after))
    repo.conflicts = 2
    change = logic.mutate(
        repo,
        "T" * 26,
        lambda t: logic.resolve(t, by="agent", resolution="resolved", note=None, now=NOW, new_id=new_id),
    )
    assert change is not None and repo.tickets["T" * 26].status == "resolved"
    repo.conflicts = 5
    with pytest.raises(TicketChanged):
        logic.mutate(
            repo,
            "T" * 26,
            lambda t: logic.override(
                t, by="a", category="inquiry", priority=None, topic=None, queue=None, now=NOW
            ),
        )
    with pytest.raises(TicketNotFound):
        logic.mutate(repo, "nope", lambda t: None)


def test_a_redelivered_event_is_recognised_by_its_marker() -> None:
    repo = FakeRepo()
    repo.apply(opened())

    class MarkerRepo(FakeRepo):
        def apply(self, change: logic.Change) -> None:
            raise ConditionalCheckFailed("marker exists", [0])

    marker = MarkerRepo()
    marker.tickets = repo.tickets
    result = logic.mutate(
        marker,
        "T" * 26,
        lambda t: logic.note_points_adjusted(
            t,
            adjustment_id="A",
            points=5,
            approved_by="b",
            balance_after=10,
            now=NOW,
            new_id=new_id,
            event_id="E1",
            consumer="c",
        ),
    )
    assert result is None


def test_sla_breach_only_when_due_unmet_and_once() -> None:
    ticket = opened().after
    assert ticket.priority == "high"
    assert (
        logic.sla_breach(ticket, target="first_response", now=NOW + timedelta(minutes=59), new_id=new_id)
        is None
    )
    change = logic.sla_breach(ticket, target="first_response", now=NOW + timedelta(hours=1), new_id=new_id)
    assert change is not None
    assert (change.after.priority, change.after.queue, change.after.priority_source) == (
        "urgent",
        "supervisor",
        "sla",
    )
    assert [type(e).__name__ for e in change.events] == ["TicketSlaBreached", "TicketAssigned"]
    assert (
        logic.sla_breach(change.after, target="first_response", now=NOW + timedelta(hours=2), new_id=new_id)
        is None
    )
    waiting = ticket.model_copy(update={"status": "pending_member"})
    assert logic.sla_breach(waiting, target="resolution", now=NOW + timedelta(days=2), new_id=new_id) is None


def test_an_auto_answer_waits_for_the_member() -> None:
    change = opened("请问几点关门", auto_answer=logic.AutoAnswer(intent="opening_hours", body="10:00-22:00"))
    assert change.after.status == "pending_member"
    assert [m.author_kind for m in change.messages] == ["member", "system"]
    assert [type(e).__name__ for e in change.events] == [
        "TicketOpened",
        "TicketAssigned",
        "NotificationRequested",
    ]


def test_pseudonymise_keeps_what_happened_not_who() -> None:
    change = opened("我叫王五，电话13812345678，店员态度太差了")
    after, messages = logic.pseudonymise(change.after, change.messages, pseudonym="anon-x", now=NOW)
    assert (after.member_id, after.member_pseudonym, after.erased) == (None, "anon-x", True)
    assert "13812345678" not in after.description and "王五" not in after.description
    assert "店员态度太差了" in after.description
    assert "13812345678" not in messages[0].body
    assert (
        logic.staff_reply(
            after,
            agent_id="a",
            body="x",
            internal=False,
            status_after="pending_member",
            attachments=(),
            now=NOW,
            new_id=new_id,
        ).events
        == []
    )  # nobody to notify


def test_a_staff_priority_change_moves_only_the_open_targets() -> None:
    ticket = opened("请问停车场几点开门").after  # low: 8 h / 72 h from NOW
    assert ticket.priority == "low"
    change = logic.override(
        ticket,
        by="agent",
        category=None,
        priority="high",
        topic=None,
        queue=None,
        now=NOW + timedelta(hours=1),
    )
    assert (change.after.first_response_due_at, change.after.resolution_due_at) == (
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=8),
    )
    assert [type(e).__name__ for e in change.events] == ["TicketAssigned"]  # sets the timers again
    # Answered and breached targets keep their times; a reopened ticket keeps its later start.
    answered = ticket.model_copy(
        update={
            "first_responded_at": NOW,
            "sla_breaches": ["resolution"],
        }
    )
    same = logic.override(
        answered, by="agent", category=None, priority="urgent", topic=None, queue=None, now=NOW
    )
    assert (same.after.first_response_due_at, same.after.resolution_due_at) == (
        ticket.first_response_due_at,
        ticket.resolution_due_at,
    )
    assert same.events == []
    reopened = ticket.model_copy(
        update={"first_responded_at": NOW, "resolution_due_at": NOW + timedelta(days=5)}
    )
    moved = logic.override(
        reopened, by="agent", category=None, priority="medium", topic=None, queue=None, now=NOW
    )
    assert moved.after.resolution_due_at == NOW + timedelta(days=5) - timedelta(hours=72) + timedelta(
        hours=24
    )
