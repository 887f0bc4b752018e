"""The planning side against moto: member facts → attribute rows → snapshot → segments and
previews → campaigns (validation, schedule) → launch → SendRequests on the dispatch queue;
triggered campaigns; attribution and the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.handlers import (
    launch_worker,
    materialise,
    on_member_facts,
    on_member_privacy,
    on_trigger_event,
)
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.events.contracts import (
    CampaignLaunched,
    CouponRedeemed,
    MemberConsentChanged,
    MemberErased,
    MemberProfileScored,
    MemberRegistered,
    PointsEarned,
    PurchaseItem,
    PurchaseRecorded,
    TierChanged,
)
from tests.integration.campaigns.planning_support import (
    BUCKET,
    TABLE,
    Planning,
    call,
    drain,
    planning_world,
)
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("planning")


@pytest.fixture
def planning(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Planning]:
    yield from planning_world(monkeypatch)


def member(n: int) -> str:
    return f"01HX{n:022d}"


def facts(*events: Any) -> dict[str, Any]:
    result: dict[str, Any] = on_member_facts.handler(
        sqs_event([contract_bus_event(e) for e in events]), FakeContext()
    )
    return result


def privacy(*events: Any) -> dict[str, Any]:
    result: dict[str, Any] = on_member_privacy.handler(
        sqs_event([contract_bus_event(e) for e in events]), FakeContext()
    )
    return result


def scored(m: str, at: datetime, **kw: Any) -> MemberProfileScored:
    base: dict[str, Any] = {
        "member_id": m, "scored_at": at, "rfm_segment": "champions", "recency_days": 3,
        "churn_risk": "low", "value_level": "high", "previous_churn_risk": None,
        "lifecycle_stage": "active", "tags": ["vip"], "frequency_90d": 4, "monetary_90d_cents": 90_000,
    }  # fmt: skip
    return MemberProfileScored.model_validate(base | kw)


def tier(m: str, new: str, at: datetime, direction: str = "up") -> TierChanged:
    return TierChanged(
        member_id=m, previous_tier="silver", new_tier=new, direction=direction,  # type: ignore[arg-type]
        reason="qualifying_spend", changed_at=at,
    )  # fmt: skip


def earned(m: str, balance: int, at: datetime, movement: str) -> PointsEarned:
    return PointsEarned(
        member_id=m, movement_id=movement, points=10, reason="purchase", purchase_id=None,
        status="available", available_at=None, expires_at=None, balance_after=balance, earned_at=at,
    )  # fmt: skip


def purchase(
    m: str, at: datetime, pid: str, amount: int = 10_000, category: str = "fashion"
) -> PurchaseRecorded:
    return PurchaseRecorded(
        purchase_id=pid, external_id=f"E-{pid}", source_system="pos", member_id=m, store_id="store-7",
        tenant_id=None, amount_cents=amount, channel="pos", occurred_at=at,
        items=[PurchaseItem(sku="s", category=category, quantity=1, amount_cents=amount)],
    )  # fmt: skip


def consent(m: str, channel: str, granted: bool, at: datetime) -> MemberConsentChanged:
    return MemberConsentChanged(
        member_id=m, purpose="marketing", channel=channel, granted=granted,  # type: ignore[arg-type]
        changed_at=at, text_version="v1",
    )  # fmt: skip


def attrs(m: str) -> dict[str, Any]:
    return next(i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{m}" and i["sk"] == "ATTRS")


class TestProjection:
    def test_each_fact_owns_its_fields_in_any_order(self) -> None:
        m = member(1)
        assert facts(scored(m, NOW), tier(m, "gold", NOW), earned(m, 900, NOW, "01MV2")) == {
            "batchItemFailures": []
        }
        facts(scored(m, NOW - timedelta(days=1), rfm_segment="hibernating"))  # older: ignored
        facts(earned(m, 100, NOW - timedelta(hours=1), "01MV1"))  # older movement: ignored
        facts(purchase(m, NOW, "P2", category="food"), purchase(m, NOW - timedelta(days=3), "P1"))
        facts(MemberRegistered(member_id=m, registered_at=NOW - timedelta(days=100), channel="store"))
        row = attrs(m)
        assert (row["rfm_segment"], row["tier"], row["points_balance"], row["tags"]) == (
            "champions", "gold", 900, ["vip"],
        )  # fmt: skip
        assert row["last_purchase_at"] == clock.to_utc_iso(NOW)
        assert row["categories"] == {"food", "fashion"} and row["stores"] == {"store-7"}
        assert row["gsi2pk"].startswith("AUDIENCE#") and row["gsi2sk"] == f"{m}#ATTRS"

    def test_an_erased_member_does_not_come_back(self) -> None:
        m = member(2)
        facts(tier(m, "gold", NOW))
        privacy(MemberErased(member_id=m, erased_at=NOW, requested_by="member"))
        assert not [i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{m}"]
        facts(scored(m, NOW + timedelta(hours=1)))  # a late event
        assert not [i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{m}"]


def population(n: int = 30) -> list[str]:
    """n members: even ones gold, odd silver; all consent to SMS except every fifth."""
    ids = [member(100 + i) for i in range(n)]
    events: list[Any] = []
    for i, m in enumerate(ids):
        events.append(tier(m, "gold" if i % 2 == 0 else "silver", NOW - timedelta(days=1)))
        events.append(earned(m, 100 * i, NOW - timedelta(days=1), f"01MV{i:04d}"))
    for start in range(0, len(events), 10):
        assert facts(*events[start : start + 10]) == {"batchItemFailures": []}
    consents = [consent(m, "sms", i % 5 != 0, NOW - timedelta(days=2)) for i, m in enumerate(ids)]
    for start in range(0, len(consents), 10):
        privacy(*consents[start : start + 10])
    return ids


GOLD_WITH_POINTS = {
    "and": [
        {"field": "tier", "op": "in", "values": ["gold"]},
        {"field": "points_balance", "op": "gte", "value": 1000},
    ]
}


class TestSegmentsApi:
    def test_invalid_rule_422_names_the_field(self) -> None:
        status, body = call("POST", "/v1/admin/segments", {"name": "x", "rule": {"or": [{"field": "tier"}]}})
        assert status == 422
        assert body["error"]["code"] == "invalid_segment_rule"
        assert body["error"]["fields"][0]["field"] == "rule.or.0.op"
        assert not [i for i in all_items(TABLE) if i.get("entity") == "segment"]

    def test_roles(self) -> None:
        status, _ = call("GET", "/v1/admin/segments", groups=("store_staff",))
        assert status == 403

    def test_create_list_get_and_preview_from_the_snapshot(self) -> None:
        population()
        status, body = call("POST", "/v1/admin/segments/preview", {"rule": GOLD_WITH_POINTS})
        assert (status, body["error"]["code"]) == (409, "audience_snapshot_missing")
        result = materialise.handler({}, FakeContext())
        assert result["members"] == 30
        keys = [o["Key"] for o in aws("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert "audience/latest.json" in keys and sum(k.endswith(".bin") for k in keys) == 16
        status, segment = call("POST", "/v1/admin/segments", {"name": "gold 1000+", "rule": GOLD_WITH_POINTS})
        assert status == 201
        sid = segment["segment_id"]
        status, page = call("GET", "/v1/admin/segments")
        assert [s["segment_id"] for s in page["items"]] == [sid]
        route = "/v1/admin/segments/{segment_id}/preview"
        status, out = call("POST", f"/v1/admin/segments/{sid}/preview", {"sample_size": 3}, route=route,
                           params={"segment_id": sid})  # fmt: skip
        assert status == 200
        # gold = even i; balance 100*i >= 1000 → i in 10, 12, ..., 28 → 10 members
        assert (out["count"], out["population"], len(out["sample"])) == (10, 30, 3)
        assert all("…" in s["member_id"] and s["tier"] == "gold" for s in out["sample"])


def content(body: str = "Hi {tier} member") -> dict[str, Any]:
    return {"sms": {"body": body}, "inbox": {"title": "News", "body": body}}


def make_segment(rule: dict[str, Any] | None = None) -> str:
    status, segment = call("POST", "/v1/admin/segments", {"name": "s", "rule": rule or GOLD_WITH_POINTS})
    assert status == 201
    return str(segment["segment_id"])


class TestCampaignsApi:
    def test_bad_campaigns_are_422_and_write_nothing(self) -> None:
        sid = make_segment()
        cases: list[tuple[dict[str, Any], str]] = [
            ({"channels": ["sms", "email"]}, "content.email"),
            ({"offer": {"type": "coupon", "template_id": "tpl-unknown"}}, "offer.template_id"),
            ({"kind": "scheduled", "scheduled_at": "2020-01-01T10:00:00"}, "scheduled_at"),
            ({"segment_id": "01HX0000000000000000000000"}, "segment_id"),
        ]
        for patch, field in cases:
            body = {"name": "c", "kind": "one_off", "segment_id": sid, "channels": ["sms", "inbox"],
                    "content": content()} | patch  # fmt: skip
            status, out = call("POST", "/v1/admin/campaigns", body)
            assert (status, out["error"]["code"]) == (422, "invalid_campaign"), patch
            assert [f["field"] for f in out["error"]["fields"]] == [field]
        assert not [i for i in all_items(TABLE) if i.get("entity") == "campaign"]

    def test_scheduled_campaign_creates_a_schedule_in_mall_time(self) -> None:
        sid = make_segment()
        at = (
            (clock.now() + timedelta(days=2))
            .astimezone(clock.zone("Asia/Shanghai"))
            .replace(hour=10, minute=0, second=0, microsecond=0, tzinfo=None)
        )
        status, out = call("POST", "/v1/admin/campaigns", {
            "name": "weekend", "kind": "scheduled", "segment_id": sid, "channels": ["sms"],
            "content": {"sms": {"body": "x"}}, "scheduled_at": at.isoformat(),
        })  # fmt: skip
        assert status == 201 and out["status"] == "scheduled"
        schedule = aws("scheduler").get_schedule(Name=f"campaign-launch-{out['campaign_id']}")
        assert schedule["ScheduleExpression"] == f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})"
        assert schedule["ScheduleExpressionTimezone"] == "Asia/Shanghai"
        assert json.loads(schedule["Target"]["Input"])["campaign_id"] == out["campaign_id"]


def on_campaign(method: str, cid: str, suffix: str = "") -> tuple[int, Any]:
    route = "/v1/admin/campaigns/{campaign_id}" + suffix
    return call(method, f"/v1/admin/campaigns/{cid}{suffix}", route=route, params={"campaign_id": cid})


def launched_assignments() -> dict[str, str]:
    """member → arm, from the launches' assignment buckets."""
    out: dict[str, str] = {}
    for item in all_items(TABLE):
        if item.get("entity") == "campaign_assignment_bucket":
            for arm, ids in item["arms"].items():
                out.update(dict.fromkeys(ids.split(","), arm))
    return out


