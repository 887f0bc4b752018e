# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Intake: a member's ticket from the mini-program and staff recording a call, e-mail or social
message — classified, prioritised, routed, announced — and the refusals (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tickets.support import (
    MEMBER,
    OTHER_MEMBER,
    items,
    member_call,
    open_ticket,
    outbox,
    staff_call,
    tickets,
)

pytestmark = pytest.mark.usefixtures("tickets_env")


def test_an_angry_complaint_is_classified_prioritised_routed_and_announced() -> None:
    body = open_ticket(
        "三楼奶茶店的店员态度太差了，我只是问价格就被骂，必须给我一个说法！！",
        store_id="store-0301",
        tenant_id="tenant-teashop",
        attachments=[f"uploads/members/{MEMBER}/photo-1.jpg"],
    )
    assert (body["category"], body["status"]) == ("complaint", "open")
    assert body["priority"] == "high"
    assert body["attachments"] == [f"uploads/members/{MEMBER}/photo-1.jpg"]
    assert [m["author_kind"] for m in body["messages"]] == ["member"]

    status, staff = staff_call("GET", f"/v1/admin/tickets/{body['ticket_id']}")
    assert status == 200, staff
    assert staff["queue"] == "tenant:tenant-teashop"
    assert staff["classification"]["sentiment"] == "negative"
    assert staff["classification"]["angry"] is True
    assert float(staff["classification"]["confidence"]) > 0.5
    assert staff["category_source"] == "auto"
    assert staff["member_id"] == MEMBER

    opened = outbox("TicketOpened")
    assert len(opened) == 1
    data = opened[0]["data"]
    assert (data["category"], data["priority"], data["channel"], data["queue"]) == (
        "complaint",
        "high",
        "mini_program",
        "tenant:tenant-teashop",
    )
    assigned = outbox("TicketAssigned")[0]["data"]
    assert (assigned["queue"], assigned["agent_id"], assigned["assigned_by"]) == (
        "tenant:tenant-teashop",
        None,
        "system",
    )


def test_the_members_own_category_is_kept_and_the_suggestion_shown_beside_it() -> None:
    body = open_ticket("上周消费了800元积分还没到账", category="inquiry")
    _, staff = staff_call("GET", f"/v1/admin/tickets/{body['ticket_id']}")
    assert (staff["category"], staff["category_source"]) == ("inquiry", "member")
    assert staff["classification"]["category"] == "points_dispute"


def test_points_disputes_go_to_the_loyalty_desk_and_parking_to_parking() -> None:
    dispute = open_ticket("上周六消费了800元，积分到现在还没到账")
    parking = open_ticket("停车场出口抬杆不起，排了很久的队，太过分了")
    _, d = staff_call("GET", f"/v1/admin/tickets/{dispute['ticket_id']}")
    _, p = staff_call("GET", f"/v1/admin/tickets/{parking['ticket_id']}")
    assert (d["category"], d["queue"]) == ("points_dispute", "loyalty_desk")
    assert p["queue"] == "parking"


def test_english_text_is_classified_too() -> None:
    body = open_ticket("I would like to return these shoes, they are the wrong size. I have the receipt.")
    assert body["category"] == "after_sales"


def test_a_high_value_member_is_served_first() -> None:
    from datetime import UTC, datetime

    from services.tickets.dal.tickets import DynamoTicketsRepository
    from tests.integration.tickets.support import TABLE

    DynamoTicketsRepository(TABLE).record_value_level(MEMBER, "high", datetime(2026, 11, 22, tzinfo=UTC))
    body = open_ticket("三楼奶茶店的店员态度太差了，我只是问价格就被骂，必须给我一个说法！！")
    assert body["priority"] == "urgent"
    assert outbox("TicketOpened")[0]["data"]["priority"] == "high"  # v1 levels
    assert outbox("TicketOpened")[0]["data"]["priority_level"] == "urgent"


def test_staff_record_a_social_media_message_for_a_member() -> None:
    status, body = staff_call(
        "POST",
        "/v1/admin/tickets",
        "store_staff",
        {"member_id": MEMBER, "channel": "social", "text": "微博私信：停车费怎么收费？"},
    )
    assert status == 201, body
    assert (body["channel"], body["member_id"]) == ("social", MEMBER)
    data = outbox("TicketOpened")[0]["data"]
    assert (data["channel"], data["recorded_channel"]) == ("staff", "social")
    status, mine = member_call("GET", "/v1/members/me/tickets")
    assert status == 200 and [t["ticket_id"] for t in mine["items"]] == [body["ticket_id"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": ""}, "validation_failed"),
        ({"text": "   "}, "validation_failed"),
        ({"text": "很" * 2001}, "validation_failed"),
        ({"text": "投诉", "category": "billing"}, "validation_failed"),
        ({"text": "投诉", "attachments": ["../../etc/passwd", "x"]}, "validation_failed"),
        ({"text": "投诉", "attachments": [f"k{i}" for i in range(6)]}, "validation_failed"),
        ({"text": "投诉", "priority": "urgent"}, "validation_failed"),
        # Attachment keys outside the member's own upload prefix (another member's, sub-folders, ..).
        (
            {"text": "投诉", "attachments": [f"uploads/members/{OTHER_MEMBER}/a.jpg"]},
            "attachment_not_allowed",
        ),
        ({"text": "投诉", "attachments": ["uploads/2026/11/photo-1.jpg"]}, "attachment_not_allowed"),
        ({"text": "投诉", "attachments": [f"uploads/members/{MEMBER}/../x.jpg"]}, "attachment_not_allowed"),
        ({"text": "投诉", "attachments": [f"uploads/members/{MEMBER}/a/b.jpg"]}, "attachment_not_allowed"),
        ({"text": "投诉", "attachments": [f"uploads/members/{MEMBER}/.hidden"]}, "attachment_not_allowed"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(body: dict[str, Any], code: str) -> None:
    status, answer = member_call("POST", "/v1/members/me/tickets", body)
    assert (status, answer["error"]["code"]) == (422, code)
    assert items() == []


def test_callers_who_may_not_open_are_refused() -> None:
    status, answer = member_call("POST", "/v1/members/me/tickets", {"text": "投诉"}, member_id=None)
    assert (status, answer["error"]["code"]) == (403, "member_not_registered")
    status, answer = staff_call("POST", "/v1/members/me/tickets", body={"text": "投诉"})
    assert (status, answer["error"]["code"]) == (403, "members_only")
    status, answer = staff_call(
        "POST", "/v1/admin/tickets", "marketer", {"channel": "phone", "text": "电话投诉"}
    )
    assert (status, answer["error"]["code"]) == (403, "missing_role")
    assert items() == []


def test_another_members_ticket_is_not_found() -> None:
    body = open_ticket()
    path = f"/v1/members/me/tickets/{body['ticket_id']}"
    status, answer = member_call("GET", path, member_id=OTHER_MEMBER)
    assert (status, answer["error"]["code"]) == (404, "ticket_not_found")
    before = items()
    status, answer = member_call("POST", f"{path}/messages", {"text": "我也要说"}, member_id=OTHER_MEMBER)
    assert (status, answer["error"]["code"]) == (404, "ticket_not_found")
    assert items() == before
    status, mine = member_call("GET", "/v1/members/me/tickets", member_id=OTHER_MEMBER)
    assert mine["items"] == []


def test_classification_failure_never_blocks_intake(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.tickets.logic import classify as classifier

    def broken(text: str) -> None:
        raise RuntimeError("lexicon missing")

    monkeypatch.setattr(classifier, "classify", broken)
    body = open_ticket("随便说点什么")
    _, staff = staff_call("GET", f"/v1/admin/tickets/{body['ticket_id']}")
    assert staff["classification"]["status"] == "unclassified"
    assert (staff["category"], staff["priority"], staff["queue"]) == ("inquiry", "low", "front_desk")
    assert len(tickets()) == 1


def test_attachment_keys_must_be_the_callers_own_uploads() -> None:
    tid = open_ticket(attachments=[f"uploads/members/{MEMBER}/receipt.png"])["ticket_id"]
    before = items()
    status, answer = member_call(
        "POST",
        f"/v1/members/me/tickets/{tid}/messages",
        {"text": "补充照片", "attachments": [f"uploads/members/{MEMBER}/ok.jpg", "uploads/staff/x/y.jpg"]},
    )
    assert (status, answer["error"]["code"]) == (422, "attachment_not_allowed")
    assert [f["field"] for f in answer["error"]["fields"]] == ["attachments.1"]
    assert items() == before
    # Staff attach what they uploaded themselves, on a recorded ticket and on a reply.
    status, answer = staff_call(
        "POST",
        "/v1/admin/tickets",
        body={"channel": "email", "text": "邮件投诉", "attachments": [f"uploads/members/{MEMBER}/a.jpg"]},
    )
    assert (status, answer["error"]["code"]) == (422, "attachment_not_allowed")
    status, answer = staff_call(
        "POST",
        f"/v1/admin/tickets/{tid}/replies",
        body={"text": "请看附件", "attachments": ["uploads/staff/staff-service_agent/guide.pdf"]},
    )
    assert status == 200, answer
    assert items() != before


def test_a_tenant_queue_named_by_an_uppercase_tenant_id_can_be_listed_and_staffed() -> None:
    # Regression: routing names the queue after the tenant id (``tenant:T-UNIQLO``), but queue
    # names accepted only lower case, so the queue could be neither filtered nor given an agent.
    body = open_ticket(
        "买的外套第二天就开线了，质量太差，要求退货！", store_id="store-0201", tenant_id="T-UNIQLO"
    )
    status, listed = staff_call("GET", "/v1/admin/tickets", query={"queue": "tenant:T-UNIQLO"})
    assert status == 200, listed
    assert [t["ticket_id"] for t in listed["items"]] == [body["ticket_id"]]
    status, agent = staff_call(
        "PUT",
        "/v1/admin/ticket-agents/uniqlo.desk",
        "admin",
        {"display_name": "Uniqlo", "queues": ["tenant:T-UNIQLO"]},
    )
    assert status in (200, 201), agent
