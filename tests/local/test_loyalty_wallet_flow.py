"""The loyalty wallet through the local cloud on the real template.

Operations create a coupon template and a reward over the staff API (Cognito JWT). Campaigns'
path is contract A: a Lambda Invoke of LoyaltyOffersFunction issues a birthday coupon and awards
points; the member sees the coupon in the mini-program's wallet and redeems a reward with points;
a service agent proposes a points adjustment that only another person may approve; the till
redeems the coupon. Events reach the bus through the table's stream. Then the virtual clock runs
to the coupon job (10:00 mall time): a second coupon, about to expire, gets its CouponExpiring.
Last, the member asks members for her data export: loyalty's consumer of MemberExportRequested
writes its part (points, movements, coupons, redemptions) and members hands out its link.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from shared.auth import sign_request
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
OPS, OPS2, AGENT, TILL = "wallet.ops", "wallet.ops2", "wallet.agent", "wallet.till"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _call(cloud: LocalCloud, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    status, _, raw = cloud.http(method, path, headers, json.dumps(body).encode() if body is not None else b"")
    return status, json.loads(raw) if raw else None


def _offer(cloud: LocalCloud, payload: dict[str, Any]) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("LoyaltyOffersFunction"),
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    return dict(json.loads(response["Payload"].read()))


def _signed(cloud: LocalCloud, key: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    timestamp = int(cloud.clock.now().timestamp())
    nonce = secrets.token_urlsafe(16)
    headers = {
        "content-type": "application/json",
        "x-mallcrm-source": flow.SOURCE,
        "x-mallcrm-timestamp": str(timestamp),
        "x-mallcrm-nonce": nonce,
        "x-mallcrm-signature": sign_request(key.encode(), "POST", path, timestamp, nonce, raw),
    }
    status, _, answer = cloud.http("POST", path, headers, raw)
    return status, json.loads(answer)


def _events(cloud: LocalCloud, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == detail_type]


@pytest.fixture(scope="module")
def flowed() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    try:
        facts: dict[str, Any] = {}
        for user, group in (
            (OPS, "loyalty_ops"),
            (OPS2, "loyalty_ops"),
            (AGENT, "service_agent"),
            (TILL, "store_staff"),
        ):
            flow._create_staff_user(cloud, user, group)
        ops, ops2, agent, till = (flow.staff_token(cloud, u) for u in (OPS, OPS2, AGENT, TILL))
        status, registered = flow.register(cloud, "o-wallet", "13900008888", [])
        assert status == 201, registered
        member_id, token = registered["member"]["member_id"], registered["token"]
        facts["member_id"] = member_id

        template = {
            "template_id": "bday-50",
            "name": "Birthday",
            "kind": "amount_off",
            "amount_off_cents": 5000,
            "min_spend_cents": 20000,
            "valid_days": 30,
            "budget_cents": 500_000,
        }
        facts["template"] = _call(cloud, "POST", "/v1/admin/coupon-templates", ops, template)
        facts["issue"] = _offer(
            cloud,
            {
                "action": "issue_coupon",
                "request_id": "jrn#bday#1",
                "member_id": member_id,
                "template_id": "bday-50",
                "campaign_id": None,
                "reason": "birthday",
            },
        )
        facts["award"] = _offer(
            cloud,
            {
                "action": "award_points",
                "request_id": "cmp#x#1",
                "member_id": member_id,
                "points": 1000,
                "reason": "welcome",
                "campaign_id": "welcome",
            },
        )
        facts["reward"] = _call(
            cloud,
            "POST",
            "/v1/admin/rewards",
            ops,
            {"reward_id": "tote", "name": "Tote", "points_cost": 600, "stock": 5},
        )
        facts["wallet"] = _call(cloud, "GET", "/v1/members/me/coupons", token)
        facts["redemption"] = _call(
            cloud,
            "POST",
            "/v1/members/me/redemptions",
            token,
            {"request_id": "redeem-0001", "reward_id": "tote"},
        )
        status, pending = _call(
            cloud,
            "POST",
            "/v1/admin/points-adjustments",
            agent,
            {"member_id": member_id, "points": 50, "reason": "goodwill: broken lift"},
        )
        facts["adjust_requested"] = status
        facts["self_approval"] = _call(
            cloud, "POST", f"/v1/admin/points-adjustments/{pending['adjustment_id']}/approve", agent
        )
        facts["approval"] = _call(
            cloud, "POST", f"/v1/admin/points-adjustments/{pending['adjustment_id']}/approve", ops2
        )
        code = facts["wallet"][1]["coupons"][0]["code"]
        facts["till"] = _call(
            cloud,
            "POST",
            "/v1/admin/coupons/redeem",
            till,
            {"code": code, "member_id": member_id, "store_id": "store-1", "purchase_amount_cents": 30000},
        )
        # WeChat Pay (the local fake adapter): the member links her WeChat identity, then WeChat
        # delivers the same payment notice twice.
        facts["link"] = _call(cloud, "POST", "/v1/members/me/wechatpay/link", token)
        notice = {
            "id": "EV-local-1",
            "event_type": "MALL_TRANSACTION.SUCCESS",
            "resource": {
                "plaintext": {
                    "shop_number": "store-1",
                    "openid": "o-wallet",
                    "amount": 8800,
                    "time_end": cloud.clock.now().isoformat(),
                    "transaction_id": "4200000001202611230000000001",
                }
            },
        }
        facts["wechatpay"] = [
            cloud.http(
                "POST",
                "/v1/integrations/wechatpay/notifications",
                {"content-type": "application/json"},
                json.dumps(notice).encode(),
            )[0]
            for _ in range(2)
        ]
        # The car park: a signed entry and exit.
        key = flow._install_integration_key(cloud)
        entered = cloud.clock.now()
        for body in (
            {
                "external_id": "gate-1",
                "source_system": flow.SOURCE,
                "plate": "沪A12345",
                "entered_at": entered.isoformat(),
            },
            {
                "external_id": "gate-1",
                "source_system": flow.SOURCE,
                "plate": "沪A12345",
                "entered_at": entered.isoformat(),
                "exited_at": (entered + timedelta(seconds=1)).isoformat(),
                "fee_cents": 1000,
            },
        ):
            facts.setdefault("parking", []).append(
                _signed(cloud, key, "/v1/integrations/parking-sessions", body)
            )
        # A coupon valid 2 days: the next 10:00 run of the coupon job reminds the member.
        _call(
            cloud,
            "POST",
            "/v1/admin/coupon-templates",
            ops,
            {
                "template_id": "flash",
                "name": "Flash",
                "kind": "gift",
                "face_value_cents": 500,
                "valid_days": 2,
            },
        )
        facts["flash"] = _offer(
            cloud,
            {
                "action": "issue_coupon",
                "request_id": "cmp#flash#1",
                "member_id": member_id,
                "template_id": "flash",
                "campaign_id": "flash",
                "reason": "campaign",
            },
        )
        cloud.settle()
        cloud.advance(26 * 3600)
        cloud.settle()
        facts["events"] = {
            name: _events(cloud, name)
            for name in (
                "CouponIssued",
                "CouponRedeemed",
                "CouponExpiring",
                "RewardRedeemed",
                "PointsAdjusted",
                "PointsEarned",
                "PurchaseRecorded",
                "ParkingSessionSettled",
            )
        }
        status, login = flow.wechat_login(cloud, "o-wallet")  # a fresh token a day later
        assert status == 200 and login["member_id"] == member_id
        facts["export"] = _call(cloud, "POST", "/v1/members/me/export", login["token"])
        cloud.settle()
        export_id = facts["export"][1]["export"]["export_id"]
        facts["export_view"] = _call(cloud, "GET", f"/v1/members/me/exports/{export_id}", login["token"])
        body = cloud.client("s3").get_object(
            Bucket=cloud.physical_id("MemberExportsBucket"), Key=f"exports/{export_id}/loyalty.json"
        )["Body"]
        facts["loyalty_part"] = json.loads(body.read())
        yield facts
    finally:
        cloud.stop()


def test_contract_a_issues_and_awards_through_lambda_invoke(flowed: dict[str, Any]) -> None:
    assert flowed["template"][0] == 201
    assert flowed["issue"]["issued"] is True and flowed["issue"]["replayed"] is False
    assert flowed["award"]["awarded"] is True and flowed["award"]["balance_after"] == 1000
    [coupon] = flowed["wallet"][1]["coupons"]
    assert coupon["coupon_id"] == flowed["issue"]["coupon_id"] and coupon["status"] == "issued"


def test_the_member_redeems_a_reward_and_the_adjustment_needs_a_second_person(flowed: dict[str, Any]) -> None:
    status, redemption = flowed["redemption"]
    assert status == 201 and redemption["balance_after"] == 400
    assert flowed["adjust_requested"] == 201
    assert flowed["self_approval"][0] == 403
    status, applied = flowed["approval"]
    assert status == 200 and applied["balance_after"] == 450


def test_the_till_redeems_the_coupon_and_the_events_reach_the_bus(flowed: dict[str, Any]) -> None:
    status, done = flowed["till"]
    assert status == 200 and done["discount_cents"] == 5000
    events = flowed["events"]
    assert {e["reason"] for e in events["CouponIssued"]} == {"birthday", "campaign"}
    assert [e["coupon_id"] for e in events["CouponRedeemed"]] == [flowed["issue"]["coupon_id"]]
    assert [e["reward_id"] for e in events["RewardRedeemed"]] == ["tote"]
    assert [e["points"] for e in events["PointsAdjusted"]] == [50]
    assert {e["reason"] for e in events["PointsEarned"]} >= {"campaign", "adjustment"}


def test_the_daily_coupon_job_reminds_of_the_coupon_about_to_expire(flowed: dict[str, Any]) -> None:
    [reminder] = flowed["events"]["CouponExpiring"]
    assert reminder["coupon_id"] == flowed["flash"]["coupon_id"] and reminder["days_left"] <= 3


def test_wechat_pay_notices_through_the_local_fake_are_one_purchase_of_the_linked_member(
    flowed: dict[str, Any],
) -> None:
    assert flowed["link"][0] == 200
    assert flowed["wechatpay"] == [200, 200]
    [purchase] = [e for e in flowed["events"]["PurchaseRecorded"] if e["source_system"] == "wechatpay"]
    assert purchase["member_id"] == flowed["member_id"] and purchase["amount_cents"] == 8800


def test_the_car_park_session_is_settled_and_published(flowed: dict[str, Any]) -> None:
    assert [status for status, _ in flowed["parking"]] == [201, 201]
    [settled] = flowed["events"]["ParkingSessionSettled"]
    assert settled["fee_cents"] == 1000 and settled["paid_cents"] == 1000 and settled["member_id"] is None


def test_the_members_data_export_gets_loyaltys_part(flowed: dict[str, Any]) -> None:
    assert flowed["export"][0] == 200, flowed["export"]
    status, view = flowed["export_view"]
    assert status == 200, view
    assert "loyalty" in view["parts"] and "loyalty" not in view["missing"]
    part = flowed["loyalty_part"]
    assert (part["service"], part["member_id"]) == ("loyalty", flowed["member_id"])
    data = part["data"]
    assert {c["coupon_id"] for c in data["coupons"]} == {
        flowed["issue"]["coupon_id"],
        flowed["flash"]["coupon_id"],
    }
    assert [r["reward_id"] for r in data["redemptions"]] == ["tote"]
    assert data["points"]["available"] == sum(m["points"] for m in data["movements"])
    assert [p["source_system"] for p in data["purchases"]] == ["wechatpay"]
