"""The demo seed, against plain moto: staff in Cognito, keys in Secrets Manager, signed purchases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.localcloud.clock import VirtualClock
from infra.seed import demo, sign
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

    def http(method, path, headers, body):  # noqa: PLR0911 - one fake answer per route
        # Loyalty's admin API: the loyalty operator's staff login, then the coupon templates.
        if path == "/v1/auth/staff":
            login = json.loads(body)
            assert login == {"username": "demo.loyalty", "password": report_password}
            return 200, {}, json.dumps({"id_token": "staff-token"}).encode()
        if path == "/v1/admin/coupon-templates":
            assert headers["authorization"] == "Bearer staff-token"
            template = json.loads(body)
            if template["template_id"] in templates:
                return 409, {}, b'{"error":{"code":"coupon_template_exists"}}'
            templates[template["template_id"]] = template
            return 201, {}, body
        if path.startswith("/v1/admin/stores/"):
            assert method == "PUT" and headers["authorization"] == "Bearer staff-token"
            assert not received, "the store directory is loaded before any purchase"
            store_id = path.removeprefix("/v1/admin/stores/")
            status = 200 if store_id in directory else 201
            directory[store_id] = json.loads(body)
            return status, {}, body
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
        cloud, http, client=spy, base_url="http://127.0.0.1:3000", keys_file=tmp_path / "keys.json"
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
    assert cloud.settled == 1

    # Members: registered through the members API (login code local:<openid>, consents), and two in
    # three purchases carry one of their ids.
    assert report.member_failures == []
    assert sorted(report.members) == sorted(m["openid"] for m in demo.DEMO_MEMBERS)
    assert sorted(report.members.values()) == sorted(registered.values())
    linked = [p["member_id"] for _, p in received if "member_id" in p]
    assert set(linked) == set(report.members.values())
    assert len(linked) == len(received) - len(received) // 3

    # Coupon templates: the two campaigns' journeys name, created through loyalty's admin API.
    assert report.coupon_templates == ["birthday", "win-back"] and report.coupon_template_failures == []
    assert templates["birthday"]["kind"] == "amount_off" and templates["win-back"]["percent_off"] == 20
    # Seeding again keeps them (409 is "already there"), as a second `make dev` on old state would.
    again, failures = demo.seed_coupon_templates(http, "demo.loyalty", report_password)
    assert again == ["birthday", "win-back"] and failures == []

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
