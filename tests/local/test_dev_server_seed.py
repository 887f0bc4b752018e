"""The demo seed, against plain moto: staff in Cognito, keys in Secrets Manager, signed purchases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from infra.localcloud.clock import VirtualClock
from infra.seed import demo, programme, sign
from shared.auth import verify_signed_request

ROLES = ("admin", "marketer", "service_agent", "store_staff", "loyalty_ops")


class _Cloud:
    def __init__(self, ids):
        self.ids = ids
        self.clock = VirtualClock(datetime(2026, 5, 1, 4, 0, tzinfo=UTC))
        self.settled = 0

    def physical_id(self, logical_id):
        return self.ids[logical_id]

    def settle(self):
        self.settled += 1


@pytest.fixture
def aws():
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name="us-east-1")
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        pool = idp.create_user_pool(
            PoolName="staff",
            Policies={
                "PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True, "RequireNumbers": True}
            },
        )["UserPool"]["Id"]
        for role in ROLES:
            idp.create_group(UserPoolId=pool, GroupName=role)
        secret = sm.create_secret(Name="keys", SecretString=json.dumps({"pos": "existing"}))["ARN"]
        clients = {"cognito-idp": idp, "secretsmanager": sm}
        yield _Cloud({"StaffUserPool": pool, "IntegrationKeysSecret": secret}), clients.__getitem__


def test_seed_all_goes_through_cognito_secrets_manager_and_signed_requests(aws, tmp_path):
    cloud, client = aws
    received: list[tuple[str, dict[str, Any]]] = []
    keys_seen: dict[str, str] = {}

    registered: dict[str, str] = {}
    templates: dict[str, dict[str, Any]] = {}
    directory: dict[str, dict[str, Any]] = {}
    admin_calls: list[tuple[str, str, str, Any]] = []  # (who, method, path, body) of the programme

    def programme_api(method, path, headers, body):
        """The other admin routes the programme uses: lists empty, writes accepted as sent."""
        who = headers["authorization"].removeprefix("Bearer token-of-")
        doc = json.loads(body) if body else None
        admin_calls.append((who, method, path.split("?")[0], doc))
        if method == "GET":
            return 200, {}, b'{"rules": [], "tiers": [], "items": [], "next_token": null}'
        if path.endswith("/launch"):
            return 200, {}, b'{"status": "active"}'
        if path == "/v1/admin/audience/snapshots":
            return 202, {}, b'{"status": "accepted"}'
        if method == "POST" and path in ("/v1/admin/segments", "/v1/admin/campaigns"):
            return (
                201,
                {},
                json.dumps(
                    {**(doc or {}), "segment_id": "S1", "campaign_id": "C1", "status": "draft"}
                ).encode(),
            )
        return (201 if method == "POST" else 200), {}, body

    def http(method, path, headers, body):  # noqa: PLR0911 - one fake answer per route
        # The staff APIs: each demo operator's login (a token naming them), then their routes.
        if path == "/v1/auth/staff":
            login = json.loads(body)
            assert login["password"] == report_password
            return 200, {}, json.dumps({"id_token": f"token-of-{login['username']}"}).encode()
        if path == "/v1/admin/stores" and method == "GET":
            return 200, {}, json.dumps({"stores": list(directory.values())}).encode()
        if path == "/v1/admin/coupon-templates":
            assert headers["authorization"] == "Bearer token-of-demo.loyalty"
            template = json.loads(body)
            if template["template_id"] in templates:
                return 409, {}, b'{"error":{"code":"coupon_template_exists"}}'
            templates[template["template_id"]] = template
            return 201, {}, body
        if path.startswith("/v1/admin/stores/"):
            assert method == "PUT" and headers["authorization"] == "Bearer token-of-demo.loyalty"
            assert not received, "the store directory is loaded before any purchase"
            store_id = path.removeprefix("/v1/admin/stores/")
            status = 200 if store_id in directory else 201
            directory[store_id] = {**json.loads(body), "store_id": store_id}
            return status, {}, body
        if path.startswith("/v1/admin/"):
            return programme_api(method, path, headers, body)
        if path == "/_local/clock/advance":  # a virtual second between two sales
            return 200, {}, b"{}"
        # The members API of the fake front door: WeChat login (local:<openid>), then registration.
        if path == "/v1/auth/wechat":
            openid = json.loads(body)["code"].removeprefix("local:")
            token = f"token-of-{openid}"
            return 200, {}, json.dumps({"token": token, "member_id": registered.get(token)}).encode()
        if path == "/v1/members":
            token = headers["authorization"].removeprefix("Bearer ")
            registration = json.loads(body)
            assert registration["consents"] and "openid" not in registration
            registered[token] = f"01JDEMO{len(registered):019d}"
            return 201, {}, json.dumps({"member": {"member_id": registered[token]}}).encode()
        signed = verify_signed_request(
            headers, method, path, body, key_lookup=lambda s: keys_seen[s].encode(), now=cloud.clock.now()
        )
        received.append((signed.source, json.loads(body)))
        return 201, {}, b"{}"

    def spy(service):
        real = client(service)
        if service == "secretsmanager":
            original = real.put_secret_value

            def put(**kwargs):
                keys_seen.update(json.loads(kwargs["SecretString"]))
                return original(**kwargs)

            real.put_secret_value = put
        return real

    report_password = demo.demo_password()
    report = demo.seed_all(
        cloud,
        http,
        client=spy,
        base_url="http://127.0.0.1:3000",
        keys_file=tmp_path / "keys.json",
        demo_purchase_file=tmp_path / "demo-purchase.json",
    )

    # Staff: one per role, permanent password, in the role's group, able to sign in.
    idp = client("cognito-idp")
    pool = cloud.physical_id("StaffUserPool")
    assert sorted(s["role"] for s in report.staff) == sorted(ROLES)
    for person in report.staff:
        user = idp.admin_get_user(UserPoolId=pool, Username=person["username"])
        assert user["UserStatus"] == "CONFIRMED"
        groups = idp.admin_list_groups_for_user(UserPoolId=pool, Username=person["username"])["Groups"]
        assert [g["GroupName"] for g in groups] == [person["role"]]

    # Keys: the demo source added, the operator's existing key kept; the sign CLI's file written.
    secret = json.loads(client("secretsmanager").get_secret_value(SecretId="keys")["SecretString"])
    assert secret["pos"] == "existing"
    assert secret["pos-demo"] == report.sources["pos-demo"]
    assert len(report.sources["pos-demo"]) >= 40
    saved = json.loads((tmp_path / "keys.json").read_text())
    assert saved == {"base_url": "http://127.0.0.1:3000", "sources": report.sources}
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0

    # Purchases: all signed by pos-demo, at the data file's stores, in the past, accepted.
    data = demo.load_data()
    stores = {s["id"]: s for s in data["stores"]}
    assert report.purchases_posted == data["purchases"]["count"] == len(received)
    assert report.purchase_failures == []
    for source, purchase in received:
        assert source == purchase["source_system"] == "pos-demo"
        assert stores[purchase["store_id"]]["tenant_id"] == purchase["tenant_id"]
        assert purchase["amount_cents"] == sum(i["amount_cents"] for i in purchase["items"])
        assert datetime.fromisoformat(purchase["occurred_at"]) < cloud.clock.now()
    assert len({p["external_id"] for _, p in received}) == len(received)
    assert cloud.settled == 2  # after the purchases (their tier changes), after the campaigns

    # Members: registered through the members API (login code local:<openid>, consents), and two in
    # three purchases carry the id of one who shops here already (the newcomers have none).
    assert report.member_failures == []
    assert sorted(report.members) == sorted(m["openid"] for m in demo.DEMO_MEMBERS)
    assert sorted(report.members.values()) == sorted(registered.values())
    linked = [p["member_id"] for _, p in received if "member_id" in p]
    regulars = {m for openid, m in report.members.items() if openid not in demo.NEW_MEMBERS}
    assert set(linked) == regulars and len(regulars) == 3
    assert len(linked) == len(received) - len(received) // 3
    # In the order they happened, as a till sends them.
    assert [p["occurred_at"] for _, p in received] == sorted(p["occurred_at"] for _, p in received)

    # Coupon templates: the two campaigns' journeys name (and the rewards'), through loyalty's API.
    ids = ["birthday", "win-back", "coffee-20off", "parking-2h"]
    assert report.coupon_templates == ids and report.coupon_template_failures == []
    assert templates["birthday"]["kind"] == "amount_off" and templates["win-back"]["percent_off"] == 20
    # Seeding again keeps them (409 is "already there"), as a second `make dev` on old state would.
    again, failures = demo.seed_coupon_templates(http, "demo.loyalty", report_password)
    assert again == ["birthday", "win-back"] and failures == []

    # The programme, each part by the role that owns it: tiers, rules and rewards by the loyalty
    # operator, agents and routing by the admin, articles by an agent, the rest by the marketer.
    assert report.programme_failures == []
    assert report.programme["tiers"] == ["normal", "silver", "gold", "diamond"]
    assert len(report.programme["earning_rules"]) == 3 and len(report.programme["kb_articles"]) >= 5
    writes = {(who, method, path) for who, method, path, _ in admin_calls if method != "GET"}
    assert ("demo.loyalty", "PUT", "/v1/admin/tiers/gold") in writes
    assert ("demo.loyalty", "POST", "/v1/admin/rewards") in writes
    agent_subject = next(p["subject"] for p in report.staff if p["username"] == "demo.agent")
    assert agent_subject and ("demo.admin", "PUT", f"/v1/admin/ticket-agents/{agent_subject}") in writes
    assert ("demo.agent", "POST", "/v1/admin/kb-articles") in writes
    assert ("demo.marketer", "POST", "/v1/admin/campaigns/C1/launch") in writes
    assert report.snapshot_requested
    # The demo purchase: a newcomer's first, for the banner's signed example.
    assert report.demo_member in {report.members[o] for o in demo.NEW_MEMBERS}
    assert report.demo_purchase_file == tmp_path / "demo-purchase.json"
    purchase = json.loads((tmp_path / "demo-purchase.json").read_text())
    assert purchase["member_id"] == report.demo_member and purchase["store_id"] in directory

    # The store directory: every store the purchases name, with its tenant, loaded by the operator.
    assert report.stores == [s["id"] for s in data["stores"]] and report.store_failures == []
    assert {p["store_id"] for _, p in received} <= set(directory)
    for store_id, store in directory.items():
        assert store["tenant_id"] == stores[store_id]["tenant_id"] and store["active"] is True
    example = json.loads((demo.DATA_FILE.parent / "example-purchase.json").read_text())
    assert directory[example["store_id"]]["tenant_id"] == example["tenant_id"]


def test_seeding_staff_twice_is_harmless(aws):
    cloud, client = aws
    staff = demo.load_data()["staff"][:1]
    for _ in range(2):
        demo.seed_staff(client("cognito-idp"), cloud.physical_id("StaffUserPool"), staff, "Another-Passw0rd")


def test_failed_purchases_are_reported_not_raised(aws, tmp_path):
    cloud, client = aws
    report = demo.seed_all(
        cloud, lambda *a: (401, {}, b'{"error":{"code":"signature_invalid"}}'), client=client, keys_file=None
    )
    assert report.purchases_posted == 0
    assert len(report.purchase_failures) == demo.load_data()["purchases"]["count"]
    assert "401" in report.purchase_failures[0]
    assert report.members == {} and len(report.member_failures) == len(demo.DEMO_MEMBERS)
    assert report.coupon_templates == []
    assert "staff login demo.loyalty: 401" in report.coupon_template_failures[0]
    assert report.stores == [] and "staff login demo.loyalty: 401" in report.store_failures[0]


def test_demo_stores_are_valid_for_loyalty() -> None:
    from services.loyalty.models.stores import StoreIn

    stores = demo.demo_stores(demo.load_data())
    for store in stores:
        StoreIn.model_validate({k: v for k, v in store.items() if k != "store_id"})
    assert "S-L1-08" in {s["store_id"] for s in stores}  # the example purchase's store


def test_coupon_templates_are_valid_for_loyalty():
    from services.loyalty.models.coupons import CouponTemplateIn

    for template in demo.DEMO_COUPON_TEMPLATES:
        CouponTemplateIn.model_validate(template)
    assert {t["template_id"] for t in demo.DEMO_COUPON_TEMPLATES} == {"birthday", "win-back"}
    for template in programme.REWARD_COUPON_TEMPLATES:
        CouponTemplateIn.model_validate(template)


def test_purchases_are_deterministic():
    data = demo.load_data()
    now = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)
    assert demo.demo_purchases(data, "pos-demo", "pos", now) == demo.demo_purchases(
        data, "pos-demo", "pos", now
    )


def test_sign_cli_prints_headers_that_verify(tmp_path, capsys):
    body = tmp_path / "x.json"
    body.write_bytes(b'{"hello": "mall"}')
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"sources": {"pos-demo": "k" * 43}}))
    argv = ["--body-file", str(body), "--keys-file", str(keys), "--timestamp", "1777600000"]
    assert sign.main(argv) == 0
    headers = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert set(headers) == {
        "X-MallCRM-Source",
        "X-MallCRM-Timestamp",
        "X-MallCRM-Nonce",
        "X-MallCRM-Signature",
    }
    signed = verify_signed_request(
        headers,
        "POST",
        "/v1/integrations/purchases",
        body.read_bytes(),
        key_lookup={"pos-demo": b"k" * 43}.get,
        now=datetime.fromtimestamp(1777600000, UTC),
    )
    assert signed.source == "pos-demo"


def test_sign_cli_curl_form_and_missing_key(tmp_path, capsys):
    body = tmp_path / "x.json"
    body.write_bytes(b"{}")
    assert sign.main(["--body-file", str(body), "--key", "secret", "--timestamp", "1", "--curl"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("curl -sS -X POST http://127.0.0.1:3000/v1/integrations/purchases ")
    assert f"--data-binary @{body}" in out
    with pytest.raises(SystemExit, match="no key for source"):
        sign.main(["--keys-file", str(tmp_path / "none.json"), "--timestamp", "1"])


def test_assign_members_links_two_in_three_purchases_in_turn():
    purchases = [{"external_id": str(n)} for n in range(7)]
    linked = demo.assign_members(purchases, ["A", "B", "C"])
    assert [p.get("member_id") for p in linked] == ["A", "B", None, "C", "A", None, "B"]
    assert demo.assign_members(purchases, []) == purchases
    assert "member_id" not in purchases[0]  # the input is not changed


def test_seeding_keys_again_keeps_them(aws: Any) -> None:
    """Regression: a second seed rotated the key loyalty caches for 60 s, so every purchase of the
    second run was refused signature_invalid."""
    cloud, client = aws
    sm = client("secretsmanager")
    first = demo.seed_integration_keys(sm, cloud.physical_id("IntegrationKeysSecret"), ["pos-demo"])
    versions = len(sm.list_secret_version_ids(SecretId="keys")["Versions"])
    again = demo.seed_integration_keys(
        sm, cloud.physical_id("IntegrationKeysSecret"), ["pos-demo", "mall-app"]
    )
    assert again["pos-demo"] == first["pos-demo"] and len(again["mall-app"]) >= 40
    secret = json.loads(sm.get_secret_value(SecretId="keys")["SecretString"])
    assert secret == {"pos": "existing", **again}
    demo.seed_integration_keys(sm, cloud.physical_id("IntegrationKeysSecret"), ["pos-demo", "mall-app"])
    assert len(sm.list_secret_version_ids(SecretId="keys")["Versions"]) == versions + 1  # no new write


@pytest.mark.parametrize(
    ("utc", "moved_to"),
    [
        ("2026-11-23T03:00:00", None),  # 11:00 in Shanghai: the day
        ("2026-11-23T10:59:00", None),  # 18:59
        ("2026-11-23T11:00:00", "2026-11-24T10:00:00+08:00"),  # 19:00: too close to quiet hours
        ("2026-11-23T17:30:00", "2026-11-24T10:00:00+08:00"),  # 01:30 the next day: that morning
        ("2026-11-23T01:59:00", "2026-11-23T10:00:00+08:00"),  # 09:59
    ],
)
def test_the_demo_day_starts_at_ten_mall_time(utc: str, moved_to: str | None) -> None:
    from shared.clock import zone

    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    tz = zone("Asia/Shanghai")
    shift = programme.demo_day_shift(now, tz)
    if moved_to is None:
        assert shift == 0
    else:
        assert (now + timedelta(seconds=shift)).astimezone(tz).isoformat() == moved_to


def test_the_demo_purchase_goes_to_a_newcomer_outside_the_control_group() -> None:
    assert programme.pick_demo_member(["A", "B"], lambda m: m == "A") == "B"
    assert programme.pick_demo_member(["A"], lambda m: True) is None
    body = programme.demo_purchase(
        "01JDEMO", datetime(2026, 11, 23, 3, 0, tzinfo=UTC), ZoneInfo("Asia/Shanghai")
    )
    assert body["occurred_at"] == "2026-11-23T10:59:00+08:00"
    assert body["amount_cents"] == sum(i["amount_cents"] for i in body["items"])
    from services.loyalty.models.rewards import RewardIn

    for reward in programme.DEMO_REWARDS:
        RewardIn.model_validate(reward)


def test_the_programme_is_valid_for_its_services() -> None:
    from services.loyalty.models.earning import EarningRuleIn, TierIn, TierProgram
    from services.tickets.models.api import AgentBody, ArticleCreate, RoutingRuleBody

    TierProgram.model_validate(programme.TIER_PROGRAM)
    for tier in programme.DEMO_TIERS:
        TierIn.model_validate({k: v for k, v in tier.items() if k != "tier_id"})
    for rule in programme.DEMO_EARNING_RULES:
        EarningRuleIn.model_validate(rule)
    for article in programme.DEMO_KB_ARTICLES:
        ArticleCreate.model_validate(article)
    for agent in programme.DEMO_AGENTS:
        AgentBody.model_validate({k: v for k, v in agent.items() if k != "username"})
    for routing in programme.DEMO_ROUTING_RULES:
        RoutingRuleBody.model_validate({k: v for k, v in routing.items() if k != "rule_id"})
    assert {a["intent"] for a in programme.DEMO_KB_ARTICLES if a.get("intent")} == {
        "opening_hours",
        "parking_fee",
    }


def test_a_put_that_would_change_nothing_is_skipped() -> None:
    assert programme.same({"a": 1, "b": 2, "version": 3}, {"a": 1, "b": 2})
    assert not programme.same({"a": 1}, {"a": 1, "b": 2})
    assert not programme.same(None, {"a": 1})
