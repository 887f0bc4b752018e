"""Members' identity slice through the local cloud on the real template: the gateway's Lambda
authorizer (MemberToken) and Cognito JWT authorizer (StaffJwt), the fake WeChat login chosen by the
template's WeChatLoginAdapter=auto, KMS data keys, Secrets Manager, the outbox stream to the bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from infra.localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Identity-Passw0rd!"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    cloud = LocalCloud.start(ROOT)
    try:
        pool = cloud.user_pool
        assert pool is not None
        idp = cloud.client("cognito-idp")
        for username, group in (("id.agent", "service_agent"), ("id.store", "store_staff")):
            idp.admin_create_user(UserPoolId=pool.pool_id, Username=username, MessageAction="SUPPRESS")
            idp.admin_set_user_password(
                UserPoolId=pool.pool_id, Username=username, Password=PASSWORD, Permanent=True
            )
            idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=group)
        yield cloud
    finally:
        cloud.stop()


def http(
    cloud: LocalCloud, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    status, _, answer = cloud.http(
        method, path, headers, json.dumps(body).encode() if body is not None else b""
    )
    return status, json.loads(answer) if answer else None


def staff_token(cloud: LocalCloud, username: str) -> str:
    status, body = http(cloud, "POST", "/v1/auth/staff", body={"username": username, "password": PASSWORD})
    assert status == 200, body
    return str(body["id_token"])


@pytest.fixture(scope="module")
def member(cloud: LocalCloud) -> dict[str, Any]:
    status, login = http(cloud, "POST", "/v1/auth/wechat", body={"code": "local:o-identity-flow"})
    assert status == 200 and login["member_id"] is None, login
    status, registered = http(
        cloud,
        "POST",
        "/v1/members",
        login["token"],
        {
            "phone": "139 0000 2222",
            "name": "李小龙",
            "gender": "male",
            "birthday": "1988-11-27",
            "plates": ["沪C88888"],
            "consents": [
                {
                    "purpose": "marketing",
                    "channel": "wechat",
                    "granted": True,
                    "text_version": "consent-2026-11",
                },
                {"purpose": "car_plates", "granted": True, "text_version": "consent-2026-11"},
            ],
        },
    )
    assert status == 201, registered
    cloud.settle()
    return {"login": login, "token": registered["token"], "id": registered["member"]["member_id"]}


def test_member_routes_sit_behind_the_member_authorizer(cloud: LocalCloud) -> None:
    assert http(cloud, "GET", "/v1/members/me")[0] == 401
    assert http(cloud, "GET", "/v1/members/me", "not-a-token")[0] == 403


def test_registration_and_own_profile(cloud: LocalCloud, member: dict[str, Any]) -> None:
    status, me = http(cloud, "GET", "/v1/members/me", member["token"])
    assert status == 200 and me["phone"] == "+8613900002222" and me["plates"] == ["沪C88888"]
    status, again = http(cloud, "POST", "/v1/auth/wechat", body={"code": "local:o-identity-flow"})
    assert again["member_id"] == member["id"]
    status, patched = http(
        cloud, "PATCH", "/v1/members/me", member["token"], {"preferred_categories": ["sports"]}
    )
    assert status == 200 and patched["preferred_categories"] == ["sports"]
    cloud.settle()
    kinds = [e["detail-type"] for e in cloud.events if e["source"] == "mallcrm.members"]
    assert kinds.count("MemberRegistered") == 1
    assert kinds.count("MemberConsentChanged") == 2
    updated = [e for e in cloud.events if e["detail-type"] == "MemberProfileUpdated"]
    assert [e["detail"]["data"]["changed_fields"] for e in updated] == [["preferred_categories"]]
    assert "13900002222" not in json.dumps([e["detail"] for e in cloud.events])


def test_a_second_registration_with_the_phone_is_409(cloud: LocalCloud, member: dict[str, Any]) -> None:
    _, login = http(cloud, "POST", "/v1/auth/wechat", body={"code": "local:o-someone-else"})
    status, body = http(cloud, "POST", "/v1/members", login["token"], {"phone": "13900002222", "name": "x"})
    assert (status, body["error"]["code"]) == (409, "phone_already_registered")


def test_member_code_at_the_till(cloud: LocalCloud, member: dict[str, Any]) -> None:
    status, code = http(cloud, "GET", "/v1/members/me/code", member["token"])
    assert status == 200
    store = staff_token(cloud, "id.store")
    status, found = http(cloud, "POST", "/v1/admin/members/verify-code", store, {"code": code["code"]})
    assert status == 200 and found["member_id"] == member["id"] and found["phone"] == "139****2222"
    cloud.advance(70)  # 60 s validity + 5 s scanner leeway
    store = staff_token(cloud, "id.store")
    status, body = http(cloud, "POST", "/v1/admin/members/verify-code", store, {"code": code["code"]})
    assert (status, body["error"]["code"]) == (422, "code_expired")


def test_staff_search_and_the_audited_360_view(cloud: LocalCloud, member: dict[str, Any]) -> None:
    agent = staff_token(cloud, "id.agent")
    status, found = http(cloud, "GET", f"/v1/admin/members?plate={quote('沪C88888')}", agent)
    assert status == 200 and [m["member_id"] for m in found["members"]] == [member["id"]]
    status, view = http(cloud, "GET", f"/v1/admin/members/{member['id']}", agent)
    assert status == 200 and view["member"]["name"] == "李**"
    status, clear = http(
        cloud, "GET", f"/v1/admin/members/{member['id']}?reveal=true&reason=customer%20call", agent
    )
    assert status == 200 and clear["member"]["name"] == "李小龙"
    table = cloud.physical_id("MembersTable")
    audit = cloud.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#{member['id']}"}},
    )["Items"]
    assert "reveal" in {a["action"]["S"] for a in audit}
    assert "李小龙" not in json.dumps(audit, ensure_ascii=False)


def test_the_birthday_index_finds_the_member_without_a_scan(
    cloud: LocalCloud, member: dict[str, Any]
) -> None:
    page = cloud.client("dynamodb").query(
        TableName=cloud.physical_id("MembersTable"),
        IndexName="gsi2",
        KeyConditionExpression="gsi2pk = :d",
        ExpressionAttributeValues={":d": {"S": "BDAY#1127"}},
    )
    assert [i["gsi2sk"]["S"] for i in page["Items"]] == [member["id"]]


def test_the_demo_seed_registers_members_through_the_api(cloud: LocalCloud) -> None:
    from infra.seed.demo import DEMO_MEMBERS, seed_members

    def door(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        answer: tuple[int, dict[str, str], bytes] = cloud.http(method, path, headers, body)
        return answer

    first, failures = seed_members(door)
    assert failures == [] and len(first) == len(DEMO_MEMBERS)
    again, failures = seed_members(door)
    assert failures == [] and again == first
