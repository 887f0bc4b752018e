"""LoyaltyOffersFunction (contract A) in-process against moto: issue_coupon (idempotent, limits,
budget, erased members), describe_template, list_rewards, award_points, bad payloads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from services.loyalty.dal.coupons import DynamoCouponRepository
from services.loyalty.dal.privacy import DynamoLedgerPseudonymiser, pseudonym_key
from services.loyalty.dal.rewards import DynamoRewardRepository
from services.loyalty.handlers import offers
from services.loyalty.logic.coupons import create_template
from services.loyalty.logic.privacy import pseudonym
from services.loyalty.logic.rewards import create_reward
from services.loyalty.models.coupons import CouponTemplateIn
from services.loyalty.models.rewards import RewardIn
from shared import clock
from tests.integration.helpers import FakeContext, all_items
from tests.integration.loyalty.conftest import NOW, TABLE
from tests.integration.loyalty.wallet_support import serialisable_transactions  # noqa: F401 - fixture

ALICE = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
BOB = "01HX9ZK3M5N7P9Q1R3S5T7V9WY"
CAROL = "01HX9ZK3M5N7P9Q1R3S5T7V9WZ"


def invoke(payload: dict[str, Any]) -> dict[str, Any]:
    # Through JSON, as Lambda delivers it.
    answer: dict[str, Any] = offers.handler(
        json.loads(json.dumps(payload)), FakeContext(function_name="loyalty-offers")
    )
    return answer


def make_template(**overrides: Any) -> None:
    body = {
        "template_id": "birthday-50",
        "name": "Birthday 50 off",
        "kind": "amount_off",
        "amount_off_cents": 5000,
        "min_spend_cents": 20000,
        "valid_days": 30,
        **overrides,
    }
    repo = DynamoCouponRepository(TABLE, clock.zone("Asia/Shanghai"))
    create_template(CouponTemplateIn.model_validate(body), repo, actor="staff:ops", now=NOW, shards=4)


def issue(member: str, request_id: str, template: str = "birthday-50") -> dict[str, Any]:
    return invoke(
        {
            "action": "issue_coupon",
            "request_id": request_id,
            "member_id": member,
            "template_id": template,
            "campaign_id": None,
            "reason": "birthday",
        }
    )


def outbox(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i["detail_type"] == detail_type
    ]


def test_issue_coupon_is_idempotent_on_request_id_and_publishes_coupon_issued(loyalty: None) -> None:
    make_template()
    first = issue(ALICE, "jrn#birthday#1")
    again = issue(ALICE, "jrn#birthday#1")

    assert first["issued"] is True and first["replayed"] is False
    assert again == {**first, "replayed": True}
    assert first["valid_from"] == clock.to_utc_iso(NOW)
    # 30 local days: until the end (23:59:59 Asia/Shanghai) of the 30th day, counting today.
    assert first["valid_until"] == "2026-03-30T15:59:59.000000Z"
    events = outbox("CouponIssued")
    assert len(events) == 1 and events[0]["coupon_id"] == first["coupon_id"]
    assert events[0]["member_id"] == ALICE and events[0]["reason"] == "birthday"


def test_refusals_are_answers_per_member_limit_global_limit_unknown_template(loyalty: None) -> None:
    make_template(per_member_limit=1, total_limit=2)

    assert issue(ALICE, "r1")["issued"] is True
    assert issue(ALICE, "r2") == {"issued": False, "reason": "limit_reached"}
    assert issue(BOB, "r3")["issued"] is True
    assert issue(CAROL, "r4") == {"issued": False, "reason": "budget_exhausted"}
    assert issue(CAROL, "r5", template="no-such-template") == {"issued": False, "reason": "unknown_template"}
    # A refusal is remembered under its request id too: the same answer, even once budget is added.
    assert issue(CAROL, "r4") == {"issued": False, "reason": "budget_exhausted"}
    assert len(outbox("CouponIssued")) == 2


def test_the_budget_in_cents_caps_issues_over_all_shards(loyalty: None) -> None:
    # 5 coupons' worth of budget spread over 4 shards (2+1+1+1): exactly 5 are issued.
    make_template(budget_cents=25_000)
    answers = [issue(f"01HX9ZK3M5N7P9Q1R3S5T7V{i:03d}", f"req-{i}") for i in range(7)]

    assert [a["issued"] for a in answers].count(True) == 5
    assert answers[-1] == {"issued": False, "reason": "budget_exhausted"}
    shards = [i for i in all_items(TABLE) if i.get("entity") == "coupon_budget"]
    assert len(shards) == 4 and sum(s["remaining_cents"] for s in shards) == 0


def test_an_erased_member_gets_no_coupon(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> None:
    make_template()
    import os

    key = pseudonym_key(os.environ["PSEUDONYM_KEY_SECRET_ARN"])
    DynamoLedgerPseudonymiser(TABLE).mark_erased(pseudonym(key, ALICE), NOW)

    assert issue(ALICE, "r1") == {"issued": False, "reason": "member_erased"}
    award = {"action": "award_points", "request_id": "a1", "member_id": ALICE, "points": 5, "reason": "r"}
    assert invoke(award) == {"awarded": False, "reason": "member_erased"}
    assert not [i for i in all_items(TABLE) if i.get("entity") in ("coupon", "outbox")]


def test_describe_template_and_list_rewards(loyalty: None) -> None:
    make_template()
    rewards = DynamoRewardRepository(TABLE)
    create_reward(
        RewardIn(reward_id="tote", name="Tote bag", points_cost=500, stock=1),
        rewards,
        template_exists=False,
        actor="staff:ops",
        now=NOW,
    )
    create_reward(
        RewardIn(reward_id="gone", name="Old", points_cost=5, valid_until=NOW - timedelta(days=1)),
        rewards,
        template_exists=False,
        actor="staff:ops",
        now=NOW - timedelta(days=5),
    )

    assert invoke({"action": "describe_template", "template_id": "birthday-50"}) == {
        "exists": True,
        "kind": "amount_off",
        "valid_days": 30,
        "status": "active",
    }
    assert invoke({"action": "describe_template", "template_id": "nope"})["exists"] is False
    assert invoke({"action": "list_rewards"}) == {
        "rewards": [{"reward_id": "tote", "name": "Tote bag", "points_cost": 500, "in_stock": True}]
    }


def test_award_points_credits_the_ledger_once(loyalty: None) -> None:
    payload = {
        "action": "award_points",
        "request_id": "cmp#spring#alice",
        "member_id": ALICE,
        "points": 200,
        "reason": "spring campaign",
        "campaign_id": "spring",
    }
    first = invoke(payload)
    again = invoke(payload)

    assert first["awarded"] is True and first["balance_after"] == 200 and first["replayed"] is False
    assert again == {**first, "replayed": True}
    earned = outbox("PointsEarned")
    assert len(earned) == 1 and earned[0]["reason"] == "campaign" and earned[0]["points"] == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {
                "action": "issue_coupon",
                "request_id": "x",
                "member_id": "nope",
                "template_id": "t",
                "reason": "birthday",
            },
            "member_id",
        ),
        (
            {"action": "award_points", "request_id": "x", "member_id": ALICE, "points": 0, "reason": "r"},
            "points",
        ),
        ({"action": "explode"}, "action"),
    ],
)
def test_a_malformed_payload_is_answered_with_a_validation_error(
    loyalty: None, payload: dict[str, Any], field: str
) -> None:
    answer = invoke(payload)

    assert answer["error"]["code"] == "validation_failed"
    assert field in [f["field"] for f in answer["error"]["fields"]]
    assert not [i for i in all_items(TABLE) if i.get("entity") in ("coupon", "outbox")]


@pytest.mark.usefixtures("serialisable_transactions")
def test_concurrent_issues_never_exceed_the_budget(loyalty: None) -> None:
    # 7 coupons' worth over 4 shards; 20 campaigns' sends race for them.
    make_template(budget_cents=35_000)
    members = [f"01HX9ZK3M5N7P9Q1R3S5T7V{i:03d}" for i in range(20)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda m: issue(m, f"race-{m}"), members))

    assert [a["issued"] for a in answers].count(True) == 7
    assert {a["reason"] for a in answers if not a["issued"]} == {"budget_exhausted"}
    assert len(outbox("CouponIssued")) == 7
    shards = [i for i in all_items(TABLE) if i.get("entity") == "coupon_budget"]
    assert sum(s["remaining_cents"] for s in shards) == 0
