# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""SLA timers and inbound events, handlers in process on moto: TicketOpened → two one-time
Scheduler schedules; a timer firing → escalation once (or nothing when met); the stream publisher;
ChurnRiskEscalated → one retention-call ticket; MemberErased → tickets pseudonymised;
PointsAdjusted / PointsAdjustmentRejected → noted; MemberProfileScored → value level."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.tickets.handlers import on_events, sla_check, sla_timers, stream_publisher
from shared.events.contracts import (
    ChurnRiskEscalated,
    MemberErased,
    MemberProfileScored,
    PointsAdjusted,
    PointsAdjustmentRejected,
    TicketOpened,
)
from shared.events.samples import sample_data
from tests.integration.helpers import (
    FakeContext,
    aws,
    bus_with_catch_all_queue,
    contract_bus_event,
    outbox_stream_event,
    received_events,
    sqs_event,
)
from tests.integration.tickets.support import (
    MEMBER,
    TABLE,
    Clock,
    items,
    member_call,
    open_ticket,
    outbox,
    staff_call,
    tickets,
)

pytestmark = pytest.mark.usefixtures("tickets_env")
CHECK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mallcrm-test-tickets-sla-check"


@pytest.fixture
def sla_env(tickets_env: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    dlq = aws("sqs").create_queue(QueueName="sla-dlq")["QueueUrl"]
    dlq_arn = aws("sqs").get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    monkeypatch.setenv("SLA_CHECK_FUNCTION_ARN", CHECK_ARN)
    monkeypatch.setenv(
        "SLA_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/mallcrm-test-tickets-sla-scheduler"
    )
    monkeypatch.setenv("SLA_DEAD_LETTER_ARN", dlq_arn)


def _bus_event(detail_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A tickets outbox event as the bus rule delivers it to the timers' queue."""
    return {
        "version": "0",
        "id": "x",
        "detail-type": detail_type,
        "source": "mallcrm.tickets",
        "detail": data,
    }


def _opened_event(ticket_id: str) -> dict[str, Any]:
    data = next(e for e in outbox("TicketOpened") if e["data"]["ticket_id"] == ticket_id)
    return _bus_event("TicketOpened", data)


def _schedules() -> list[dict[str, Any]]:
    client = aws("scheduler")
    names = [s["Name"] for s in client.list_schedules()["Schedules"]]
    return [client.get_schedule(Name=n) for n in sorted(names)]


@pytest.mark.usefixtures("sla_env")
def test_timers_are_created_once_and_a_missed_first_response_escalates(tickets_env: Clock) -> None:
    tid = open_ticket()["ticket_id"]  # an angry complaint: high, first response within 1 hour
    batch = sqs_event([_opened_event(tid)] * 2)
    assert sla_timers.handler(batch, FakeContext()) == {"batchItemFailures": []}
    schedules = _schedules()
    assert len(schedules) == 2
    first = next(s for s in schedules if "-fr-" in s["Name"])
    assert first["ScheduleExpression"] == "at(2026-11-23T03:00:00)"
    assert (first["ScheduleExpressionTimezone"], first["ActionAfterCompletion"]) == ("UTC", "DELETE")
    assert first["Target"]["Arn"] == CHECK_ARN
    payload = json.loads(first["Target"]["Input"])
    assert payload["target"] == "first_response"

    early = sla_check.handler(payload, FakeContext())
    assert early["outcome"] in ("met", "rescheduled")  # not due yet: nothing changes
    assert outbox("TicketSlaBreached") == []

    tickets_env.advance(hours=1, seconds=1)
    assert sla_check.handler(payload, FakeContext()) == {"outcome": "breached"}
    assert sla_check.handler(payload, FakeContext())["outcome"] == "met"  # once
    breach = outbox("TicketSlaBreached")
    assert len(breach) == 1
    data = breach[0]["data"]
    assert (data["target"], data["previous_priority"], data["priority"], data["queue"]) == (
        "first_response",
        "high",
        "urgent",
        "supervisor",
    )
    _, staff = staff_call("GET", f"/v1/admin/tickets/{tid}")
    assert (staff["queue"], staff["priority"], staff["sla_breaches"]) == (
        "supervisor",
        "urgent",
        ["first_response"],
    )
    assert staff["sla_overdue"] is True
    _, view = staff_call("GET", "/v1/admin/tickets", query={"queue": "supervisor"})
    assert [t["ticket_id"] for t in view["items"]] == [tid]


@pytest.mark.usefixtures("sla_env")
def test_an_answered_ticket_does_not_breach(tickets_env: Clock) -> None:
    tid = open_ticket()["ticket_id"]
    staff_call("POST", f"/v1/admin/tickets/{tid}/replies", body={"text": "您好，正在处理"})
    tickets_env.advance(hours=2)
    payload = {"ticket_id": tid, "target": "first_response", "due_at": "2026-11-23T03:00:00.000000Z"}
    assert sla_check.handler(payload, FakeContext()) == {"outcome": "met"}
    assert sla_check.handler({"ticket_id": tid, "target": "bogus"}, FakeContext()) == {"outcome": "ignored"}
    assert outbox("TicketSlaBreached") == []


def test_the_stream_publisher_puts_the_outbox_on_the_bus() -> None:
    queue = bus_with_catch_all_queue("mallcrm-test")
    open_ticket()
    result = stream_publisher.handler(outbox_stream_event(TABLE), FakeContext())
    assert result == {"batchItemFailures": []}
    types = sorted(e["detail-type"] for e in received_events(queue))
    assert types == ["TicketAssigned", "TicketOpened"]
    assert all(e["source"] == "mallcrm.tickets" for e in received_events(queue) or [])
    assert outbox("TicketOpened") == outbox("TicketAssigned") == []  # published, then deleted


def _deliver(*models: object) -> dict[str, Any]:
    result: dict[str, Any] = on_events.handler(
        sqs_event([contract_bus_event(m) for m in models]), FakeContext()
    )
    return result


def test_a_churn_escalation_opens_one_retention_call() -> None:
    data = ChurnRiskEscalated.model_validate(sample_data("ChurnRiskEscalated", {"member_id": MEMBER}))
    assert _deliver(data) == {"batchItemFailures": []}
    assert _deliver(data) == {"batchItemFailures": []}  # the journey published twice
    found = tickets()
    assert len(found) == 1
    ticket = found[0]
    assert (ticket["kind"], ticket["channel"], ticket["priority"], ticket["member_id"]) == (
        "retention_call",
        "journey",
        "high",
        MEMBER,
    )
    assert "89" in ticket["description"]


def test_erasure_pseudonymises_the_members_tickets() -> None:
    tid = open_ticket("我叫张三，手机13812345678，车牌沪A12345，邮箱zs@example.com，停车场收费员态度很差")[
        "ticket_id"
    ]
    staff_call("POST", f"/v1/admin/tickets/{tid}/replies", body={"text": "张先生您好，13812345678 已回电"})
    staff_call("POST", f"/v1/admin/tickets/{tid}/resolve", body={})
    member_call(
        "POST", f"/v1/members/me/tickets/{tid}/survey", {"csat": 2, "comment": "我是张三 13812345678"}
    )
    erased = MemberErased.model_validate(sample_data("MemberErased", {"member_id": MEMBER}))
    assert _deliver(erased) == {"batchItemFailures": []}
    assert _deliver(erased) == {"batchItemFailures": []}
    text = json.dumps(
        [i for i in items() if i.get("entity") in ("ticket", "message", "member_ticket")], ensure_ascii=False
    )
    for secret in ("13812345678", "张三", "沪A12345", "zs@example.com", MEMBER):
        assert secret not in text, secret
    ticket = tickets()[0]
    assert ticket["erased"] is True and ticket["member_pseudonym"].startswith("anon-")
    assert ticket["survey"]["csat"] == 2 and ticket["survey"]["comment"] is None
    assert "停车场收费员态度很差" in ticket["description"]  # what happened stays
    status, mine = member_call("GET", "/v1/members/me/tickets")
    assert mine["items"] == []
    status, _ = member_call("GET", f"/v1/members/me/tickets/{tid}")
    assert status == 404


def test_erasure_removes_a_stated_name_from_every_ticket_of_the_member() -> None:
    # The name is stated once, in one ticket; elsewhere it appears with no cue before it.
    first = open_ticket("我叫王小明，上周在三楼丢了钱包")["ticket_id"]
    second = open_ticket("王小明的积分到现在还没到账，请帮忙查一下")["ticket_id"]
    staff_call("POST", f"/v1/admin/tickets/{second}/replies", body={"text": "王小明会员您好，已为您核查"})
    staff_call("POST", f"/v1/admin/tickets/{first}/replies", body={"text": "Dear Ms. Wang, we found it"})
    erased = MemberErased.model_validate(sample_data("MemberErased", {"member_id": MEMBER}))
    assert _deliver(erased) == {"batchItemFailures": []}
    text = json.dumps([i for i in items() if i.get("entity") in ("ticket", "message")], ensure_ascii=False)
    for secret in ("王小明", "王小", "Wang"):
        assert secret not in text, secret
    by_id = {t["ticket_id"]: t for t in tickets()}
    assert by_id[second]["description"] == "[name]的积分到现在还没到账，请帮忙查一下"
    assert {first, second} == set(by_id) and all(t["erased"] for t in by_id.values())


def test_points_outcomes_are_noted_on_the_ticket() -> None:
    tid = open_ticket("上周六消费了800元，积分到现在还没到账")["ticket_id"]
    staff_call(
        "POST", f"/v1/admin/tickets/{tid}/points-adjustments", body={"points": 800, "reason": "漏积分了"}
    )
    staff_call(
        "POST", f"/v1/admin/tickets/{tid}/points-adjustments", body={"points": 50, "reason": "补偿积分"}
    )
    adjusted = PointsAdjusted.model_validate(
        sample_data("PointsAdjusted", {"member_id": MEMBER, "ticket_id": tid, "points": 800})
    )
    rejected = PointsAdjustmentRejected.model_validate(
        sample_data("PointsAdjustmentRejected", {"member_id": MEMBER, "ticket_id": tid, "points": 50})
    )
    adjusted_event, rejected_event = contract_bus_event(adjusted), contract_bus_event(rejected)
    batch = sqs_event([adjusted_event, rejected_event])
    assert on_events.handler(batch, FakeContext()) == {"batchItemFailures": []}
    # Redelivered (same event ids): noted once.
    assert on_events.handler(sqs_event([adjusted_event]), FakeContext()) == {"batchItemFailures": []}
    _, staff = staff_call("GET", f"/v1/admin/tickets/{tid}")
    assert [r["status"] for r in staff["points_requests"]] == ["applied", "rejected"]
    public = [m for m in staff["messages"] if m["visibility"] == "public" and m["author_kind"] == "system"]
    assert len(public) == 1 and "+800" in public[0]["body"]
    assert outbox("NotificationRequested")[-1]["data"]["topic"] == "ticket_status"
    unrelated = PointsAdjusted.model_validate(sample_data("PointsAdjusted", {"ticket_id": None}))
    assert _deliver(unrelated) == {"batchItemFailures": []}


def test_a_scored_member_value_raises_later_tickets() -> None:
    scored = MemberProfileScored.model_validate(
        sample_data("MemberProfileScored", {"member_id": MEMBER, "value_level": "high"})
    )
    older = MemberProfileScored.model_validate(
        sample_data(
            "MemberProfileScored",
            {
                "member_id": MEMBER,
                "value_level": "low",
                "scored_at": datetime(2020, 1, 1, tzinfo=UTC).isoformat(),
            },
        )
    )
    assert _deliver(scored, older) == {"batchItemFailures": []}
    body = open_ticket("请问商场有没有充电宝租借")
    assert body["priority"] == "medium"  # an inquiry, one level up for a high-value member


def test_an_unknown_version_fails_only_its_record() -> None:
    good = contract_bus_event(
        MemberErased.model_validate(sample_data("MemberErased", {"member_id": "01HX0000000000000000000000"}))
    )
    bad = json.loads(json.dumps(good))
    bad["detail"]["metadata"]["event_version"] = 9
    result = on_events.handler(sqs_event([good, bad]), FakeContext())
    assert len(result["batchItemFailures"]) == 1


def test_ticket_opened_sample_is_valid_for_the_timers_consumer() -> None:
    TicketOpened.model_validate(sample_data("TicketOpened"))


def test_an_export_request_writes_the_members_tickets(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.events.contracts import MemberExportRequested

    aws("s3").create_bucket(Bucket="exports")
    monkeypatch.setenv("MEMBER_EXPORTS_BUCKET", "exports")
    tid = open_ticket("停车场收费员态度很差")["ticket_id"]
    staff_call("POST", f"/v1/admin/tickets/{tid}/replies", body={"text": "内部：已核实", "internal": True})
    staff_call("POST", f"/v1/admin/tickets/{tid}/replies", body={"text": "您好，已处理"})
    request = MemberExportRequested.model_validate(
        sample_data("MemberExportRequested", {"member_id": MEMBER, "expires_at": "2026-11-30T02:00:00Z"})
    )
    assert _deliver(request) == {"batchItemFailures": []}
    raw = aws("s3").get_object(Bucket="exports", Key=f"{request.object_prefix}tickets.json")["Body"].read()
    part = json.loads(raw)
    assert (part["format"], part["service"], part["member_id"]) == (
        "mallcrm.member-export-part.v1",
        "tickets",
        MEMBER,
    )
    [ticket] = part["data"]["tickets"]
    assert ticket["ticket_id"] == tid
    assert [m["text"] for m in ticket["messages"]] == [
        "停车场收费员态度很差",
        "您好，已处理",
    ]  # no internal note

    other = MemberExportRequested.model_validate(
        sample_data(
            "MemberExportRequested",
            {
                "member_id": "01HX0000000000000000000001",
                "expires_at": "2026-11-30T02:00:00Z",
                "object_prefix": "exports/other/",
            },
        )
    )
    assert _deliver(other) == {"batchItemFailures": []}
    empty = json.loads(
        aws("s3").get_object(Bucket="exports", Key="exports/other/tickets.json")["Body"].read()
    )
    assert (empty["data"], empty["note"]) == (None, "no data")


@pytest.mark.usefixtures("sla_env")
def test_a_reopened_ticket_gets_new_timers_and_a_resolved_one_closes_after_the_window(
    tickets_env: Clock,
) -> None:
    tid = open_ticket()["ticket_id"]
    staff_call("POST", f"/v1/admin/tickets/{tid}/replies", body={"text": "您好，已处理"})
    staff_call("POST", f"/v1/admin/tickets/{tid}/resolve", body={})
    resolved = outbox("TicketResolved")[-1]
    assert sla_timers.handler(sqs_event([_bus_event("TicketResolved", resolved)]), FakeContext()) == {
        "batchItemFailures": []
    }
    close = next(s for s in _schedules() if "-cl-" in s["Name"])
    assert close["ScheduleExpression"] == "at(2026-11-30T02:00:00)"  # resolved + 7 days
    close_payload = json.loads(close["Target"]["Input"])

    tickets_env.advance(days=2)
    member_call("POST", f"/v1/members/me/tickets/{tid}/messages", {"text": "问题又出现了"})
    reopened = [e for e in outbox("TicketAssigned") if e["data"]["ticket_id"] == tid][-1]
    assert sla_timers.handler(sqs_event([_bus_event("TicketAssigned", reopened)]), FakeContext()) == {
        "batchItemFailures": []
    }
    resolution = [s["ScheduleExpression"] for s in _schedules() if "-rs-" in s["Name"]]
    assert "at(2026-11-25T10:00:00)" in resolution  # reopened at +2 days, high: 8 hours
    assert not [s for s in _schedules() if "-fr-" in s["Name"] and "2026-11-25" in s["ScheduleExpression"]]

    tickets_env.advance(days=6)
    assert sla_check.handler(close_payload, FakeContext()) == {"outcome": "not_closed"}  # reopened
    staff_call("POST", f"/v1/admin/tickets/{tid}/resolve", body={})
    tickets_env.advance(days=7, seconds=1)
    assert sla_check.handler(close_payload, FakeContext()) == {"outcome": "closed"}
    _, staff = staff_call("GET", f"/v1/admin/tickets/{tid}")
    assert staff["status"] == "closed"
    _, view = staff_call("GET", "/v1/admin/tickets", query={"status": "closed"})
    assert view["counts"]["front_desk"].get("closed") == 1


@pytest.mark.usefixtures("sla_env")
def test_a_staff_priority_change_moves_the_sla_due_times_and_their_timers(tickets_env: Clock) -> None:
    # Regression: PATCH priority used to leave the due times of the old priority in place.
    tid = open_ticket("请问停车场几点开门")["ticket_id"]  # an inquiry: low, 8 h / 72 h
    _, before = staff_call("GET", f"/v1/admin/tickets/{tid}")
    assert (before["priority"], before["first_response_due_at"]) == ("low", "2026-11-23T10:00:00Z")
    tickets_env.advance(minutes=30)
    status, after = staff_call("PATCH", f"/v1/admin/tickets/{tid}", body={"priority": "urgent"})
    assert status == 200, after
    # Same start (the opening), the new priority's allowance: 15 min / 4 h.
    assert (after["first_response_due_at"], after["resolution_due_at"]) == (
        "2026-11-23T02:15:00Z",
        "2026-11-23T06:00:00Z",
    )
    assert after["sla_overdue"] is True  # the new first-response target has already passed
    # The queue view orders by the new due time, and TicketAssigned sets the timers again.
    assigned = [e for e in outbox("TicketAssigned") if e["data"]["assigned_by"] != "system"]
    assert [e["data"]["priority"] for e in assigned] == ["urgent"]
    assert sla_timers.handler(sqs_event([_bus_event("TicketAssigned", assigned[0])]), FakeContext()) == {
        "batchItemFailures": []
    }
    expressions = sorted(s["ScheduleExpression"] for s in _schedules())
    # The past first-response due time fires a minute from now (02:31), the resolution at 06:00.
    assert expressions == ["at(2026-11-23T02:31:00)", "at(2026-11-23T06:00:00)"]
    tickets_env.advance(minutes=1, seconds=1)
    payload = {"ticket_id": tid, "target": "first_response"}
    assert sla_check.handler(payload, FakeContext()) == {"outcome": "breached"}


@pytest.mark.usefixtures("sla_env")
def test_a_priority_change_keeps_a_met_first_response_and_a_later_due_time_is_rescheduled(
    tickets_env: Clock,
) -> None:
    tid = open_ticket()["ticket_id"]  # an angry complaint: high, 1 h / 8 h
    staff_call(
        "POST",
        f"/v1/admin/tickets/{tid}/replies",
        body={"text": "您好，正在处理", "status_after": "in_progress"},
    )
    status, after = staff_call("PATCH", f"/v1/admin/tickets/{tid}", body={"priority": "low"})
    assert status == 200, after
    assert (after["first_response_due_at"], after["resolution_due_at"]) == (
        "2026-11-23T03:00:00Z",  # met: unchanged
        "2026-11-26T02:00:00Z",  # 72 h from the opening instead of 8 h
    )
    # The old resolution timer (10:00) fires: not due any more, so it is set again at the new time.
    tickets_env.advance(hours=8, seconds=1)
    assert sla_check.handler({"ticket_id": tid, "target": "resolution"}, FakeContext()) == {
        "outcome": "rescheduled"
    }
    assert outbox("TicketSlaBreached") == []
