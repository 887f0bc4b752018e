# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Flow 6 through the local cloud on the real template, on the virtual clock.

A member opens an angry complaint in the mini-program; it is classified and auto-prioritised
(high), routed, its SLA timers are created as one-time Scheduler schedules; nobody answers within
the hour, the first-response timer fires and the ticket escalates (TicketSlaBreached, urgent,
supervisor queue); an agent finds it at the top of the supervisor queue, answers (the member is
notified through contract C), resolves it; the member rates it; TicketResolved and SurveyAnswered
reach members, and the member's 360° view shows the complaint and the last CSAT. Nothing ends in
a dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
AGENT = "tickets.agent"
ADMIN = "tickets.admin"
COMPLAINT = "三楼奶茶店的店员态度太差了，我只是问了一下价格就被骂，必须给我一个说法！！"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _call(cloud: LocalCloud, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"}
    raw = b""
    if body is not None:
        headers["content-type"] = "application/json"
        raw = json.dumps(body).encode()
    status, _, answer = cloud.http(method, path, headers, raw)
    return status, json.loads(answer) if answer else None


def _events(cloud: LocalCloud, detail_type: str) -> list[dict[str, Any]]:
    return [e for e in cloud.events if e.get("detail-type") == detail_type]


@pytest.fixture(scope="module")
def flow6() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    try:
        facts: dict[str, Any] = {"cloud": cloud}
        flow._create_staff_user(cloud, AGENT, "service_agent")
        flow._create_staff_user(cloud, ADMIN, "admin")
        consents = [{"purpose": "marketing", "channel": "wechat", "granted": True, "text_version": "mkt-1"}]
        status, member = flow.register(cloud, "o-tickets-1", "13900000077", consents, name="赵敏")
        assert status == 201, member
        token, member_id = member["token"], member["member"]["member_id"]
        facts["member_id"] = member_id
        agent = flow.staff_token(cloud, AGENT)
        admin = flow.staff_token(cloud, ADMIN)
        cloud.settle()

        facts["opened"] = _call(cloud, "POST", "/v1/members/me/tickets", token, {"text": COMPLAINT})
        ticket_id = facts["opened"][1]["ticket_id"]
        cloud.settle()
        facts["schedules"] = [
            s["Name"]
            for s in cloud.client("scheduler").list_schedules()["Schedules"]
            if ticket_id in s["Name"]
        ]
        facts["before_breach"] = _call(cloud, "GET", f"/v1/admin/tickets/{ticket_id}", agent)

        cloud.advance(61 * 60)  # nobody answered within the hour
        cloud.settle()
        agent, admin = flow.staff_token(cloud, AGENT), flow.staff_token(cloud, ADMIN)  # tokens live 1 h
        status, login = flow.wechat_login(cloud, "o-tickets-1")
        assert status == 200, login
        token = login["token"]
        facts["after_breach"] = _call(cloud, "GET", f"/v1/admin/tickets/{ticket_id}", agent)
        facts["supervisor_queue"] = _call(cloud, "GET", "/v1/admin/tickets?queue=supervisor", agent)

        facts["reply"] = _call(
            cloud,
            "POST",
            f"/v1/admin/tickets/{ticket_id}/replies",
            agent,
            {"text": "您好，非常抱歉，店长已向您致歉并补偿饮品券一张。"},
        )
        cloud.advance(10 * 60)
        facts["resolve"] = _call(cloud, "POST", f"/v1/admin/tickets/{ticket_id}/resolve", agent, {})
        cloud.settle()
        facts["member_view"] = _call(cloud, "GET", f"/v1/members/me/tickets/{ticket_id}", token)
        facts["survey"] = _call(
            cloud, "POST", f"/v1/members/me/tickets/{ticket_id}/survey", token, {"csat": 5}
        )
        cloud.settle()
        cloud.advance(24 * 3600)  # the resolution timer fires on a finished ticket: nothing happens
        cloud.settle()
        admin = flow.staff_token(cloud, ADMIN)
        facts["profile"] = _call(cloud, "GET", f"/v1/admin/members/{member_id}", admin)
        facts["metrics"] = _call(cloud, "GET", "/v1/admin/ticket-metrics", admin)
        facts["ticket_id"] = ticket_id
        yield facts
    finally:
        cloud.stop()


def test_the_complaint_is_opened_classified_and_auto_prioritised(flow6: dict[str, Any]) -> None:
    status, body = flow6["opened"]
    assert status == 201, body
    assert (body["category"], body["priority"], body["status"]) == ("complaint", "high", "open")
    status, staff = flow6["before_breach"]
    assert status == 200, staff
    assert staff["classification"]["angry"] is True and staff["queue"] == "front_desk"
    assert sorted(n.rsplit("-", 2)[1] for n in flow6["schedules"]) == ["fr", "rs"]


def test_the_missed_first_response_escalates_on_the_virtual_clock(flow6: dict[str, Any]) -> None:
    status, staff = flow6["after_breach"]
    assert status == 200, staff
    assert (staff["priority"], staff["queue"], staff["sla_breaches"]) == (
        "urgent",
        "supervisor",
        ["first_response"],
    )
    breached = _events(flow6["cloud"], "TicketSlaBreached")
    assert len(breached) == 1
    assert breached[0]["detail"]["data"]["ticket_id"] == flow6["ticket_id"]
    status, queue = flow6["supervisor_queue"]
    assert status == 200 and queue["items"][0]["ticket_id"] == flow6["ticket_id"]
    assert queue["counts"]["supervisor"] == {"open": 1}


def test_it_is_answered_resolved_and_surveyed(flow6: dict[str, Any]) -> None:
    assert flow6["reply"][0] == 200, flow6["reply"]
    assert flow6["resolve"][0] == 200 and flow6["resolve"][1]["status"] == "resolved"
    notifications = _events(flow6["cloud"], "NotificationRequested")
    assert [n["detail"]["data"]["topic"] for n in notifications] == ["ticket_reply", "survey_request"]
    status, view = flow6["member_view"]
    assert status == 200 and any("店长" in m["body"] for m in view["messages"])
    status, surveyed = flow6["survey"]
    assert (status, surveyed["status"]) == (200, "closed")
    assert len(_events(flow6["cloud"], "TicketResolved")) == 1
    assert len(_events(flow6["cloud"], "SurveyAnswered")) == 1
    assert len(_events(flow6["cloud"], "TicketSlaBreached")) == 1  # the resolution timer found it done


def test_the_result_is_in_the_members_360_view(flow6: dict[str, Any]) -> None:
    status, profile = flow6["profile"]
    assert status == 200, profile
    stats = profile["stats"]
    assert (stats["complaint_count"], stats["tickets_resolved"], stats["last_csat"]) == (1, 1, 5)


def test_service_metrics_and_no_dead_letters(flow6: dict[str, Any]) -> None:
    status, metrics = flow6["metrics"]
    assert status == 200
    assert metrics["queue"]["supervisor"]["csat_average"] == 5.0
    assert metrics["queue"]["front_desk"]["sla_breaches"] == 1
    cloud = flow6["cloud"]
    sqs = cloud.client("sqs")
    for logical_id in (
        "TicketsSlaTimersDLQ",
        "TicketsSlaDLQ",
        "TicketsStreamDLQ",
        "MembersActivityEventsDLQ",
    ):
        url = sqs.get_queue_url(QueueName=cloud.physical_id(logical_id).rsplit("/", 1)[-1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0", logical_id
