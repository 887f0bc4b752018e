"""Campaign lifecycle on moto through the API: ``PATCH`` edits a draft only; ``POST .../cancel``
deletes a scheduled campaign's pending Scheduler schedule, takes a triggered campaign out of the
trigger index, and makes dispatch suppress sends already queued (``campaign_cancelled``); a launch
cancelled part-way stays erasable (its buckets are in the launch index)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.campaigns.dal.campaign_stats import stats_by_variant
from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.handlers import launch_worker, materialise, on_member_privacy, on_trigger_event
from services.campaigns.logic.dispatch import Delivery, Dependencies, OutgoingMessage, Policy, process
from services.campaigns.logic.guardrails import Limits, QuietHours
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.events.contracts import MemberErased, MemberRegistered
from tests.integration.campaigns.planning_support import TABLE, Planning, call, drain, planning_world
from tests.integration.campaigns.test_planning_flow import (
    launched_assignments,
    make_segment,
    on_campaign,
    population,
)
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event


@pytest.fixture
def planning(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Planning]:
    yield from planning_world(monkeypatch)


def patch(cid: str, body: dict[str, Any]) -> tuple[int, Any]:
    return call(
        "PATCH", f"/v1/admin/campaigns/{cid}", body, route="/v1/admin/campaigns/{campaign_id}",
        params={"campaign_id": cid},
    )  # fmt: skip


def create(body: dict[str, Any]) -> dict[str, Any]:
    status, created = call("POST", "/v1/admin/campaigns", body)
    assert status == 201, created
    return dict(created)


def one_off(sid: str, **kw: Any) -> dict[str, Any]:
    return {"name": "c", "kind": "one_off", "segment_id": sid, "channels": ["sms"],
            "content": {"sms": {"body": "Hi {tier}"}}} | kw  # fmt: skip


class Sms:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> Delivery:
        self.sent.append(message)
        return Delivery(provider_message_id=f"p-{len(self.sent)}")


class Nothing:
    def issue(self, request: SendRequest) -> Any:  # pragma: no cover - no offers here
        raise AssertionError

    def ensure(self, at: Any) -> None:
        return None


def dispatch_all(requests: list[SendRequest], sms: Sms) -> list[str]:
    policy = Policy(
        zone=clock.zone("Asia/Shanghai"), limits=Limits(per_day=5, per_week=10), quiet=QuietHours(0, 0),
        decision_window=timedelta(0),
    )  # fmt: skip
    deps = Dependencies(
        store=DynamoDispatchStore(TABLE), channels={"sms": sms}, offers=Nothing(), waker=Nothing()
    )
    return [process(r, deps, policy, clock.now()) for r in requests]


class TestEditDraft:
    def test_patch_edits_a_draft_and_409s_once_launched(self, planning: Planning) -> None:
        sid = make_segment()
        cid = create(one_off(sid))["campaign_id"]
        status, edited = patch(cid, {"name": "renamed", "priority": 90})
        assert (status, edited["name"], edited["priority"], edited["revision"]) == (200, "renamed", 90, 1)
        assert on_campaign("GET", cid)[1]["name"] == "renamed"
        status, bad = patch(cid, {"channels": ["sms", "email"]})
        assert (status, bad["error"]["code"], bad["error"]["fields"][0]["field"]) == (
            422, "invalid_campaign", "content.email",
        )  # fmt: skip
        status, _ = patch(cid, {"colour": "red"})
        assert status == 422  # unknown fields are refused
        assert on_campaign("GET", cid)[1]["revision"] == 1  # neither wrote anything
        assert on_campaign("POST", cid, "/launch")[0] == 202
        status, refused = patch(cid, {"name": "too late"})
        assert (status, refused["error"]["code"]) == (409, "campaign_not_editable")


class TestCancel:
    def test_a_scheduled_campaign_s_schedule_is_deleted(self, planning: Planning) -> None:
        sid = make_segment()
        at = (clock.now() + timedelta(days=2)).astimezone(clock.zone("Asia/Shanghai")).replace(tzinfo=None)
        cid = create(one_off(sid, kind="scheduled", scheduled_at=at.isoformat(timespec="seconds")))[
            "campaign_id"
        ]
        name = f"campaign-launch-{cid}"
        assert aws("scheduler").get_schedule(Name=name)["Name"] == name
        status, out = on_campaign("POST", cid, "/cancel")
        assert (status, out["status"]) == (200, "cancelled")
        with pytest.raises(aws("scheduler").exceptions.ResourceNotFoundException):
            aws("scheduler").get_schedule(Name=name)
        assert on_campaign("POST", cid, "/cancel")[0] == 200  # again: idempotent
        # the schedule's job, had it fired meanwhile, finds the campaign not scheduled
        job = json.dumps({"campaign_id": cid, "cursor": 0, "scheduled": True})
        assert launch_worker.handler(sqs_event([job]), FakeContext()) == {"batchItemFailures": []}
        assert drain(planning.dispatch_queue) == []
        assert on_campaign("GET", cid)[1]["status"] == "cancelled"
        assert on_campaign("POST", "01HX0000000000000000000000", "/cancel")[0] == 404

    def test_queued_sends_are_suppressed_at_dispatch(self, planning: Planning) -> None:
        population(20)
        materialise.handler({}, FakeContext())
        sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
        cid = create(one_off(sid))["campaign_id"]
        on_campaign("POST", cid, "/launch")
        jobs = drain(planning.launch_queue)
        launch_worker.handler(sqs_event([json.dumps(j["body"]) for j in jobs]), FakeContext())
        queued = [SendRequest.parse(m["body"]) for m in drain(planning.dispatch_queue)]
        sms = Sms()
        assert dispatch_all(queued[:2], sms) == ["sent", "sent"]
        assert on_campaign("POST", cid, "/cancel")[1]["status"] == "cancelled"
        assert set(dispatch_all(queued[2:], sms)) == {"suppressed"}
        assert len(sms.sent) == 2
        records = [i for i in all_items(TABLE) if i.get("entity") == "send"]
        assert sorted(r["reason"] for r in records if r["status"] == "suppressed") == [
            "campaign_cancelled"
        ] * (len(queued) - 2)
        stats = stats_by_variant(
            i for i in all_items(TABLE) if i["pk"] == f"CAMPAIGN#{cid}" and i["sk"].startswith("STATS#")
        )["-"]
        assert (stats["sent"], stats["suppressed_campaign_cancelled"]) == (2, len(queued) - 2)
        events = [
            json.loads(i["detail"])["data"]
            for i in all_items(TABLE)
            if i.get("detail_type") == "MessageSuppressed"
        ]
        assert {e["reason"] for e in events} == {"campaign_cancelled"}

    def test_a_triggered_campaign_leaves_the_trigger_index(self, planning: Planning) -> None:
        welcome = {"name": "welcome", "kind": "triggered", "trigger": {"event": "member_registered"},
                   "channels": ["sms"], "content": {"sms": {"body": "Welcome"}}}  # fmt: skip
        cid = create(welcome)["campaign_id"]
        assert on_campaign("POST", cid, "/launch")[1]["status"] == "active"
        index = [i for i in all_items(TABLE) if i["pk"] == "TRIGGER#member_registered"]
        assert [i["campaign_id"] for i in index] == [cid]
        on_campaign("POST", cid, "/cancel")
        assert not [i for i in all_items(TABLE) if i["pk"].startswith("TRIGGER#")]
        registered = MemberRegistered(
            member_id="01HX0000000000000000000NEW", registered_at=clock.now(), channel="store"
        )
        on_trigger_event.handler(sqs_event([contract_bus_event(registered)]), FakeContext())
        assert drain(planning.dispatch_queue) == []  # no campaign answers the trigger any more

    def test_a_launch_cancelled_part_way_stays_erasable(
        self, planning: Planning, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ids = population(30)
        materialise.handler({}, FakeContext())
        sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
        cid = create(one_off(sid))["campaign_id"]
        on_campaign("POST", cid, "/launch")
        jobs = drain(planning.launch_queue)
        # The worker's page is 5,000 members: cancel right after the buckets are written, so the
        # worker finds the cancellation before its first page.
        from services.campaigns.dal.planning import DynamoCampaignRepository

        original = DynamoCampaignRepository.put_assignment_buckets

        def then_cancel(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            assert on_campaign("POST", cid, "/cancel")[1]["status"] == "cancelled"

        monkeypatch.setattr(DynamoCampaignRepository, "put_assignment_buckets", then_cancel)
        launch_worker.handler(sqs_event([json.dumps(j["body"]) for j in jobs]), FakeContext())
        assert drain(planning.dispatch_queue) == []
        assert not [i for i in all_items(TABLE) if i.get("entity") == "outbox"]  # no CampaignLaunched
        assigned = launched_assignments()
        member = next(m for m in ids if m in assigned)
        assert [i["campaign_id"] for i in all_items(TABLE) if i["pk"] == "LAUNCHES"] == [cid]
        erased = contract_bus_event(
            MemberErased(member_id=member, erased_at=clock.now(), requested_by="member")
        )
        assert on_member_privacy.handler(sqs_event([erased]), FakeContext()) == {"batchItemFailures": []}
        assert member not in launched_assignments()
