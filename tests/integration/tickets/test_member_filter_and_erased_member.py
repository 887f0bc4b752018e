# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Tickets on moto: the staff list filtered by member (the 360° view's link), unknown list
parameters refused, and no new ticket for a member tickets knows to be erased.

Regressions: ``GET /v1/admin/tickets?member_id=`` ignored ``member_id`` and listed every member's
tickets; an erased member's token, still accepted, opened a ticket linked to the erased id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.tickets.dal.tickets import erased_member_key
from services.tickets.handlers import on_events
from shared.events.contracts import ChurnRiskEscalated, MemberErased
from shared.events.samples import sample_data
from tests.integration.helpers import FakeContext, contract_bus_event, sqs_event
from tests.integration.tickets.support import (
    MEMBER,
    OTHER_MEMBER,
    Clock,
    items,
    member_call,
    open_ticket,
    staff_call,
    tickets,
)

pytestmark = pytest.mark.usefixtures("tickets_env")


def _deliver(*models: object) -> dict[str, Any]:
    result: dict[str, Any] = on_events.handler(
        sqs_event([contract_bus_event(m) for m in models]), FakeContext()
    )
    return result


def _open_for(member_id: str, text: str) -> str:
    status, body = member_call("POST", "/v1/members/me/tickets", {"text": text}, member_id=member_id)
    assert status == 201, body
    return str(body["ticket_id"])


def _ids(view: dict[str, Any]) -> list[str]:
    return [t["ticket_id"] for t in view["items"]]


def test_the_staff_list_filtered_by_member_shows_only_that_members_tickets(tickets_env: Clock) -> None:
    mine_low = _open_for(MEMBER, "请问商场有没有充电宝租借")
    tickets_env.advance(minutes=1)
    theirs = _open_for(OTHER_MEMBER, "保安态度恶劣，太过分了，我要投诉！！")
    tickets_env.advance(minutes=1)
    mine_high = _open_for(MEMBER, "店员态度太差了，还骂人，我要投诉！！")
    staff_call("POST", f"/v1/admin/tickets/{mine_low}/resolve", body={})

    status, view = staff_call("GET", "/v1/admin/tickets", query={"member_id": MEMBER, "status": "all"})
    assert status == 200, view
    assert _ids(view) == [mine_high, mine_low]  # working order: the complaint first
    assert theirs not in _ids(view)
    assert {t["member_id"] for t in view["items"]} == {MEMBER}
    assert view["counts"] == {"front_desk": {"open": 1, "resolved": 1}}  # hers, not the desk's

    # the default status (active) applies to the member's list as to the queue view
    _, active = staff_call("GET", "/v1/admin/tickets", query={"member_id": MEMBER})
    assert _ids(active) == [mine_high]
    _, resolved = staff_call("GET", "/v1/admin/tickets", query={"member_id": MEMBER, "status": "resolved"})
    assert _ids(resolved) == [mine_low]
    everything = {"member_id": MEMBER, "status": "all"}
    _, one = staff_call("GET", "/v1/admin/tickets", query={**everything, "limit": "1"})
    assert _ids(one) == [mine_high]
    _, other_queue = staff_call(
        "GET", "/v1/admin/tickets", query={"member_id": MEMBER, "status": "all", "queue": "parking"}
    )
    assert (_ids(other_queue), other_queue["counts"]) == ([], {})
    _, nobody = staff_call("GET", "/v1/admin/tickets", query={"member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9ZZ"})
    assert (nobody["items"], nobody["counts"]) == ([], {})
    # without member_id: the whole desk, as before (and status=all is every status)
    _, desk = staff_call("GET", "/v1/admin/tickets", query={"status": "all"})
    assert set(_ids(desk)) == {mine_low, mine_high, theirs}


def test_the_staff_list_refuses_unknown_or_malformed_filters() -> None:
    open_ticket()
    status, body = staff_call("GET", "/v1/admin/tickets", query={"member": MEMBER})
    assert status == 422, body
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["fields"] == [{"field": "query.member", "message": "Unknown query parameter."}]
    status, body = staff_call("GET", "/v1/admin/tickets", query={"member_id": "not-a-member-id"})
    assert status == 422, body
    # roles first: a member token or an unrelated staff role learns nothing about the parameters
    assert staff_call("GET", "/v1/admin/tickets", "marketer", query={"member": "x"})[0] == 403


def test_after_the_erasure_the_member_filter_finds_nothing_and_no_new_ticket_opens() -> None:
    before = _open_for(MEMBER, "我叫张三，手机13812345678，积分一直没到账")
    erased = MemberErased.model_validate(sample_data("MemberErased", {"member_id": MEMBER}))
    assert _deliver(erased) == {"batchItemFailures": []}
    _, view = staff_call("GET", "/v1/admin/tickets", query={"member_id": MEMBER, "status": "all"})
    assert view["items"] == []
    count = len(tickets())

    # an old token still accepted somewhere (the gateway's cache) cannot link a new ticket to her
    status, body = member_call("POST", "/v1/members/me/tickets", {"text": "积分为什么没了"})
    assert (status, body["error"]["code"]) == (404, "member_not_found")
    # nor can staff type her id, nor a late churn journey
    status, body = staff_call(
        "POST", "/v1/admin/tickets", body={"text": "来电投诉积分", "channel": "phone", "member_id": MEMBER}
    )
    assert (status, body["error"]["code"]) == (404, "member_not_found")
    churn = ChurnRiskEscalated.model_validate(sample_data("ChurnRiskEscalated", {"member_id": MEMBER}))
    assert _deliver(churn) == {"batchItemFailures": []}
    assert len(tickets()) == count
    assert not [t for t in tickets() if t.get("member_id") == MEMBER]
    assert [t["ticket_id"] for t in tickets() if t.get("erased")] == [before]

    # the tombstone holds no member id; a re-delivered erasure is harmless; others are untouched
    # (outbox items are left out: the stream publisher deletes them once published, not run here)
    kept = [i for i in items() if i.get("entity") != "outbox"]
    assert MEMBER not in json.dumps(kept, ensure_ascii=False, default=repr)
    (tombstone,) = [i for i in items() if i.get("entity") == "member_erased"]
    assert {k: tombstone[k] for k in ("pk", "sk")} == erased_member_key(MEMBER)
    assert set(tombstone) == {"pk", "sk", "entity"}
    assert _deliver(erased) == {"batchItemFailures": []}
    assert _open_for(OTHER_MEMBER, "请问停车怎么收费")
