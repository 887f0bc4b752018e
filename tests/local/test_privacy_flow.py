"""Erasure proven across services, through the local cloud on the real template.

Two shoppers register (WeChat login, phone, card, plate, consents) and buy; 92 days later both
are in a churn-warning episode. One of them exports her data, then erases herself. Afterwards no
service returns her personal data or resolves her: staff search by phone or plate finds no one,
her old token is refused at the front door (403) on every member route, logging in with her
WeChat account again finds no member, the members table holds no data key, lookup key or consent
of hers and no clear or sealed PII; loyalty keeps her purchase (accounting) under a pseudonym
only; campaigns keeps her episode's outcome under another pseudonym and nothing else of hers;
tickets keeps her complaint without her member id, name or phone. The other shopper is untouched.

Every service's outbox is empty of her afterwards: each stream publisher deletes an outbox item
once it is on the bus, so no already-published event waits for its 7-day TTL with her member id.

Two further gaps closed: the other shopper links a plate and then withdraws the car-plate consent
— staff search by that plate finds no one afterwards; and a till that cached the erased shopper's
member id posts a purchase after the erasure — it is recorded (201) as an erased member's purchase
under loyalty's pseudonym, its event carries no member id, and nothing ends in a dead-letter queue.
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
ADMIN = "privacy.admin"
MARKETER = "privacy.marketer"
PHONE_A, PHONE_B = "13900000011", "13900000022"
PLATE_A = "沪A99999"
PLATE_B = "粤B12345"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _scan(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    from shared.dynamo import from_item

    ddb = cloud.client("dynamodb")
    table = cloud.physical_id(logical_id)
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _get(cloud: LocalCloud, path: str, token: str) -> tuple[int, Any]:
    status, _, body = cloud.http("GET", path, {"authorization": f"Bearer {token}"}, b"")
    return status, json.loads(body) if body else None


def _json_call(cloud: LocalCloud, method: str, path: str, token: str, body: Any) -> tuple[int, Any]:
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    status, _, raw = cloud.http(method, path, headers, json.dumps(body).encode())
    return status, json.loads(raw) if raw else None


def _link_then_withdraw_plate(cloud: LocalCloud, token: str) -> dict[str, Any]:
    """The other shopper grants car_plates, links a plate, staff find her by it; she withdraws."""
    admin = flow.staff_token(cloud, ADMIN)
    plates = {"purpose": "car_plates", "granted": True, "text_version": "plates-1"}
    search = f"/v1/admin/members?plate={PLATE_B}"
    facts: dict[str, Any] = {}
    assert _json_call(cloud, "PUT", "/v1/members/me/consents", token, {"consents": [plates]})[0] == 200
    facts["patch"] = _json_call(cloud, "PATCH", "/v1/members/me", token, {"plates": [PLATE_B]})
    facts["found_before"] = _get(cloud, search, admin)
    facts["withdraw"] = _json_call(
        cloud, "PUT", "/v1/members/me/consents", token, {"consents": [{**plates, "granted": False}]}
    )
    facts["found_after"] = _get(cloud, search, admin)
    facts["me_after"] = _get(cloud, "/v1/members/me", token)
    cloud.settle()
    return facts


@pytest.fixture(scope="module")
def erased() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    try:
        facts: dict[str, Any] = {"cloud": cloud}
        key = flow._install_integration_key(cloud)
        flow._create_staff_user(cloud, ADMIN, "admin")
        flow._create_staff_user(cloud, MARKETER, "marketer")
        consents = [
            {"purpose": "marketing", "channel": "wechat", "granted": True, "text_version": "mkt-1"},
            {"purpose": "car_plates", "granted": True, "text_version": "plates-1"},
        ]
        status, login = flow.wechat_login(cloud, "o-privacy-a")
        assert status == 200
        status, _, raw = cloud.http(
            "POST",
            "/v1/members",
            {"content-type": "application/json", "authorization": f"Bearer {login['token']}"},
            json.dumps(
                {
                    "phone": PHONE_A,
                    "name": "王芳",
                    "card_number": "CARD778899",
                    "plates": [PLATE_A],
                    "consents": consents,
                }
            ).encode(),
        )
        assert status == 201, raw
        a = json.loads(raw)
        status, b = flow.register(cloud, "o-privacy-b", PHONE_B, consents[:1], name="李雷")
        assert status == 201, b
        facts["a"], facts["token_a"] = a["member"]["member_id"], a["token"]
        facts["b"] = b["member"]["member_id"]
        facts["plate_flow"] = _link_then_withdraw_plate(cloud, b["token"])
        for member, external_id in ((facts["a"], "priv-0001"), (facts["b"], "priv-0002")):
            status, _ = flow.post_signed_purchase(
                cloud, key, flow._purchase_body(member, external_id, cloud.clock.now(), 8_800)
            )
            assert status == 201
        cloud.settle()
        cloud.advance(92 * flow.DAY)  # both at high churn risk, both episodes observing
        status, login = flow.wechat_login(cloud, "o-privacy-a")  # her registration token has expired
        assert status == 200 and login["member_id"] == facts["a"]
        facts["token_a"] = login["token"]

        # Her complaint names her and her phone: tickets must not keep either after the erasure.
        status, ticket = _json_call(
            cloud,
            "POST",
            "/v1/members/me/tickets",
            facts["token_a"],
            {
                "text": f"我叫王芳, 电话{PHONE_A}. 上周的积分一直没到账, 请尽快处理。",
                "category": "points_dispute",
            },
        )
        assert status == 201, ticket
        facts["ticket_id"] = ticket["ticket_id"]
        cloud.settle()

        status, _, raw = cloud.http(
            "POST", "/v1/members/me/export", {"authorization": f"Bearer {facts['token_a']}"}, b""
        )
        facts["export"] = (status, json.loads(raw))
        status, _, _ = cloud.http(
            "DELETE", "/v1/members/me", {"authorization": f"Bearer {facts['token_a']}"}, b""
        )
        facts["delete_status"] = status
        cloud.settle()
        facts["repeat_delete_status"] = cloud.http(
            "DELETE", "/v1/members/me", {"authorization": f"Bearer {facts['token_a']}"}, b""
        )[0]
        # her token is void from the erasure on; staff can repeat it (finishing any clean-up left)
        admin_token = flow.staff_token(cloud, ADMIN)
        facts["staff_repeat_delete_status"] = cloud.http(
            "DELETE",
            f"/v1/admin/members/{facts['a']}?reason=repeat%20of%20her%20request",
            {"authorization": f"Bearer {admin_token}"},
            b"",
        )[0]
        cloud.settle()
        facts["late_purchase"] = flow.post_signed_purchase(
            cloud, key, flow._purchase_body(facts["a"], "priv-0003", cloud.clock.now(), 4_200)
        )
        cloud.settle()
        yield facts
    finally:
        cloud.stop()


def test_before_erasure_the_owner_exports_her_data_in_clear(erased):
    status, doc = erased["export"]
    assert status == 200, doc
    assert doc["profile"]["phone"] == "+86" + PHONE_A and doc["profile"]["name"] == "王芳"
    assert {i["kind"] for i in doc["identities"]} == {"openid", "phone", "card", "plate"}
    assert doc["statistics"]["purchase_count"] == 1


def test_erasure_answers_204_twice_and_publishes_member_erased_once(erased):
    cloud = erased["cloud"]
    statuses = (erased["delete_status"], erased["repeat_delete_status"], erased["staff_repeat_delete_status"])
    assert statuses == (204, 403, 204)  # the erasure voided her token; staff may repeat it
    events = [e["detail"]["data"] for e in cloud.events if e["detail-type"] == "MemberErased"]
    assert [e["member_id"] for e in events] == [erased["a"]]


def test_no_member_route_serves_the_old_token_any_more(erased):
    cloud, token = erased["cloud"], erased["token_a"]
    for path in ("/v1/members/me", "/v1/members/me/consents", "/v1/members/me/code"):
        status, body = _get(cloud, path, token)
        assert status == 403, (path, status, body)  # the erasure voided her token
    status, _, _ = cloud.http("POST", "/v1/members/me/export", {"authorization": f"Bearer {token}"}, b"")
    assert status == 403  # refused by the authorizer: the erasure voided every token of hers


def test_she_cannot_be_resolved_by_phone_plate_or_wechat_any_more(erased):
    cloud = erased["cloud"]
    admin = flow.staff_token(cloud, ADMIN)
    for query in (f"phone={PHONE_A}", "card=CARD778899"):
        status, found = _get(cloud, f"/v1/admin/members?{query}", admin)
        assert (status, found["members"]) == (200, []), query
    assert _get(cloud, f"/v1/admin/members/{erased['a']}", admin)[0] == 404
    status, found = _get(cloud, f"/v1/admin/members?phone={PHONE_B}", admin)
    assert [m["member_id"] for m in found["members"]] == [erased["b"]]  # the other member is still there
    status, login = flow.wechat_login(cloud, "o-privacy-a")
    assert status == 200 and login["registered"] is False and login["member_id"] is None


def test_members_keeps_no_key_lookup_consent_or_pii_of_hers(erased):
    cloud, a = erased["cloud"], erased["a"]
    items = _scan(cloud, "MembersTable")
    mine = [i for i in items if i["pk"] == f"MEMBER#{a}"]
    assert {i["sk"] for i in mine} <= {"PROFILE", "STATS"}
    assert [i["status"] for i in mine if i["sk"] == "PROFILE"] == ["erased"]
    assert not [i for i in items if str(i["pk"]).startswith("IDENT#") and i.get("member_id") == a]
    text = json.dumps(items, default=str, ensure_ascii=False)
    assert PHONE_A not in text and "王芳" not in text and PLATE_A not in text
    assert not [k for i in mine for k in i if k.endswith("_ct")]


def test_loyalty_keeps_her_purchase_under_a_pseudonym_only(erased):
    cloud, a = erased["cloud"], erased["a"]
    purchases = {p["external_id"]: p for p in _scan(cloud, "LoyaltyTable") if p.get("entity") == "purchase"}
    assert purchases["priv-0001"]["member_id"].startswith("anon_")
    assert purchases["priv-0001"]["amount_cents"] == 8_800
    assert purchases["priv-0002"]["member_id"] == erased["b"]
    assert not [p for p in purchases.values() if a in json.dumps(p, default=str)]


def test_campaigns_keeps_only_a_pseudonymous_outcome_and_the_journey_still_ends(erased):
    cloud, a = erased["cloud"], erased["a"]
    items = _scan(cloud, "CampaignsTable")
    assert not [i for i in items if a in json.dumps(i, default=str)]
    cloud.advance(15 * flow.DAY)
    status, page = _get(cloud, flow.EXECUTIONS, flow.staff_token(cloud, MARKETER))
    assert status == 200
    outcomes = {item["member_id"]: item["outcome"] for item in page["items"]}
    assert outcomes[erased["b"]] == "dormant"
    [alias] = [m for m in outcomes if m.startswith("anon_")]
    assert outcomes[alias] == "dormant"
    loyalty_alias = next(
        p["member_id"] for p in _scan(cloud, "LoyaltyTable") if p.get("external_id") == "priv-0001"
    )
    assert alias != loyalty_alias  # each service's pseudonym is its own: not linkable
    assert {e["status"] for e in cloud.executions("ChurnWarningStateMachine")} == {"SUCCEEDED"}


def test_tickets_keeps_her_ticket_pseudonymised_without_her_name_or_phone(erased):
    cloud, a = erased["cloud"], erased["a"]
    items = _scan(cloud, "TicketsTable")  # outbox items included: published ones are deleted
    text = json.dumps(items, ensure_ascii=False, default=repr)  # repr: the KB index parts are Binary
    assert erased["ticket_id"] in text  # the ticket is kept (the service desk's history) ...
    assert a not in text  # ... but not under her member id
    assert "王芳" not in text
    assert PHONE_A not in text


def test_no_outbox_item_in_any_service_table_still_holds_her_id(erased):
    """Each stream publisher deletes what it published under ``OUTBOX#<event_id>`` / ``OUTBOX``
    (shared/outbox.py): her events (MemberRegistered, PurchaseRecorded, TicketOpened,
    MemberErased…) went out and none of them waits for its 7-day TTL in a table. Campaigns keeps
    its per-member events in the member's partition (``MEMBER#<id>`` / ``OUTBOX#<event_id>``,
    dal/dispatch.outbox_ops) until their TTL, and her erasure deleted hers with the partition.
    Every outbox item is read, whatever its key; a Scan of the local table finds them in a test."""
    cloud, a = erased["cloud"], erased["a"]
    published = {e["detail"]["metadata"]["event_id"] for e in cloud.events}
    for table in ("MembersTable", "LoyaltyTable", "CampaignsTable", "TicketsTable"):
        outbox = [i for i in _scan(cloud, table) if i.get("entity") == "outbox"]
        assert not [i for i in outbox if a in json.dumps(i, default=repr)], table
        own = [i for i in outbox if str(i["pk"]).startswith("OUTBOX#")]
        assert not [i for i in own if i["event_id"] in published], table  # published → deleted
        kept = [i for i in outbox if not str(i["pk"]).startswith("OUTBOX#")]
        assert table == "CampaignsTable" or not kept, kept
        assert all(str(i["pk"]).startswith("MEMBER#") for i in kept), kept
    assert [e for e in cloud.events if e["detail"]["data"].get("member_id") == a]  # her events did go out
    # campaigns' events about her (MessageSuppressed) went out from her partition, gone with it
    campaigns = [e for e in cloud.events if e["source"] == "mallcrm.campaigns"]
    assert [e for e in campaigns if e["detail"]["data"]["member_id"] == a]


def test_nothing_ended_in_a_dead_letter_queue(erased):
    cloud = erased["cloud"]
    sqs = cloud.client("sqs")
    for logical_id, resource in cloud.provisioned.items():
        # A queue whose Condition is false locally (e.g. the SMS receipts' DLQ, AWS channels only) is
        # not created, so there is nothing to read.
        if logical_id.endswith("DLQ") and resource.type == "AWS::SQS::Queue" and resource.status != "skipped":
            attrs = sqs.get_queue_attributes(
                QueueUrl=resource.physical_id, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            assert attrs["ApproximateNumberOfMessages"] == "0", logical_id


def test_withdrawing_the_car_plate_consent_unlinks_the_plate(erased):
    facts, b = erased["plate_flow"], erased["b"]
    status, body = facts["patch"]
    assert status == 200 and body["plates"] == [PLATE_B], body
    status, found = facts["found_before"]
    assert status == 200 and [m["member_id"] for m in found["members"]] == [b]
    status, body = facts["withdraw"]
    assert status == 200 and body["changed"] == 1, body
    status, found = facts["found_after"]
    assert (status, found["members"]) == (200, [])
    status, me = facts["me_after"]
    assert status == 200 and me["plates"] == []
    items = _scan(erased["cloud"], "MembersTable")
    assert not [i for i in items if str(i["pk"]).startswith("IDENT#plate#") and i.get("member_id") == b]
    assert not [i for i in items if i["pk"] == f"MEMBER#{b}" and str(i["sk"]).startswith("IDENT#plate#")]


def test_a_purchase_for_the_erased_member_is_recorded_as_such(erased):
    cloud, a = erased["cloud"], erased["a"]
    status, answer = erased["late_purchase"]
    assert status == 201, answer
    assert answer["member_status"] == "erased" and answer["member_id"].startswith("anon_")
    late = next(p for p in _scan(cloud, "LoyaltyTable") if p.get("external_id") == "priv-0003")
    earlier = next(p for p in _scan(cloud, "LoyaltyTable") if p.get("external_id") == "priv-0001")
    assert late["member_id"] == earlier["member_id"] == answer["member_id"]
    recorded = [
        e["detail"]["data"]
        for e in cloud.events
        if e["detail-type"] == "PurchaseRecorded" and e["detail"]["data"]["external_id"] == "priv-0003"
    ]
    assert [r["member_id"] for r in recorded] == [None]
    stats = [i for i in _scan(cloud, "MembersTable") if i["pk"] == f"MEMBER#{a}" and i["sk"] == "STATS"]
    assert all(i.get("purchase_count", 0) <= 1 for i in stats)
