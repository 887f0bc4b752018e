# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Routing and staff work: operators' routing rules, the queue view (priority, then SLA due; with
counts from counters), workload-aware assignment, overrides that stay, points proposals."""

from __future__ import annotations

import pytest

from tests.integration.tickets.support import (
    MEMBER,
    Clock,
    items,
    open_ticket,
    outbox,
    staff_call,
)

pytestmark = pytest.mark.usefixtures("tickets_env")


def test_an_operator_rule_routes_before_the_defaults() -> None:
    status, rule = staff_call(
        "PUT",
        "/v1/admin/ticket-routing-rules/store-0101-desk",
        "admin",
        {
            "position": 10,
            "match": {"store_id": "store-0101", "category": "complaint"},
            "queue": "tenant:uniqlo",
        },
    )
    assert status == 200, rule
    status, body = staff_call(
        "PUT",
        "/v1/admin/ticket-routing-rules/x",
        "service_agent",
        {"position": 1, "match": {"category": "inquiry"}, "queue": "parking"},
    )
    assert (status, body["error"]["code"]) == (403, "missing_role")
    routed = open_ticket("店员态度太差了，我要投诉", store_id="store-0101")
    other = open_ticket("店员态度太差了，我要投诉", store_id="store-0999")
    _, a = staff_call("GET", f"/v1/admin/tickets/{routed['ticket_id']}")
    _, b = staff_call("GET", f"/v1/admin/tickets/{other['ticket_id']}")
    assert (a["queue"], a["classification"]["routed_by"]) == ("tenant:uniqlo", "rule:store-0101-desk")
    assert b["queue"] == "front_desk"
    status, _ = staff_call("DELETE", "/v1/admin/ticket-routing-rules/store-0101-desk", "admin")
    assert status == 204
    status, body = staff_call("DELETE", "/v1/admin/ticket-routing-rules/store-0101-desk", "admin")
    assert (status, body["error"]["code"]) == (404, "routing_rule_not_found")


def test_the_queue_view_sorts_by_priority_then_due_time_and_counts(tickets_env: Clock) -> None:
    low = open_ticket("请问商场有没有充电宝租借")["ticket_id"]
    tickets_env.advance(minutes=1)
    high_1 = open_ticket("店员态度太差了，还骂人，我要投诉！！")["ticket_id"]
    tickets_env.advance(minutes=1)
    high_2 = open_ticket("保安态度恶劣，太过分了，我要投诉！！")["ticket_id"]
    status, view = staff_call("GET", "/v1/admin/tickets", query={"queue": "front_desk"})
    assert status == 200, view
    assert [t["ticket_id"] for t in view["items"]] == [high_1, high_2, low]
    assert view["counts"] == {"front_desk": {"open": 3}}

    staff_call("POST", f"/v1/admin/tickets/{high_1}/replies", body={"text": "正在处理"})
    _, view = staff_call("GET", "/v1/admin/tickets", query={"status": "pending_member"})
    assert [t["ticket_id"] for t in view["items"]] == [high_1]
    _, view = staff_call("GET", "/v1/admin/tickets")
    # high_1 was answered: its next due time is its resolution target, later than high_2's first response.
    assert [t["ticket_id"] for t in view["items"]] == [high_2, high_1, low]
    assert view["counts"]["front_desk"] == {"open": 2, "pending_member": 1}
    status, _ = staff_call("GET", "/v1/admin/tickets", query={"status": "bogus"})
    assert status == 422


def test_assignment_goes_to_the_least_loaded_agent_of_the_queue() -> None:
    for agent, queues in (("agent-a", ["front_desk"]), ("agent-b", ["front_desk", "parking"])):
        status, body = staff_call(
            "PUT", f"/v1/admin/ticket-agents/{agent}", "admin", {"display_name": agent, "queues": queues}
        )
        assert status == 200, body
    first = open_ticket("请问商场几点关门")["ticket_id"]
    second = open_ticket("请问有没有母婴室")["ticket_id"]
    third = open_ticket("请问哪里可以寄存行李")["ticket_id"]
    chosen = []
    for tid in (first, second):
        status, body = staff_call("POST", f"/v1/admin/tickets/{tid}/assign", body={})
        assert status == 200, body
        chosen.append(body["agent_id"])
    assert sorted(chosen) == ["agent-a", "agent-b"]
    status, body = staff_call("POST", f"/v1/admin/tickets/{third}/assign", body={"agent_id": "agent-a"})
    assert (status, body["agent_id"]) == (200, "agent-a")
    assigned = outbox("TicketAssigned")[-1]["data"]
    assert (assigned["agent_id"], assigned["assigned_by"]) == ("agent-a", "staff-service_agent")

    staff_call("POST", f"/v1/admin/tickets/{first}/resolve", body={})
    agents = {i["agent_id"]: i["open_count"] for i in items() if i.get("entity") == "agent"}
    assert sum(agents.values()) == 2 and agents["agent-a"] in (1, 2)

    before = items()
    status, body = staff_call("POST", f"/v1/admin/tickets/{second}/assign", body={"agent_id": "ghost"})
    assert (status, body["error"]["code"]) == (422, "agent_not_found")
    status, body = staff_call("POST", f"/v1/admin/tickets/{second}/assign", body={"queue": "loyalty_desk"})
    assert (status, body["error"]["code"]) == (409, "no_agent_available")
    assert items() == before


def test_a_staff_override_is_kept_beside_the_suggestion() -> None:
    tid = open_ticket("请问积分怎么少了")["ticket_id"]
    status, body = staff_call(
        "PATCH",
        f"/v1/admin/tickets/{tid}",
        body={"category": "points_dispute", "priority": "high", "queue": "loyalty_desk"},
    )
    assert status == 200, body
    assert (body["category"], body["category_source"], body["priority"], body["priority_source"]) == (
        "points_dispute",
        "staff",
        "high",
        "staff",
    )
    assert body["classification"]["overrides"][0]["by"] == "staff-service_agent"
    assert body["classification"]["category"] in ("inquiry", "points_dispute")
    status, body = staff_call("PATCH", f"/v1/admin/tickets/{tid}", body={"category": "points_dispute"})
    assert (status, body["error"]["code"]) == (422, "nothing_to_change")


def test_a_points_dispute_proposes_an_adjustment_to_loyalty() -> None:
    tid = open_ticket("上周六消费了800元，积分到现在还没到账")["ticket_id"]
    status, body = staff_call(
        "POST",
        f"/v1/admin/tickets/{tid}/points-adjustments",
        body={"points": 800, "reason": "POS-2026-1 漏积分"},
    )
    assert status == 202, body
    assert body["points_requests"][0]["status"] == "pending_approval"
    event = outbox("PointsAdjustmentRequested")[0]["data"]
    assert (event["member_id"], event["points"], event["ticket_id"], event["requested_by"]) == (
        MEMBER,
        800,
        tid,
        "staff-service_agent",
    )
    assert event["reason"].startswith("points_dispute: ")
    before = items()
    status, body = staff_call(
        "POST", f"/v1/admin/tickets/{tid}/points-adjustments", body={"points": 0, "reason": "x y z"}
    )
    assert status == 422
    assert items() == before


def test_agents_are_listed_and_a_deactivated_agent_keeps_its_workload_but_gets_no_tickets() -> None:
    for agent, queues in (("agent-a", ["front_desk"]), ("agent-b", ["front_desk", "parking"])):
        staff_call(
            "PUT", f"/v1/admin/ticket-agents/{agent}", "admin", {"display_name": agent, "queues": queues}
        )
    tid = open_ticket("请问商场几点关门")["ticket_id"]
    staff_call("POST", f"/v1/admin/tickets/{tid}/assign", body={"agent_id": "agent-a"})
    status, listed = staff_call("GET", "/v1/admin/ticket-agents")
    assert status == 200, listed
    assert [(a["agent_id"], a["open_count"], a["active"]) for a in listed["items"]] == [
        ("agent-a", 1, True),
        ("agent-b", 0, True),
    ]
    _, parking = staff_call("GET", "/v1/admin/ticket-agents", query={"queue": "parking"})
    assert [a["agent_id"] for a in parking["items"]] == ["agent-b"]

    # Deactivating rewrites name, queues and flag, never the open-ticket count the tickets keep.
    status, body = staff_call(
        "PUT",
        "/v1/admin/ticket-agents/agent-a",
        "admin",
        {"display_name": "A", "queues": ["front_desk"], "active": False},
    )
    assert (status, body["active"], body["open_count"]) == (200, False, 1)
    other = open_ticket("请问有没有母婴室")["ticket_id"]
    status, body = staff_call("POST", f"/v1/admin/tickets/{other}/assign", body={})
    assert (status, body["agent_id"]) == (200, "agent-b")
    status, body = staff_call("POST", f"/v1/admin/tickets/{other}/assign", body={"agent_id": "agent-a"})
    assert (status, body["error"]["code"]) == (422, "agent_not_found")
    status, body = staff_call("GET", "/v1/admin/ticket-agents", "marketer")
    assert (status, body["error"]["code"]) == (403, "missing_role")
