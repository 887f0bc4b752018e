# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Erased members' tokens and the 360° view's tickets link, through the local cloud on the real
template (front door → MemberAuthorizerFunction → the services).

Three shoppers register and each opens a ticket. Staff open the first shopper's 360° view and
follow its tickets link: only her tickets are listed. Then staff erase the first shopper, and the
third erases herself. From that moment the tokens they held are refused at the front door (403,
as for a revoked token) on loyalty's ``GET /v1/members/me/points`` and on tickets'
``POST /v1/members/me/tickets`` — no ticket is opened for them — while the second shopper's token
works on both. The member's own erasure cannot be repeated with the voided token; staff's can
(it finishes any clean-up left).

Regressions: the erased member's token was accepted for up to its hour (the erasure tombstone
had no ``tokens_valid_after`` and the authorizer read nothing else), and the tickets link listed
every member's tickets (the list ignored ``member_id``).
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
ADMIN = "erase.admin"
AGENT = "erase.agent"
CONSENTS = [{"purpose": "marketing", "channel": "inbox", "granted": True, "text_version": "mkt-1"}]
POINTS = "/v1/members/me/points"
TICKETS = "/v1/members/me/tickets"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _call(cloud: LocalCloud, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"}
    raw = b""
    if body is not None:
        headers["content-type"] = "application/json"
        raw = json.dumps(body).encode()
    status, _, answer = cloud.http(method, path, headers, raw)
    return status, json.loads(answer) if answer else None


def _ticket_rows(cloud: LocalCloud) -> list[dict[str, Any]]:
    from shared.dynamo import from_item

    ddb, table = cloud.client("dynamodb"), cloud.physical_id("TicketsTable")
    rows: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:  # a Scan of the local table, in a test only
        page = ddb.scan(**kwargs)
        rows += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return [r for r in rows if r.get("entity") == "ticket"]
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="module")
def facts() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    try:
        found: dict[str, Any] = {"cloud": cloud}
        flow._create_staff_user(cloud, ADMIN, "admin")
        flow._create_staff_user(cloud, AGENT, "service_agent")
        shoppers = []
        for n, (openid, phone, text) in enumerate(
            (
                ("o-erase-a", "13900000031", "请问停车场几点关门"),
                ("o-erase-b", "13900000032", "我的积分一直没到账，请帮忙查一下"),
                ("o-erase-c", "13900000033", "请问有没有母婴室"),
            )
        ):
            status, member = flow.register(cloud, openid, phone, CONSENTS, name=f"会员{n}")
            assert status == 201, member
            token = member["token"]
            status, ticket = _call(cloud, "POST", TICKETS, token, {"text": text})
            assert status == 201, ticket
            mine = {"id": member["member"]["member_id"], "token": token, "ticket": ticket["ticket_id"]}
            shoppers.append(mine)
        cloud.settle()
        a, b, c = shoppers
        found["a"], found["b"], found["c"] = a, b, c
        admin, agent = flow.staff_token(cloud, ADMIN), flow.staff_token(cloud, AGENT)
        found["before"] = {
            "points_a": _call(cloud, "GET", POINTS, a["token"])[0],
            "points_c": _call(cloud, "GET", POINTS, c["token"])[0],
        }
        status, view = _call(cloud, "GET", f"/v1/admin/members/{a['id']}", agent)
        assert status == 200, view
        found["link"] = view["links"]["tickets"]
        found["linked"] = _call(cloud, "GET", found["link"], agent)

        reason = "written request #E-1"
        erase_a, erase_c = (f"/v1/admin/members/{m['id']}?reason={reason}" for m in (a, c))
        found["staff_erase"] = _call(cloud, "DELETE", erase_a, admin)[0]
        found["self_erase"] = _call(cloud, "DELETE", "/v1/members/me", c["token"])[0]
        # at once: before any consumer of MemberErased ran
        after: dict[str, Any] = {}
        tickets_before = len(_ticket_rows(cloud))
        for name in ("a", "c", "b"):
            token = shoppers["abc".index(name)]["token"]
            after[f"points_{name}"] = _call(cloud, "GET", POINTS, token)
            after[f"ticket_{name}"] = _call(cloud, "POST", TICKETS, token, {"text": "积分怎么没了"})
        after["new_tickets"] = len(_ticket_rows(cloud)) - tickets_before
        found["after"] = after
        cloud.settle()
        found["repeat_self"] = _call(cloud, "DELETE", "/v1/members/me", c["token"])[0]
        found["repeat_staff"] = _call(cloud, "DELETE", erase_c, admin)[0]
        found["link_after"] = _call(cloud, "GET", found["link"], agent)
        found["rows"] = _ticket_rows(cloud)
        yield found
    finally:
        cloud.stop()


def test_the_360_views_tickets_link_lists_only_that_members_tickets(facts: dict[str, Any]) -> None:
    a, b, c = facts["a"], facts["b"], facts["c"]
    assert facts["link"] == f"/v1/admin/tickets?member_id={a['id']}&status=all"
    status, listed = facts["linked"]
    assert status == 200, listed
    assert [t["ticket_id"] for t in listed["items"]] == [a["ticket"]]
    assert {t["member_id"] for t in listed["items"]} == {a["id"]}
    assert b["ticket"] not in json.dumps(listed) and c["ticket"] not in json.dumps(listed)
    assert sum(n for by_status in listed["counts"].values() for n in by_status.values()) == 1


def test_tokens_worked_before_the_erasure(facts: dict[str, Any]) -> None:
    assert facts["before"] == {"points_a": 200, "points_c": 200}
    assert (facts["staff_erase"], facts["self_erase"]) == (204, 204)


@pytest.mark.parametrize("who", ["a", "c"])  # erased by staff / by herself
def test_an_erased_members_old_token_is_refused_on_loyalty_and_tickets_at_once(
    facts: dict[str, Any], who: str
) -> None:
    after = facts["after"]
    assert after[f"points_{who}"][0] == 403, after[f"points_{who}"]
    assert after[f"ticket_{who}"][0] == 403, after[f"ticket_{who}"]


def test_no_ticket_was_opened_for_an_erased_member_and_others_are_untouched(facts: dict[str, Any]) -> None:
    after = facts["after"]
    assert after["points_b"][0] == 200, after["points_b"]
    assert after["ticket_b"][0] == 201, after["ticket_b"]
    assert after["new_tickets"] == 1  # the other shopper's only
    erased = {facts["a"]["id"], facts["c"]["id"]}
    assert not [r for r in facts["rows"] if r.get("member_id") in erased]


def test_only_staff_can_repeat_an_erasure_once_the_token_is_void(facts: dict[str, Any]) -> None:
    assert facts["repeat_self"] == 403
    assert facts["repeat_staff"] == 204


def test_after_the_erasure_the_link_lists_nothing(facts: dict[str, Any]) -> None:
    status, listed = facts["link_after"]
    assert (status, listed["items"], listed["counts"]) == (200, [], {})
