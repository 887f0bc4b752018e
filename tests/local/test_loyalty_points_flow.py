"""Purchase → points → tier, through the local cloud on the real template and its virtual clock.

Loyalty operations set the earning rules (1 point per yuan, a 7-day return window at one
tenant) and the tiers through the staff API. A member registers in the mini-program. A simulated
POS posts signed purchases: the first (at the tenant with a return window) earns pending points,
the second qualifies the member for silver at once — PointsEarned and TierChanged reach the bus
(stream → publisher), and the member sees the points, the tier and the movements (the qualifying
purchase's movement notes the new tier) in the app. The
same POS retries a purchase (WeChat-style): one purchase, points once. Then virtual days pass on
the clock, with the mall's expiry policy set to 20 days and reminders 5 days ahead: a week later
the daily schedule (00:05 mall time) releases the pending points; a refund takes back the other
purchase's points; five days before the remaining lot expires the member gets PointsExpiring (with
the lot), and at expiry the lot expires with PointsExpired — pending → released → expiring →
expired, all in the member's movements. Nothing lands in a dead-letter queue.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from shared.auth import sign_request
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
OPS = "points.ops"
SOURCE = flow.SOURCE
REFUNDS = "/v1/integrations/refunds"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _configure(cloud: LocalCloud, logical_id: str, **env: str) -> None:
    """Set function environment variables, as an operator would in the template."""
    spec = cloud.runner.find(logical_id)
    cloud.runner.register(replace(spec, environment={**spec.environment, **env}))


def _signed(cloud: LocalCloud, key: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    timestamp = int(cloud.clock.now().timestamp())
    nonce = secrets.token_urlsafe(16)
    headers = {
        "content-type": "application/json",
        "x-mallcrm-source": SOURCE,
        "x-mallcrm-timestamp": str(timestamp),
        "x-mallcrm-nonce": nonce,
        "x-mallcrm-signature": sign_request(key.encode(), "POST", path, timestamp, nonce, raw),
    }
    status, _, answer = cloud.http("POST", path, headers, raw)
    return status, json.loads(answer)


def _purchase(member_id: str, external_id: str, cents: int, tenant: str, at: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "source_system": SOURCE,
        "store_id": f"S-{tenant}",
        "tenant_id": tenant,
        "member_id": member_id,
        "amount_cents": cents,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "SKU", "category": "apparel", "quantity": 1, "amount_cents": cents}],
        "occurred_at": at,
    }


@pytest.fixture(scope="module")
def story() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    try:
        # The operator's expiry policy for this mall: lots expire 20 days after earning, reminders
        # 5 days ahead (environment, as the template would set it).
        _configure(cloud, "LoyaltyApiFunction", POINTS_EXPIRY_POLICY="days", POINTS_EXPIRY_DAYS="20")
        _configure(cloud, "LoyaltyLedgerJobsFunction", POINTS_EXPIRING_NOTICE_DAYS="5")
        facts: dict[str, Any] = {"cloud": cloud}
        key = flow._install_integration_key(cloud)
        flow._create_staff_user(cloud, OPS, "loyalty_ops")
        ops = flow.staff_token(cloud, OPS)
        setup = [
            (
                "POST",
                "/v1/admin/earning-rules",
                {"kind": "base", "name": "1/yuan", "points": 1, "per_cents": 100},
            ),
            (
                "POST",
                "/v1/admin/earning-rules",
                {
                    "kind": "return_window",
                    "name": "Fashion returns",
                    "days": 7,
                    "scope": {"tenant_ids": ["T-FASHION"]},
                },
            ),
            ("PUT", "/v1/admin/tiers/normal", {"name": "Normal", "rank": 0, "qualify": 0}),
            (
                "PUT",
                "/v1/admin/tiers/silver",
                {"name": "Silver", "rank": 1, "qualify": 1000, "benefits": {"free_parking_hours": 2}},
            ),
        ]
        facts["setup"] = [flow._json(cloud, method, path, body, token=ops)[0] for method, path, body in setup]
        status, registered = flow.register(cloud, "o-points-a", "13900000077", [])
        assert status == 201, registered
        member = registered["member"]["member_id"]
        token = registered["token"]
        facts["member"], facts["token"] = member, token
        now = cloud.clock.now().isoformat()

        facts["first"] = _signed(
            cloud, key, flow.PURCHASES, _purchase(member, "P-1", 30000, "T-FASHION", now)
        )
        second = _purchase(member, "P-2", 80000, "T-FOOD", now)
        facts["second"] = _signed(cloud, key, flow.PURCHASES, second)
        facts["retries"] = [_signed(cloud, key, flow.PURCHASES, second)[0] for _ in range(3)]
        cloud.settle()
        facts["points_day0"] = flow._json(cloud, "GET", "/v1/members/me/points", token=token)
        facts["movements_day0"] = flow._json(cloud, "GET", "/v1/members/me/points/movements", token=token)

        cloud.advance(8 * flow.DAY)
        token = flow.wechat_login(cloud, "o-points-a")[1]["token"]  # a week later: a fresh login
        facts["points_day8"] = flow._json(cloud, "GET", "/v1/members/me/points", token=token)
        facts["refund"] = _signed(
            cloud,
            key,
            REFUNDS,
            {
                "external_id": "R-1",
                "source_system": SOURCE,
                "purchase_external_id": "P-2",
                "store_id": "S-T-FOOD",
                "amount_cents": 80000,
                "currency": "CNY",
                "occurred_at": cloud.clock.now().isoformat(),
            },
        )
        cloud.settle()
        facts["points_after_refund"] = flow._json(cloud, "GET", "/v1/members/me/points", token=token)
        cloud.advance(5 * flow.DAY)  # day 13: nothing expires within 5 days yet
        facts["expiring_day13"] = len(_events(cloud, "PointsExpiring"))
        cloud.advance(3 * flow.DAY)  # day 16: the lot expires on day 20
        facts["expiring_day16"] = _events(cloud, "PointsExpiring")
        cloud.advance(5 * flow.DAY)  # day 21: expired
        token = flow.wechat_login(cloud, "o-points-a")[1]["token"]
        facts["points_day21"] = flow._json(cloud, "GET", "/v1/members/me/points", token=token)
        facts["movements_day21"] = flow._json(cloud, "GET", "/v1/members/me/points/movements", token=token)
        yield facts
    finally:
        cloud.stop()


def _events(cloud: LocalCloud, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in cloud.events if e["detail-type"] == detail_type]


def test_operations_configure_rules_and_tiers(story: dict[str, Any]) -> None:
    assert story["setup"] == [201, 201, 200, 200]


def test_a_pos_purchase_earns_points_and_a_retry_earns_nothing_more(story: dict[str, Any]) -> None:
    first_status, first = story["first"]
    second_status, second = story["second"]
    assert (first_status, first["points_earned"], first["points_status"]) == (201, 300, "pending")
    assert (second_status, second["points_earned"], second["points_status"]) == (201, 800, "available")
    assert story["retries"] == [200, 200, 200]
    earned = _events(story["cloud"], "PointsEarned")
    assert sorted((e["points"], e["status"]) for e in earned) == [(300, "pending"), (800, "available")]
    assert all(e["member_id"] == story["member"] for e in earned)


def test_the_tier_changes_at_once_and_tier_changed_reaches_the_bus(story: dict[str, Any]) -> None:
    (changed,) = _events(story["cloud"], "TierChanged")
    assert (changed["member_id"], changed["previous_tier"], changed["new_tier"]) == (
        story["member"],
        "normal",
        "silver",
    )
    status, points = story["points_day0"]
    assert status == 200
    assert (points["available"], points["pending"]) == (800, 300)
    assert points["tier"]["tier_id"] == "silver"
    assert points["tier"]["benefits"]["free_parking_hours"] == 2


def test_the_member_sees_the_movements(story: dict[str, Any]) -> None:
    status, page = story["movements_day0"]
    assert status == 200
    assert [(m["kind"], m["points"], m["balance_after"]) for m in page["movements"]] == [
        ("earn", 800, 800),
        ("pending", 300, 0),
    ]
    assert {m["source"]["kind"] for m in page["movements"]} == {"purchase"}
    # the purchase that qualified the member for silver shows the tier change in the movements
    assert [m["tier_after"] for m in page["movements"]] == ["silver", None]


def test_the_daily_schedule_releases_pending_points_after_the_return_window(story: dict[str, Any]) -> None:
    status, points = story["points_day8"]
    assert status == 200
    assert (points["available"], points["pending"]) == (1100, 0)


def test_a_refund_takes_back_the_purchases_points_and_the_tier_waits_for_the_review(
    story: dict[str, Any],
) -> None:
    status, refund = story["refund"]
    assert (status, refund["points_clawed_back"], refund["full_refund"]) == (201, 800, True)
    _, points = story["points_after_refund"]
    assert points["available"] == 300
    assert points["tier"]["tier_id"] == "silver"  # no downgrade before the periodic review
    (refunded,) = _events(story["cloud"], "PurchaseRefunded")
    assert refunded["points_clawed_back"] == 800


def test_the_remaining_lot_is_reminded_once_then_expires(story: dict[str, Any]) -> None:
    assert story["expiring_day13"] == 0
    (expiring,) = story["expiring_day16"]
    _, first = story["first"]
    assert (expiring["lot_id"], expiring["points"], expiring["member_id"]) == (
        first["purchase_id"],
        300,
        story["member"],
    )
    assert len(_events(story["cloud"], "PointsExpiring")) == 1  # once per lot
    (expired,) = _events(story["cloud"], "PointsExpired")
    assert (expired["points"], expired["balance_after"]) == (300, 0)
    _, points = story["points_day21"]
    assert (points["available"], points["pending"]) == (0, 0)
    _, page = story["movements_day21"]
    assert [(m["kind"], m["points"]) for m in page["movements"]] == [
        ("expire", -300),
        ("refund_clawback", -800),
        ("release", 300),
        ("earn", 800),
        ("pending", 300),
    ]


def test_nothing_in_a_dead_letter_queue(story: dict[str, Any]) -> None:
    cloud: LocalCloud = story["cloud"]
    sqs = cloud.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.endswith("-dlq") and "loyalty" in url:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0", url
