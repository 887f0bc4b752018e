# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Conversation, lifecycle and satisfaction: replies (the member notified through contract C),
internal notes (staff only), open → pending member → in progress → resolved → closed, reopening
within N days, the survey once on a resolved ticket, a low score reopening with the supervisor,
CSAT and response times per queue, agent and store."""

from __future__ import annotations

import pytest

from tests.integration.tickets.support import (
    MEMBER,
    Clock,
    items,
    member_call,
    open_ticket,
    outbox,
    staff_call,
)

pytestmark = pytest.mark.usefixtures("tickets_env")


def _path(ticket_id: str, tail: str = "") -> str:
    return f"/v1/admin/tickets/{ticket_id}{tail}"


def test_reply_notes_and_the_whole_lifecycle(tickets_env: Clock) -> None:
    ticket = open_ticket(store_id="store-0301")
    tid = ticket["ticket_id"]
    tickets_env.advance(minutes=20)

    status, note = staff_call(
        "POST", _path(tid, "/replies"), body={"text": "已联系店长核实", "internal": True}
    )
    assert status == 200, note
    assert note["first_responded_at"] is None  # a note is not an answer
    assert outbox("NotificationRequested") == []

    status, replied = staff_call(
        "POST", _path(tid, "/replies"), body={"text": "您好，我们已联系店长，稍后回复您。"}
    )
    assert status == 200, replied
    assert replied["status"] == "pending_member"
    assert replied["first_responded_at"] is not None
    notification = outbox("NotificationRequested")[0]["data"]
    assert (notification["topic"], notification["member_id"], notification["ticket_id"]) == (
        "ticket_reply",
        MEMBER,
        tid,
    )
    assert notification["body"].startswith("您好")

    _, mine = member_call("GET", f"/v1/members/me/tickets/{tid}")
    bodies = [m["body"] for m in mine["messages"]]
    assert "已联系店长核实" not in bodies  # internal notes are staff only
    assert all(m["author_id"] is None for m in mine["messages"] if m["author_kind"] == "staff")

    status, mine = member_call("POST", f"/v1/members/me/tickets/{tid}/messages", {"text": "好的，等你们消息"})
    assert (status, mine["status"]) == (200, "in_progress")

    status, resolved = staff_call("POST", _path(tid, "/resolve"), body={"note": "店长已道歉并赠送饮品券"})
    assert (status, resolved["status"]) == (200, "resolved")
    event = outbox("TicketResolved")[0]["data"]
    assert (event["category"], event["resolution"], event["sla_breached"]) == ("complaint", "resolved", False)
    assert outbox("NotificationRequested")[-1]["data"]["topic"] == "survey_request"

    status, again = staff_call("POST", _path(tid, "/resolve"), body={})
    assert (status, again["error"]["code"]) == (409, "invalid_status")

    status, surveyed = member_call(
        "POST", f"/v1/members/me/tickets/{tid}/survey", {"csat": 4, "comment": "处理及时"}
    )
    assert (status, surveyed["status"], surveyed["survey"]["csat"]) == (200, "closed", 4)
    answered = outbox("SurveyAnswered")[0]["data"]
    assert (answered["ticket_id"], answered["csat"]) == (tid, 4)

    before = items()
    status, twice = member_call("POST", f"/v1/members/me/tickets/{tid}/survey", {"csat": 5})
    assert (status, twice["error"]["code"]) == (409, "survey_already_answered")
    status, closed = member_call("POST", f"/v1/members/me/tickets/{tid}/messages", {"text": "还有个问题"})
    assert (status, closed["error"]["code"]) == (409, "ticket_closed")
    assert items() == before

    status, metrics = staff_call("GET", "/v1/admin/ticket-metrics")
    assert status == 200
    queue = metrics["queue"]["front_desk"]
    assert (queue["surveys"], queue["csat_average"], queue["first_responses"], queue["resolutions"]) == (
        1,
        4.0,
        1,
        1,
    )
    assert queue["first_response_minutes_average"] == 20.0
    assert metrics["store"]["store-0301"]["csat_average"] == 4.0


def test_a_survey_needs_a_resolved_ticket_and_a_valid_score() -> None:
    tid = open_ticket()["ticket_id"]
    before = items()
    status, answer = member_call("POST", f"/v1/members/me/tickets/{tid}/survey", {"csat": 5})
    assert (status, answer["error"]["code"]) == (409, "ticket_not_resolved")
    status, answer = member_call("POST", f"/v1/members/me/tickets/{tid}/survey", {"csat": 6})
    assert status == 422
    assert items() == before


def test_a_low_score_reopens_the_ticket_with_the_supervisor() -> None:
    tid = open_ticket()["ticket_id"]
    staff_call("POST", _path(tid, "/resolve"), body={})
    status, body = member_call(
        "POST", f"/v1/members/me/tickets/{tid}/survey", {"csat": 1, "comment": "根本没解决"}
    )
    assert status == 200, body
    assert body["status"] == "in_progress"
    _, staff = staff_call("GET", _path(tid))
    assert (staff["queue"], staff["low_csat"], staff["reopened_count"]) == ("supervisor", True, 1)
    assert outbox("TicketAssigned")[-1]["data"]["queue"] == "supervisor"
    _, metrics = staff_call("GET", "/v1/admin/ticket-metrics")
    assert metrics["queue"]["front_desk"]["low_csat"] == 1


def test_a_member_reply_reopens_a_resolved_ticket_only_within_the_window(tickets_env: Clock) -> None:
    tid = open_ticket()["ticket_id"]
    staff_call("POST", _path(tid, "/resolve"), body={})
    tickets_env.advance(days=3)
    status, body = member_call("POST", f"/v1/members/me/tickets/{tid}/messages", {"text": "问题又出现了"})
    assert (status, body["status"]) == (200, "in_progress")
    _, staff = staff_call("GET", _path(tid))
    assert staff["reopened_count"] == 1

    staff_call("POST", _path(tid, "/resolve"), body={})
    tickets_env.advance(days=8)
    status, body = member_call("POST", f"/v1/members/me/tickets/{tid}/messages", {"text": "还是不行"})
    assert (status, body["error"]["code"]) == (409, "reopen_window_passed")


def test_staff_without_the_role_cannot_reply() -> None:
    tid = open_ticket()["ticket_id"]
    before = items()
    status, body = staff_call("POST", _path(tid, "/replies"), "marketer", {"text": "hi"})
    assert (status, body["error"]["code"]) == (403, "missing_role")
    status, body = staff_call("POST", _path(tid, "/replies"), body={"text": ""})
    assert status == 422
    assert items() == before