def launch_campaign(planning: Planning, body: dict[str, Any]) -> tuple[str, list[SendRequest]]:
    status, created = call("POST", "/v1/admin/campaigns", body)
    assert status == 201, created
    cid = created["campaign_id"]
    status, out = on_campaign("POST", cid, "/launch")
    assert (status, out["status"]) == (202, "launching")
    jobs = drain(planning.launch_queue)
    assert [j["body"] for j in jobs] == [{"campaign_id": cid, "cursor": 0}]
    result = launch_worker.handler(sqs_event([json.dumps(j["body"]) for j in jobs]), FakeContext())
    assert result == {"batchItemFailures": []}
    return cid, [SendRequest.parse(m["body"]) for m in drain(planning.dispatch_queue)]


class TestPacedLaunch:
    """Planning-time guardrails: the launch waits for the end of quiet hours and queues no faster
    than the campaign rate, continuing through one-time schedules onto the launch queue."""

    def start(self, planning: Planning, members: int) -> str:
        population(members)
        materialise.handler({}, FakeContext())
        sid = make_segment({"field": "tier", "op": "in", "values": ["gold"]})
        status, created = call("POST", "/v1/admin/campaigns", {
            "name": "paced", "kind": "one_off", "segment_id": sid, "channels": ["sms"],
            "content": {"sms": {"body": "hello"}},
        })  # fmt: skip
        assert status == 201, created
        cid = str(created["campaign_id"])
        assert on_campaign("POST", cid, "/launch")[0] == 202
        return cid

    def run_jobs(self, planning: Planning) -> None:
        jobs = drain(planning.launch_queue)
        result = launch_worker.handler(sqs_event([json.dumps(j["body"]) for j in jobs]), FakeContext())
        assert result == {"batchItemFailures": []}

    def schedules(self, cid: str) -> list[dict[str, Any]]:
        scheduler = aws("scheduler")
        names = [
            s["Name"] for s in scheduler.list_schedules(NamePrefix=f"campaign-launch-{cid}-")["Schedules"]
        ]
        return [scheduler.get_schedule(Name=n) for n in sorted(names)]

    def test_a_launch_in_quiet_hours_waits_for_the_morning(
        self, planning: Planning, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("QUIET_START_HOUR", "21")
        monkeypatch.setenv("QUIET_END_HOUR", "9")
        evening = datetime.now(UTC).replace(hour=14, minute=30, second=0, microsecond=0)  # 22:30 in Shanghai
        clock.set_clock(lambda: evening)
        try:
            cid = self.start(planning, 10)
            self.run_jobs(planning)
            assert drain(planning.dispatch_queue) == []
            (schedule,) = self.schedules(cid)
            morning = (evening + timedelta(days=1)).replace(hour=1, minute=0)  # 09:00 in Shanghai
            assert schedule["ScheduleExpression"] == f"at({morning.strftime('%Y-%m-%dT%H:%M:%S')})"
            assert schedule["ScheduleExpressionTimezone"] == "UTC"
            assert schedule["Target"]["Arn"].endswith(":mallcrm-test-campaigns-launch")
            assert json.loads(schedule["Target"]["Input"]) == {"campaign_id": cid, "cursor": 0}
            # A redelivered job asks for the same continuation: one schedule, no error.
            launch_worker.handler(sqs_event([json.dumps({"campaign_id": cid, "cursor": 0})]), FakeContext())
            assert len(self.schedules(cid)) == 1
            # The schedule fires at 09:00: the whole launch goes out then.
            clock.set_clock(lambda: morning)
            launch_worker.handler(sqs_event([schedule["Target"]["Input"]]), FakeContext())
            assert len(drain(planning.dispatch_queue)) > 0
            assert on_campaign("GET", cid)[1]["status"] == "launched"
        finally:
            clock.set_clock(None)

    def test_a_launch_queues_at_most_the_rate_per_minute(
        self, planning: Planning, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CAMPAIGN_RATE_PER_MINUTE", "3")
        cid = self.start(planning, 40)  # 16 gold members who consented (see TestLaunch)
        self.run_jobs(planning)
        first = drain(planning.dispatch_queue)
        assert 0 < len(first) <= 3
        (schedule,) = self.schedules(cid)
        continuation = json.loads(schedule["Target"]["Input"])
        assert continuation["campaign_id"] == cid and continuation["cursor"] > 0
        assert on_campaign("GET", cid)[1]["status"] == "launching"


class TestLaunch:
    def test_launch_resolves_assigns_and_queues(self, planning: Planning) -> None:
        ids = population(40)
        materialise.handler({}, FakeContext())
        sid = make_segment({"field": "tier", "op": "in", "values": ["gold"]})
        cid, sent = launch_campaign(planning, {
            "name": "A/B", "kind": "one_off", "segment_id": sid, "channels": ["sms", "inbox"],
            "content": content(), "variants": [{"name": "A"}, {"name": "B"}], "holdout_percent": 20,
            "offer": {"type": "points", "points": 50}, "priority": 70,
        })  # fmt: skip
        gold_consenting = [m for i, m in enumerate(ids) if i % 2 == 0 and i % 5 != 0]
        assignments = launched_assignments()
        assert sorted(assignments) == sorted(gold_consenting)  # 16 members
        treated = sorted(m for m, arm in assignments.items() if arm in {"A", "B"})
        assert sorted(r.member_id for r in sent) == treated
        arms = [assignments[m] for m in treated]
        assert abs(arms.count("A") - arms.count("B")) <= 4  # a block is 4 + 4 + 2 here
        request = sent[0]
        assert request.send_id == f"cmp#{cid}#{request.member_id}" and request.priority == 70
        assert request.personalisation["tier"] == "gold" and request.offer is not None
        status, campaign = on_campaign("GET", cid)
        assert campaign["status"] == "launched" and campaign["snapshot_id"]
        (outbox,) = [i for i in all_items(TABLE) if i.get("entity") == "outbox"]
        event = CampaignLaunched.model_validate(json.loads(outbox["detail"])["data"])
        assert (event.audience, event.queued) == (16, len(sent))
        stats = {
            i["sk"]: i["assigned"]
            for i in all_items(TABLE)
            if i["pk"] == f"CAMPAIGN#{cid}" and i["sk"].startswith("STATS#")
        }
        assert sum(stats.values()) == 16 and set(stats) <= {"STATS#A", "STATS#B", "STATS#holdout"}
        status, again = on_campaign("POST", cid, "/launch")
        assert (status, again["error"]["code"]) == (409, "campaign_not_launchable")

    def test_attribution_and_report(self, planning: Planning) -> None:
        population(20)
        materialise.handler({}, FakeContext())
        sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
        cid, sent = launch_campaign(planning, {
            "name": "all", "kind": "one_off", "segment_id": sid, "channels": ["sms"],
            "content": {"sms": {"body": "x"}}, "holdout_percent": 50,
        })  # fmt: skip
        assignments = launched_assignments()
        buyer = next(m for m, arm in assignments.items() if arm == "-")
        later = clock.now() + timedelta(hours=1)
        delivered = contract_bus_event(purchase(buyer, later, "PX", amount=25_000))
        on_member_facts.handler(sqs_event([delivered, delivered]), FakeContext())  # counted once
        facts(purchase(buyer, later + timedelta(hours=1), "PY", amount=5_000))
        redeemed = CouponRedeemed(
            coupon_id="01HYC0UP0N0000000000000001", template_id="tpl-10off", member_id=buyer,
            campaign_id=cid, store_id="store-7", redeemed_at=later, discount_cents=2_000,
        )  # fmt: skip
        facts(redeemed)
        facts(purchase(buyer, later + timedelta(days=8), "PZ", amount=9_000))  # after the 7-day window
        status, report = on_campaign("GET", cid, "/report")
        assert status == 200
        groups = {g["group"]: g for g in report["groups"]}
        treated = groups["-"]
        assert (treated["converted"], treated["purchases"], treated["sales_cents"]) == (1, 2, 30_000)
        assert (treated["redemptions"], treated["discount_cents"], treated["offer_cost_cents"]) == (
            1,
            2_000,
            2_000,
        )
        assert treated["assigned"] == len(sent)
        assert groups["holdout"]["assigned"] == len(assignments) - len(sent)
        assert treated["uplift"]["method"] == "newcombe_hybrid_score"
        assert report["winner"] is None
        (marker,) = [i for i in all_items(TABLE) if i.get("entity") == "campaign_conversion"]
        assert buyer not in marker["pk"] and "#anon_" in marker["pk"]  # campaigns' pseudonym
        # Attribution's counters go to the arm's shards (a hot campaign's buyers convert at once);
        # only the launch's once-per-arm ``assigned`` stays on the unsharded item.
        stats = [
            i for i in all_items(TABLE) if i["pk"] == f"CAMPAIGN#{cid}" and i["sk"].startswith("STATS#-")
        ]
        assert sum(int(i.get("purchases", 0)) for i in stats if i["sk"].startswith("STATS#-#")) == 2
        assert all("purchases" not in i and "redemptions" not in i for i in stats if i["sk"] == "STATS#-")

    def test_erasure_takes_the_member_out_of_launch_assignments(self, planning: Planning) -> None:
        population(20)
        materialise.handler({}, FakeContext())
        sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
        launch_campaign(planning, {"name": "x", "kind": "one_off", "segment_id": sid, "channels": ["sms"],
                                   "content": {"sms": {"body": "x"}}})  # fmt: skip
        before = launched_assignments()
        erased = sorted(before)[3]
        privacy(MemberErased(member_id=erased, erased_at=clock.now(), requested_by="member"))
        after = launched_assignments()
        assert erased not in after and set(after) == set(before) - {erased}
        privacy(MemberErased(member_id=erased, erased_at=clock.now(), requested_by="member"))  # again
        assert launched_assignments() == after


class TestTriggered:
    def test_tier_up_queues_a_congratulation(self, planning: Planning) -> None:
        m = member(7)
        privacy(consent(m, "sms", True, NOW - timedelta(days=1)))
        status, created = call("POST", "/v1/admin/campaigns", {
            "name": "tier up", "kind": "triggered", "trigger": {"event": "tier_changed", "tiers": ["gold"]},
            "channels": ["sms"], "content": {"sms": {"body": "Welcome to {new_tier}!"}}, "priority": 80,
        })  # fmt: skip
        cid = created["campaign_id"]
        status, active = on_campaign("POST", cid, "/launch")
        assert (status, active["status"]) == (200, "active")
        event = contract_bus_event(tier(m, "gold", clock.now()))
        assert on_trigger_event.handler(sqs_event([event, event]), FakeContext()) == {"batchItemFailures": []}
        requests = [SendRequest.parse(x["body"]) for x in drain(planning.dispatch_queue)]
        assert len(requests) == 2 and len({r.send_id for r in requests}) == 1  # dispatch dedupes
        assert requests[0].send_id == f"cmp#{cid}#{m}#tier-gold"
        assert requests[0].personalisation["new_tier"] == "gold" and requests[0].priority == 80
        assigned = [i for i in all_items(TABLE) if i.get("entity") == "campaign_assignment"]
        assert len(assigned) == 1
        on_trigger_event.handler(
            sqs_event([contract_bus_event(tier(m, "silver", clock.now(), "down"))]), FakeContext()
        )
        assert drain(planning.dispatch_queue) == []
