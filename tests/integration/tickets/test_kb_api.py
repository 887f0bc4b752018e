# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Knowledge base: articles CRUD (optimistic versions), Chinese-aware search, suggestions on a new
ticket, automatic first answers (opening hours from the published article, reward points from
loyalty's live catalogue) that the member accepts or escalates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from services.tickets.handlers.routes import common
from tests.integration.tickets.support import (
    items,
    member_call,
    open_ticket,
    outbox,
    staff_call,
)

pytestmark = pytest.mark.usefixtures("tickets_env")

ARTICLES = [
    {
        "article_id": "opening-hours",
        "title": "商场营业时间",
        "body": "周一至周四 10:00-22:00，周五至周日 10:00-22:30，节假日另行通知。",
        "tags": ["营业时间"],
        "intent": "opening_hours",
    },
    {
        "article_id": "parking-fees",
        "title": "停车收费标准",
        "body": "首小时免费，之后每小时 5 元；金卡会员每天免费停车 3 小时。",
        "tags": ["停车"],
        "intent": "parking_fee",
    },
    {
        "article_id": "lost-found",
        "title": "失物招领",
        "body": "遗失物品请到一楼服务台登记，捡到的物品保存 30 天。",
        "tags": ["失物"],
    },
]


def _publish() -> None:
    for article in ARTICLES:
        status, body = staff_call("POST", "/v1/admin/kb-articles", body=article)
        assert status == 201, body


def test_articles_crud_with_versions() -> None:
    _publish()
    status, listed = staff_call("GET", "/v1/admin/kb-articles")
    assert status == 200 and [a["article_id"] for a in listed["items"]] == [
        "lost-found",
        "opening-hours",
        "parking-fees",
    ]
    status, again = staff_call("POST", "/v1/admin/kb-articles", body=ARTICLES[0])
    assert (status, again["error"]["code"]) == (409, "article_exists")
    change = {k: v for k, v in ARTICLES[2].items() if k != "article_id"} | {
        "version": 1,
        "body": "请到二楼服务台登记",
    }
    status, updated = staff_call("PUT", "/v1/admin/kb-articles/lost-found", body=change)
    assert (status, updated["version"]) == (200, 2)
    status, stale = staff_call("PUT", "/v1/admin/kb-articles/lost-found", body=change)
    assert (status, stale["error"]["code"]) == (409, "article_changed")
    status, _ = staff_call("DELETE", "/v1/admin/kb-articles/lost-found")
    assert status == 204
    status, gone = staff_call("GET", "/v1/admin/kb-articles/lost-found")
    assert (status, gone["error"]["code"]) == (404, "article_not_found")
    status, refused = staff_call("POST", "/v1/admin/kb-articles", "marketer", ARTICLES[2])
    assert (status, refused["error"]["code"]) == (403, "missing_role")


def test_search_ranks_by_segmented_text_and_sees_changes() -> None:
    _publish()
    status, found = member_call("GET", "/v1/kb/search", query={"q": "停车怎么收费"})
    assert status == 200, found
    assert found["items"][0]["article_id"] == "parking-fees"
    status, found = member_call("GET", "/v1/kb/search", query={"q": "东西遗失了在哪登记"})
    assert found["items"][0]["article_id"] == "lost-found"
    staff_call("DELETE", "/v1/admin/kb-articles/lost-found")
    _, found = member_call("GET", "/v1/kb/search", query={"q": "失物招领"})
    assert "lost-found" not in [i["article_id"] for i in found["items"]]
    status, _ = member_call("GET", "/v1/kb/search", query={"q": ""})
    assert status == 422


def test_a_common_question_gets_an_automatic_answer_the_member_accepts() -> None:
    _publish()
    body = open_ticket("请问商场周末几点关门？")
    assert body["status"] == "pending_member"
    assert body["auto_reply"]["intent"] == "opening_hours"
    assert [m["author_kind"] for m in body["messages"]] == ["member", "system"]
    assert "22:30" in body["messages"][1]["body"]
    assert body["suggested_articles"][0]["article_id"] == "opening-hours"
    assert outbox("NotificationRequested")[0]["data"]["topic"] == "ticket_reply"
    status, accepted = member_call(
        "POST", f"/v1/members/me/tickets/{body['ticket_id']}/auto-reply", {"action": "accept"}
    )
    assert (status, accepted["status"], accepted["resolution"]) == (200, "resolved", "auto_replied")
    resolved = outbox("TicketResolved")[0]["data"]
    assert (resolved["resolution"], resolved["resolved_by"]) == ("auto_replied", "system")
    status, again = member_call(
        "POST", f"/v1/members/me/tickets/{body['ticket_id']}/auto-reply", {"action": "accept"}
    )
    assert (status, again["error"]["code"]) == (409, "no_auto_reply")


def test_reward_questions_are_answered_from_loyaltys_live_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    body = open_ticket("兑换一张电影票需要多少积分？")
    answer = body["messages"][1]["body"]
    assert "电影票" in answer and "1500" in answer and "暂时缺货" in answer

    monkeypatch.setattr(
        common.Deps, "rewards", lambda self: [{"name": "电影票", "points_cost": 1200, "in_stock": True}]
    )
    body = open_ticket("兑换一张电影票需要多少积分？")
    assert "1200" in body["messages"][1]["body"]  # live: the new price, not stored text

    def down(self: object) -> list[Mapping[str, Any]]:
        raise RuntimeError("loyalty down")

    monkeypatch.setattr(common.Deps, "rewards", down)
    body = open_ticket("兑换一张电影票需要多少积分？")
    assert body["status"] == "open" and body["auto_reply"] is None  # a person answers


def test_the_member_can_escalate_to_a_person() -> None:
    _publish()
    body = open_ticket("停车费怎么收费？")
    assert body["auto_reply"]["intent"] == "parking_fee"
    status, escalated = member_call(
        "POST", f"/v1/members/me/tickets/{body['ticket_id']}/auto-reply", {"action": "escalate"}
    )
    assert (status, escalated["status"], escalated["auto_reply"]["state"]) == (200, "open", "escalated")
    assert outbox("TicketResolved") == []
    before = items()
    status, _ = member_call(
        "POST", f"/v1/members/me/tickets/{body['ticket_id']}/auto-reply", {"action": "later"}
    )
    assert status == 422
    assert items() == before
