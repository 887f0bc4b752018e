"""Segments, campaign creation, launches, triggers and reports — logic with in-memory fakes."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from services.campaigns.logic import launch as launch_module
from services.campaigns.logic.campaigns import (
    TemplateInfo,
    checked_rule,
    create_campaign,
    create_segment,
    preview,
    request_launch,
)
from services.campaigns.logic.experiments import CONTROL, HOLDOUT, in_global_control
from services.campaigns.logic.guardrails import QuietHours
from services.campaigns.logic.launch import (
    LaunchJob,
    LaunchPace,
    Target,
    _Requests,
    launch_job,
    personalisation,
    resolve,
    send_request,
)
from services.campaigns.logic.planning_errors import (
    CampaignNotLaunchable,
    InvalidCampaign,
    InvalidSegmentRule,
    NoAudienceSnapshot,
)
from services.campaigns.logic.reports import build_report
from services.campaigns.logic.triggers import on_trigger
from services.campaigns.models.audience import MemberAttributes
from services.campaigns.models.campaigns import Campaign, CampaignCreate, SegmentCreate
from shared.events.contracts import CampaignLaunched, PointsExpiring, TierChanged
from tests.unit.campaigns.planning_fakes import (
    FakeCampaigns,
    FakeDispatch,
    FakeLaunchQueue,
    FakeOffers,
    FakeScheduler,
    FakeSegments,
    audience_of,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
TZ = "Asia/Shanghai"
SALT = "salt"
GOLD = {"field": "tier", "op": "in", "values": ["gold"]}


def member_row(n: int, **kw: Any) -> MemberAttributes:
    base: dict[str, Any] = {
        "tier": "gold",
        "points_balance": 100 + n,
        "consents": frozenset({"marketing:sms"}),
    }
    return MemberAttributes(member_id=f"01HX{n:022d}", **(base | kw))


def body(**kw: Any) -> CampaignCreate:
    base: dict[str, Any] = {
        "name": "Double points weekend",
        "kind": "one_off",
        "segment_id": "SEG",
        "channels": ["sms", "inbox"],
        "content": {
            "sms": {"body": "{tier} member: double points this weekend"},
            "inbox": {"title": "Double points", "body": "You have {points_balance} points"},
        },
    }
    return CampaignCreate.model_validate(base | kw)


@dataclass
class World:
    segments: FakeSegments = field(default_factory=FakeSegments)
    offers: FakeOffers = field(default_factory=FakeOffers)
    campaigns: FakeCampaigns = field(default_factory=FakeCampaigns)
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)

    def create(self, b: CampaignCreate, now: datetime = NOW) -> Campaign:
        return create_campaign(
            b,
            segments=self.segments,
            offers=self.offers,
            campaigns=self.campaigns,
            scheduler=self.scheduler,
            created_by="staff-1",
            now=now,
            timezone=TZ,
        )


@pytest.fixture
def world() -> World:
    w = World()
    seg = create_segment(SegmentCreate(name="gold", rule=GOLD), w.segments, "staff-1", NOW)
    w.segments.items["SEG"] = seg.model_copy(update={"segment_id": "SEG"})
    w.offers.templates["tpl-10off"] = TemplateInfo(True, "discount", 14, "active")
    w.offers.templates["tpl-retired"] = TemplateInfo(True, "discount", 14, "retired")
    return w


def fields_of(exc: pytest.ExceptionInfo[InvalidCampaign]) -> list[str]:
    return [f["field"] for f in exc.value.fields]


class TestSegments:
    def test_invalid_rule_is_a_422_with_the_field_and_nothing_is_stored(self) -> None:
        repo = FakeSegments()
        with pytest.raises(InvalidSegmentRule) as caught:
            create_segment(
                SegmentCreate(name="x", rule={"and": [GOLD, {"field": "tier", "op": "gte", "value": 1}]}),
                repo,
                "s",
                NOW,
            )
        assert caught.value.status == 422
        assert caught.value.fields[0]["field"] == "rule.and.1.op"
        assert repo.items == {}

    def test_preview_counts_and_masks(self) -> None:
        rows = [member_row(i, tier="gold" if i % 3 else "silver") for i in range(30)]
        out = preview(checked_rule(GOLD), audience_of(rows, NOW), NOW, 5)
        assert (out.count, out.population, len(out.sample)) == (20, 30, 5)
        assert all(s.member_id.startswith("01HX") and "…" in s.member_id for s in out.sample)
        assert {s.tier for s in out.sample} == {"gold"}
        with pytest.raises(NoAudienceSnapshot):
            preview(checked_rule(GOLD), None, NOW, 5)


class TestCreateCampaign:
    def test_valid_one_off(self, world: World) -> None:
        c = world.create(body(offer={"type": "coupon", "template_id": "tpl-10off"}))
        assert (c.status, c.segment_rule, c.offer_valid_days) == ("draft", GOLD, 14)
        assert world.offers.asked == ["tpl-10off"]

    def test_missing_channel_content(self, world: World) -> None:
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(channels=["sms", "wechat"]))
        assert fields_of(caught) == ["content.wechat"]
        assert world.campaigns.items == {}

    def test_unknown_personalisation_field(self, world: World) -> None:
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(content={"sms": {"body": "Hi {name}"}, "inbox": {"body": "x"}}))
        assert fields_of(caught) == ["content.sms"]

    def test_unknown_or_retired_template_without_writing(self, world: World) -> None:
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(offer={"type": "coupon", "template_id": "tpl-nope"}))
        assert fields_of(caught) == ["offer.template_id"]
        with pytest.raises(InvalidCampaign):
            world.create(body(offer={"type": "coupon", "template_id": "tpl-retired"}))
        assert world.campaigns.items == {}

    def test_loyalty_is_not_asked_about_an_otherwise_invalid_campaign(self, world: World) -> None:
        with pytest.raises(InvalidCampaign):
            world.create(body(segment_id="NOPE", offer={"type": "coupon", "template_id": "tpl-10off"}))
        assert world.offers.asked == []

    def test_schedule_in_the_past_and_in_mall_time(self, world: World) -> None:
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(kind="scheduled", scheduled_at="2026-11-23T09:59:00"))  # 01:59 UTC
        assert fields_of(caught) == ["scheduled_at"]
        c = world.create(body(kind="scheduled", scheduled_at="2026-11-24T10:00:00"))
        assert c.status == "scheduled"
        assert c.scheduled_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
        assert world.scheduler.schedules == [(c.campaign_id, datetime(2026, 11, 24, 10, 0), TZ)]

    def test_kind_specific_fields(self, world: World) -> None:
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(kind="triggered", segment_id=None))
        assert fields_of(caught) == ["trigger"]
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(segment_id=None, scheduled_at="2026-12-01T10:00:00"))
        assert fields_of(caught) == ["segment_id", "scheduled_at"]
        with pytest.raises(InvalidCampaign) as caught:
            world.create(body(variants=[{"name": "A"}]))
        assert fields_of(caught) == ["variants"]

    def test_trigger_fields_are_allowed_only_for_their_trigger(self, world: World) -> None:
        content = {"sms": {"body": "Welcome to {new_tier}!"}}
        c = world.create(
            body(
                kind="triggered",
                segment_id=None,
                trigger={"event": "tier_changed"},
                channels=["sms"],
                content=content,
            )
        )
        assert c.kind == "triggered"
        with pytest.raises(InvalidCampaign):
            world.create(
                body(
                    kind="triggered",
                    segment_id=None,
                    trigger={"event": "member_registered"},
                    channels=["sms"],
                    content=content,
                )
            )


def launched(kind: Literal["one_off", "scheduled", "triggered"] = "one_off") -> CampaignLaunched:
    return CampaignLaunched(
        campaign_id="X", kind=kind, segment_id=None, audience=0, queued=0, control=0, holdout=0,
        variants=[], snapshot_id=None, launched_at=NOW,
    )  # fmt: skip


class TestLaunch:
    def make(self, world: World, **kw: Any) -> Campaign:
        c = world.create(body(**kw))
        queue = FakeLaunchQueue()
        request_launch(c.campaign_id, world.campaigns, queue, NOW, launched())
        assert queue.jobs == [(c.campaign_id, 0)]
        return world.campaigns.items[c.campaign_id]

    def run(
        self, world: World, c: Campaign, rows: list[MemberAttributes], **kw: Any
    ) -> tuple[Any, FakeDispatch, FakeLaunchQueue]:
        dispatch, requeue = FakeDispatch(), FakeLaunchQueue()
        audience = audience_of(rows, NOW)
        progress = launch_job(
            LaunchJob(c.campaign_id, kw.pop("cursor", 0), scheduled=kw.pop("scheduled", False)),
            campaigns=world.campaigns,
            store=world.campaigns,
            audience_for=lambda _id: audience,
            dispatch=dispatch,
            requeue=requeue,
            now=NOW,
            control_salt=SALT,
            control_basis_points=kw.pop("bp", 1000),
            deferral=timedelta(hours=72),
            **kw,
        )
        return progress, dispatch, requeue

    def test_audience_controls_arms_and_messages(self, world: World) -> None:
        c = self.make(world, variants=[{"name": "A"}, {"name": "B", "content": {
            "sms": {"body": "B: {tier}"}, "inbox": {"body": "B inbox"}}}], holdout_percent=10,
            offer={"type": "points", "points": 50})  # fmt: skip
        rows = [member_row(i) for i in range(400)]
        rows += [member_row(1000 + i, consents=frozenset()) for i in range(20)]  # unreachable
        rows += [member_row(2000 + i, tier="silver") for i in range(20)]  # not in segment
        progress, dispatch, _ = self.run(world, c, rows)
        assert progress is not None and progress.done
        arms = Counter(world.campaigns.assignments.values())
        control = sum(1 for r in rows[:400] if in_global_control(r.member_id, SALT, 1000))
        assert arms[CONTROL] == control and sum(arms.values()) == 400
        assert abs(arms["A"] - arms["B"]) <= 9 and abs(arms[HOLDOUT] - (400 - control) * 0.1) <= 2
        assert len(dispatch.sent) == arms["A"] + arms["B"]
        sent_to = {r.member_id for r in dispatch.sent}
        assert all(world.campaigns.assignments[(c.campaign_id, m)] in {"A", "B"} for m in sent_to)
        b = next(r for r in dispatch.sent if r.variant == "B")
        assert b.content["sms"].body == "B: {tier}" and b.personalisation["tier"] == "gold"
        assert b.personalisation["points"] == "50" and b.offer is not None
        assert b.send_id == f"cmp#{c.campaign_id}#{b.member_id}"
        assert b.not_after == NOW + timedelta(hours=72) and b.priority == c.priority
        (_, counts, event) = world.campaigns.finished[0]
        assert counts == dict(arms)
        assert (event.audience, event.queued, event.control) == (400, len(dispatch.sent), control)
        assert world.campaigns.items[c.campaign_id].status == "launched"
        again, more, _ = self.run(world, c, rows)
        assert again is None and more.sent == []

    def test_resumes_from_its_cursor(self, world: World) -> None:
        c = self.make(world)
        rows = [member_row(i) for i in range(50)]
        progress, first, requeue = self.run(world, c, rows, page=20, keep_going=lambda: False, bp=0)
        assert progress is not None and not progress.done
        assert requeue.jobs == [(c.campaign_id, 20)] and len(first.sent) == 20
        progress, rest, _ = self.run(world, c, rows, page=20, cursor=20, bp=0)
        assert progress is not None and progress.done
        assert len({r.member_id for r in first.sent + rest.sent}) == 50

    def paced_run(
        self,
        world: World,
        c: Campaign,
        rows: list[MemberAttributes],
        now: datetime,
        cursor: int = 0,
        **kw: Any,
    ) -> tuple[Any, FakeDispatch, FakeLaunchQueue, list[str | None]]:
        dispatch, requeue, snapshots = FakeDispatch(), FakeLaunchQueue(), []
        audience = audience_of(rows, NOW)

        def audience_for(snapshot_id: str | None) -> Any:
            snapshots.append(snapshot_id)
            return audience

        progress = launch_job(
            LaunchJob(c.campaign_id, cursor),
            campaigns=world.campaigns, store=world.campaigns, audience_for=audience_for,
            dispatch=dispatch, requeue=requeue, now=now, control_salt=SALT, control_basis_points=0,
            deferral=timedelta(hours=72),
            pace=LaunchPace(kw.pop("per_minute", 1000), QuietHours(21, 9), SHANGHAI), **kw,
        )  # fmt: skip
        return progress, dispatch, requeue, snapshots

    def test_a_launch_in_quiet_hours_queues_nothing_and_continues_at_their_end(self, world: World) -> None:
        c = self.make(world)
        late = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
        progress, dispatch, requeue, snapshots = self.paced_run(
            world, c, [member_row(i) for i in range(5)], late
        )
        morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
        assert progress is not None and not progress.done and progress.resume_at == morning
        assert dispatch.sent == [] and snapshots == [] and requeue.jobs == []
        assert requeue.resumed == [(c.campaign_id, 0, morning)]
        assert world.campaigns.items[c.campaign_id].status == "launching"
        # At 09:00 the continuation launches the whole audience.
        progress, dispatch, requeue, _ = self.paced_run(world, c, [member_row(i) for i in range(5)], morning)
        assert progress is not None and progress.done and len(dispatch.sent) == 5
        assert world.campaigns.items[c.campaign_id].status == "launched"

    def test_a_launch_queues_no_more_than_the_rate_allows_per_minute(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        resolutions: list[str] = []
        real_resolve = launch_module.resolve

        def counting_resolve(campaign: Campaign, *args: Any, **kw: Any) -> Any:
            resolutions.append(campaign.campaign_id)
            return real_resolve(campaign, *args, **kw)

        monkeypatch.setattr(launch_module, "resolve", counting_resolve)
        c = self.make(world)
        rows = [member_row(i) for i in range(25)]
        progress, first, requeue, _ = self.paced_run(world, c, rows, NOW, per_minute=10, page=4)
        assert progress is not None and progress.paced and not progress.done
        assert 0 < len(first.sent) <= 10 and requeue.jobs == []
        assert requeue.resumed == [(c.campaign_id, progress.cursor, NOW + timedelta(minutes=1))]
        sent = list(first.sent)
        cursor, now = progress.cursor, NOW
        while not progress.done:
            now += timedelta(minutes=1)
            progress, more, requeue, _ = self.paced_run(world, c, rows, now, cursor, per_minute=10, page=4)
            assert progress is not None and len(more.sent) <= 10
            sent += more.sent
            cursor = progress.cursor
        assert sorted(r.member_id for r in sent) == sorted(r.member_id for r in rows)
        assert world.campaigns.items[c.campaign_id].status == "launched"
        # The warm container dealt the audience once for all the runs of the launch.
        assert resolutions == [c.campaign_id]

    def test_scheduled_job_starts_the_launch_and_a_second_launch_is_refused(self, world: World) -> None:
        c = world.create(body(kind="scheduled", scheduled_at="2026-11-24T10:00:00"))
        dispatch, audience = FakeDispatch(), audience_of([member_row(1)], NOW)
        progress = launch_job(
            LaunchJob(c.campaign_id, 0, scheduled=True),
            campaigns=world.campaigns, store=world.campaigns, audience_for=lambda _id: audience,
            dispatch=dispatch, requeue=FakeLaunchQueue(), now=NOW, control_salt=SALT,
            control_basis_points=0, deferral=timedelta(hours=1),
        )  # fmt: skip
        assert progress is not None and progress.done and len(dispatch.sent) == 1
        with pytest.raises(CampaignNotLaunchable):
            request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched())

    def test_a_stale_schedule_does_not_start_a_second_worker(self, world: World) -> None:
        c = world.create(body(kind="scheduled", scheduled_at="2026-11-24T10:00:00"))
        request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched())  # early
        progress, dispatch, _ = self.run(world, c, [member_row(1)], scheduled=True)
        assert progress is None and dispatch.sent == []
        assert world.campaigns.items[c.campaign_id].status == "launching"

    def test_prepared_bodies_are_what_the_model_would_serialise(self, world: World) -> None:
        c = world.create(body(variants=[{"name": "A"}, {"name": "B"}], offer={"type": "points", "points": 5}))
        prepared = _Requests(c, NOW, NOW + timedelta(hours=1))
        for n, tier in enumerate(("gold", "silver", None)):
            target = Target(f"01HX{n:022d}", tier, 10 * n if tier else None)
            expected = send_request(
                c, target.member_id, "B", personalisation(target), NOW, NOW + timedelta(hours=1)
            )
            assert json.loads(prepared.body_for(target, "B")) == json.loads(expected.model_dump_json())

    def test_resolution_is_deterministic(self, world: World) -> None:
        c = world.create(body(variants=[{"name": "A"}, {"name": "B"}]))
        audience = audience_of([member_row(i) for i in range(100)], NOW)
        first = resolve(c, audience, NOW, control_salt=SALT, control_basis_points=500)
        assert first == resolve(c, audience, NOW, control_salt=SALT, control_basis_points=500)


@dataclass
class FakeTriggerRepo:
    campaigns: list[Campaign]
    rows: dict[str, MemberAttributes]
    arrivals: int = 0
    by_shard: dict[tuple[str, int], int] = field(default_factory=dict)
    assigned: dict[tuple[str, str, str | None], str] = field(default_factory=dict)

    def active_for_trigger(self, event: str) -> list[Campaign]:
        return [c for c in self.campaigns if c.trigger is not None and c.trigger.event == event]

    def member(self, member_id: str) -> MemberAttributes | None:
        return self.rows.get(member_id)

    def next_arrival(self, campaign_id: str, shard: int) -> int:
        self.arrivals += 1
        position = self.by_shard.get((campaign_id, shard), 0)
        self.by_shard[(campaign_id, shard)] = position + 1
        return position

    def assign_once(self, campaign: Campaign, member_id: str, key: str | None, arm: str, at: datetime) -> str:
        return self.assigned.setdefault((campaign.campaign_id, member_id, key), arm)


class TestTriggers:
    def tier_campaign(self, world: World, **kw: Any) -> Campaign:
        c = world.create(
            body(
                kind="triggered",
                segment_id=kw.pop("segment_id", None),
                trigger={"event": "tier_changed", **kw.pop("trigger", {})},
                channels=["sms"],
                content={"sms": {"body": "Congratulations, you are {new_tier} now"}},
                **kw,
            )
        )
        return request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched("triggered"))

    def fire(self, repo: FakeTriggerRepo, fact: Any, dispatch: FakeDispatch) -> list[str]:
        outcomes = on_trigger(
            fact, repo=repo, dispatch=dispatch, now=NOW, timezone=TZ, control_salt=SALT,
            control_basis_points=0, deferral=timedelta(hours=72),
        )  # fmt: skip
        return [o.reason for o in outcomes]

    def tier_event(
        self, member: str, direction: Literal["up", "down"] = "up", tier: str = "gold"
    ) -> TierChanged:
        return TierChanged(
            member_id=member, previous_tier="silver", new_tier=tier, direction=direction,
            reason="qualifying_spend", changed_at=NOW,
        )  # fmt: skip

    def test_tier_up_is_congratulated_once(self, world: World) -> None:
        c = self.tier_campaign(world)
        row = member_row(1)
        repo, dispatch = FakeTriggerRepo([c], {row.member_id: row}), FakeDispatch()
        assert self.fire(repo, self.tier_event(row.member_id), dispatch) == ["queued"]
        assert self.fire(repo, self.tier_event(row.member_id), dispatch) == ["queued"]
        first, second = dispatch.sent
        assert first.send_id == second.send_id == f"cmp#{c.campaign_id}#{row.member_id}#tier-gold"
        assert first.personalisation["new_tier"] == "gold"
        assert repo.arrivals == 2 and len(repo.assigned) == 1  # one assignment, dispatch dedupes

    def test_filters(self, world: World) -> None:
        c = self.tier_campaign(world, trigger={"tiers": ["platinum"]})
        silent = member_row(2, consents=frozenset())
        repo = FakeTriggerRepo([c], {silent.member_id: silent})
        d = FakeDispatch()
        assert self.fire(repo, self.tier_event("x", "down"), d) == ["not_an_upgrade"]
        assert self.fire(repo, self.tier_event("x"), d) == ["tier_not_targeted"]
        assert d.sent == []
        # Consent is dispatch's to check at send time (the projection may lag a registration).
        assert self.fire(repo, self.tier_event(silent.member_id, tier="platinum"), d) == ["queued"]
        assert [r.member_id for r in d.sent] == [silent.member_id]

    def test_segment_filter_and_points_reminder(self, world: World) -> None:
        c = world.create(
            body(kind="triggered", trigger={"event": "points_expiring"}, channels=["sms"],
                 content={"sms": {"body": "{expiring_points} points expire on {expires_on}"}})
        )  # fmt: skip
        c = request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched("triggered"))
        gold, silver = member_row(1), member_row(2, tier="silver")
        repo, d = FakeTriggerRepo([c], {gold.member_id: gold, silver.member_id: silver}), FakeDispatch()
        expires = NOW + timedelta(days=2)  # sooner than the 72 h deferral limit
        for m in (gold, silver):
            fact = PointsExpiring(
                member_id=m.member_id, points=300, expires_at=expires, days_left=7, noticed_at=NOW
            )
            self.fire(repo, fact, d)
        (sent,) = d.sent
        assert sent.member_id == gold.member_id
        assert (
            sent.personalisation["expires_on"] == "2026-11-25"
            and sent.personalisation["expiring_points"] == "300"
        )
        assert sent.not_after == expires


class TestReport:
    def test_rates_uplift_and_costs(self, world: World) -> None:
        c = world.create(body(variants=[{"name": "A"}, {"name": "B"}], holdout_percent=10,
                              offer={"type": "points", "points": 100}))  # fmt: skip
        stats = {
            "A": {"assigned": 1000, "sent": 900, "suppressed_no_consent": 30, "deferred": 12,
                  "converted": 150, "purchases": 170, "sales_cents": 1_700_000, "delivered": 880,
                  "clicked": 40},
            "B": {"assigned": 1000, "sent": 910, "converted": 90, "purchases": 95, "sales_cents": 950_000},
            HOLDOUT: {"assigned": 220, "converted": 18, "purchases": 20, "sales_cents": 180_000},
            CONTROL: {"assigned": 100, "converted": 8, "purchases": 8, "sales_cents": 80_000},
        }  # fmt: skip
        report = build_report(c, stats, point_value_cents=1)
        a = report.groups[0]
        assert (a.group, a.conversion_rate, a.suppressed) == ("A", 0.15, {"no_consent": 30})
        assert a.offer_cost_cents == 900 * 100
        assert (
            report.baseline is not None
            and report.baseline.assigned == 320
            and report.baseline.converted == 26
        )
        assert a.uplift is not None and a.uplift.significant and a.uplift.ci_low > 0
        assert a.uplift.difference == pytest.approx(0.15 - 26 / 320)
        assert a.incremental_sales_cents == round((1700 - 260_000 / 320) * 1000)
        assert report.winner == "A" and report.audience == 2320
        b = report.groups[1]
        assert b.uplift is not None and not b.uplift.significant
