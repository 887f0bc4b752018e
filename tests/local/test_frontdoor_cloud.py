"""The front door on the real template: signed purchases, Cognito staff tokens, CORS, the socket.

One local cloud for the module, seeded with the demo mall through the front door itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from infra.localcloud.cloud import LocalCloud
from infra.localcloud.frontdoor import FrontDoor
from infra.localcloud.server import LocalServer
from infra.seed import demo

ROOT = Path(__file__).resolve().parents[2]
PURCHASES = "/v1/integrations/purchases"
EXECUTIONS = "/v1/admin/journeys/churn_warning/executions"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, FrontDoor, demo.SeedReport]]:
    cloud = LocalCloud.start(ROOT)
    try:
        door = FrontDoor(cloud)
        report = demo.seed_all(
            cloud, door.handle, client=cloud.client, keys_file=tmp_path_factory.mktemp("seed") / "keys.json"
        )
        yield cloud, door, report
    finally:
        cloud.stop()


def _purchase(report, external_id="local-test-0001"):
    body = json.loads((ROOT / "infra/seed/data/example-purchase.json").read_text())
    body["external_id"] = external_id
    return body


def _signed(cloud: LocalCloud, report: demo.SeedReport, body: bytes) -> dict[str, str]:
    key = report.sources["pos-demo"]
    return {
        "content-type": "application/json",
        **demo.signed_headers(
            "pos-demo", key, method="POST", path=PURCHASES, body=body, now=cloud.clock.now()
        ),
    }


def _staff_token(cloud, username, password, kind="IdToken"):
    pool = cloud.user_pool
    result = cloud.client("cognito-idp").initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return result["AuthenticationResult"][kind]


def test_the_seed_went_through_the_front_door(env):
    cloud, _, report = env
    assert report.purchase_failures == []
    assert report.purchases_posted == demo.load_data()["purchases"]["count"]
    recorded = [e for e in cloud.events if e["detail-type"] == "PurchaseRecorded"]
    assert len(recorded) >= report.purchases_posted
    lines = [r.line() for r in cloud.invocations if r.logical_id == "LoyaltyApiFunction"]
    assert len(lines) >= report.purchases_posted


def test_the_seed_registered_the_demo_members_and_their_purchases_name_them(env):
    cloud, door, report = env
    assert report.member_failures == []
    assert sorted(report.members) == sorted(m["openid"] for m in demo.DEMO_MEMBERS)
    # The purchases name the demo shoppers; the newcomers have none yet (the demo purchase is theirs).
    members = {m for openid, m in report.members.items() if openid not in demo.NEW_MEMBERS}
    recorded = [e["detail"]["data"] for e in cloud.events if e["detail-type"] == "PurchaseRecorded"]
    seeded = [r for r in recorded if r["external_id"].startswith("pos-demo-")]
    assert {r["member_id"] for r in seeded} == members | {None}
    # A demo shopper logs in with her local WeChat code and is the member the seed registered.
    openid = demo.DEMO_MEMBERS[0]["openid"]
    body = json.dumps({"code": f"local:{openid}"}).encode()
    status, _, answer = door.handle("POST", "/v1/auth/wechat", {"content-type": "application/json"}, body)
    assert status == 200 and json.loads(answer)["member_id"] == report.members[openid]


def test_signed_purchase_is_recorded_and_replay_is_idempotent(env):
    cloud, door, report = env
    body = json.dumps(_purchase(report, "local-test-replay")).encode()
    status, headers, answer = door.handle("POST", PURCHASES, _signed(cloud, report, body), body)
    assert status == 201, answer
    first = json.loads(answer)
    assert headers["x-correlation-id"] == headers["apigw-requestid"]
    status, _, answer = door.handle("POST", PURCHASES, _signed(cloud, report, body), body)
    assert status == 200
    assert json.loads(answer)["purchase_id"] == first["purchase_id"]
    assert json.loads(answer)["replayed"] is True


def test_the_seeded_store_directory_is_enforced_on_signed_purchases(
    env: tuple[LocalCloud, FrontDoor, demo.SeedReport],
) -> None:
    cloud, door, report = env
    assert report.store_failures == [] and len(report.stores) == len(demo.load_data()["stores"])
    refused: dict[str, dict[str, object]] = {
        "S-NOPE": {"store_id": "S-NOPE"},
        "store_tenant_mismatch": {"tenant_id": "T-UNIQLO"},
        "amount_exceeds_items": {"amount_cents": 100000},
    }
    for n, (code, change) in enumerate(refused.items()):
        body = json.dumps({**_purchase(report, f"local-test-refused-{n}"), **change}).encode()
        status, _, answer = door.handle("POST", PURCHASES, _signed(cloud, report, body), body)
        assert status == 422, answer
        assert json.loads(answer)["error"]["code"] == ("unknown_store" if code == "S-NOPE" else code)
    recorded = [
        e["detail"]["data"]["external_id"] for e in cloud.events if e["detail-type"] == "PurchaseRecorded"
    ]
    assert not [x for x in recorded if x.startswith("local-test-refused-")]
    # Without tenant_id the purchase is recorded under the store's tenant from the directory.
    body = _purchase(report, "local-test-no-tenant")
    del body["tenant_id"]
    raw = json.dumps(body).encode()
    status, _, answer = door.handle("POST", PURCHASES, _signed(cloud, report, raw), raw)
    assert status == 201, answer
    assert json.loads(answer)["tenant_id"] == "T-STARBUCKS"


def test_unsigned_purchase_is_refused_by_the_function_in_the_error_shape(env):
    _, door, _ = env
    status, _, answer = door.handle("POST", PURCHASES, {"content-type": "application/json"}, b"{}")
    assert status == 401
    assert json.loads(answer)["error"]["code"] == "signature_header_missing"


def test_staff_routes_need_a_cognito_token_and_the_right_group(env):
    cloud, door, report = env
    assert door.handle("GET", EXECUTIONS, {}, b"")[0:3:2] == (401, b'{"message":"Unauthorized"}')
    for kind in ("IdToken", "AccessToken"):
        token = _staff_token(cloud, "demo.marketer", report.password, kind)
        status, _, answer = door.handle("GET", EXECUTIONS, {"Authorization": f"Bearer {token}"}, b"")
        assert status == 200, answer
    agent = _staff_token(cloud, "demo.agent", report.password)
    status, _, answer = door.handle("GET", EXECUTIONS, {"Authorization": f"Bearer {agent}"}, b"")
    assert status == 403
    assert json.loads(answer)["error"]["code"] == "missing_role"


def test_tokens_expire_on_the_virtual_clock(env):
    cloud, door, report = env
    token = _staff_token(cloud, "demo.admin", report.password)
    assert door.handle("GET", EXECUTIONS, {"Authorization": f"Bearer {token}"}, b"")[0] == 200
    # moto stamps tokens with the wall clock, which runs ahead of this frozen virtual clock by the
    # time since boot: an hour and a bit is past any token issued here.
    cloud.advance(3600 + 600)
    assert door.handle("GET", EXECUTIONS, {"Authorization": f"Bearer {token}"}, b"")[0] == 401


def test_cors_preflight_from_the_templates_configuration(env):
    _, door, _ = env
    status, headers, _ = door.handle(
        "OPTIONS",
        PURCHASES,
        {"Origin": "https://console.example", "Access-Control-Request-Method": "POST"},
        b"",
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    assert "x-mallcrm-signature" in headers["access-control-allow-headers"]
    assert headers["access-control-max-age"] == "600"


def test_cloud_http_is_the_same_front_door(env):
    cloud, _, _ = env
    status, _, body = cloud.http("GET", "/_local/health")
    assert status == 200
    assert json.loads(body)["functions"] == len(cloud.functions)
    assert cloud.http("GET", "/nowhere")[0] == 404


def test_over_a_real_socket(env):
    cloud, door, report = env
    with LocalServer(door, port=0, quiet=True).start() as server:
        session = requests.Session()
        health = session.get(server.url + "/_local/health", timeout=10)
        assert health.json()["status"] == "ok"
        body = json.dumps(_purchase(report, "local-test-socket")).encode()
        response = session.post(
            server.url + PURCHASES, data=body, headers=_signed(cloud, report, body), timeout=10
        )
        assert response.status_code == 201, response.text
        assert response.headers["apigw-requestid"]
        clock = session.get(server.url + "/_local/clock", timeout=10).json()
        advanced = session.post(server.url + "/_local/clock/advance", json={"seconds": 60}, timeout=30).json()
        assert advanced["from"] >= clock["now"]
        assert (
            session.post(server.url + "/_local/clock/advance", json={"seconds": -5}, timeout=10).status_code
            == 422
        )
        events = session.get(server.url + "/_local/events", params={"limit": 500}, timeout=10).json()[
            "events"
        ]
        assert any(
            e["detail-type"] == "PurchaseRecorded"
            and e["detail"]["data"]["external_id"] == "local-test-socket"
            for e in events
        )
        lines = session.get(server.url + "/_local/invocations", params={"limit": 5}, timeout=10).json()
        assert len(lines["invocations"]) == 5
        assert session.get(server.url + "/_local/outbox", timeout=10).json() == {"messages": cloud.outbox}


def test_api_docs_are_served_through_the_gateway(env):
    _, door, _ = env
    assert {"GET /openapi.json", "GET /docs"} <= {r.key for r in door.table.routes}
    status, headers, body = door.handle("GET", "/openapi.json", {}, b"")
    assert status == 200
    assert json.loads(body)["info"]["title"] == "MallCRM API"
    status, headers, body = door.handle("GET", "/docs", {}, b"")
    assert status == 200 and headers["content-type"].startswith("text/html")
