"""Campaign lifecycle (logic/campaigns.py, logic/launch.py): editing a draft (only a draft; the
result checked like a new campaign; a concurrent edit loses with 409) and cancelling (every state,
idempotent; the schedule deleted; a running launch stopped at its next page)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.campaigns.logic.campaigns import (
    TemplateInfo,
    cancel_campaign,
    create_segment,
    edit_draft,
    request_launch,
)
from services.campaigns.logic.launch import LaunchJob, launch_job
from services.campaigns.logic.planning_errors import (
    CampaignChanged,
    CampaignNotEditable,
    CampaignNotFound,
    CampaignNotLaunchable,
    InvalidCampaign,
)
from services.campaigns.models.campaigns import Campaign, CampaignPatch, SegmentCreate
from tests.unit.campaigns.planning_fakes import FakeDispatch, FakeLaunchQueue, audience_of
from tests.unit.campaigns.test_planning import GOLD, NOW, SALT, TZ, World, body, launched, member_row


@pytest.fixture
def world() -> World:
    w = World()
    seg = create_segment(SegmentCreate(name="gold", rule=GOLD), w.segments, "staff-1", NOW)
    w.segments.items["SEG"] = seg.model_copy(update={"segment_id": "SEG"})
    w.offers.templates["tpl-10off"] = TemplateInfo(True, "discount", 14, "active")
    return w


def edit(w: World, campaign_id: str, **patch: Any) -> Campaign:
    return edit_draft(
        campaign_id,
        CampaignPatch.model_validate(patch),
        segments=w.segments,
        offers=w.offers,
        campaigns=w.campaigns,
        scheduler=w.scheduler,
        edited_by="staff-2",
        now=NOW + timedelta(minutes=5),
        timezone=TZ,
    )


def cancel(w: World, campaign_id: str) -> Campaign:
    return cancel_campaign(
        campaign_id, w.campaigns, w.scheduler, cancelled_by="staff-3", now=NOW + timedelta(minutes=9)
    )


class TestEditDraft:
    def test_the_fields_given_replace_the_stored_ones(self, world: World) -> None:
        c = world.create(body())
        edited = edit(
            world, c.campaign_id, name="Triple points", priority=80, offer={"type": "points", "points": 5}
        )
        assert (edited.name, edited.priority, edited.offer and edited.offer.type) == (
            "Triple points",
            80,
            "points",
        )
        assert edited.content == c.content and edited.channels == c.channels  # untouched
        assert (edited.created_at, edited.created_by) == (c.created_at, c.created_by)
        assert (edited.updated_by, edited.revision, edited.status) == ("staff-2", 1, "draft")
        assert world.campaigns.items[c.campaign_id] == edited
        cleared = edit(world, c.campaign_id, offer=None)
        assert cleared.offer is None and cleared.revision == 2

    def test_an_invalid_edit_is_a_422_naming_the_field_and_nothing_changes(self, world: World) -> None:
        c = world.create(body())
        before = world.campaigns.items[c.campaign_id]
        for patch, field in (
            ({"channels": ["sms", "email"]}, "content.email"),  # no content for the new channel
            ({"content": {"sms": {"body": "{nope}"}, "inbox": {"body": "x"}}}, "content.sms"),
            ({"offer": {"type": "coupon", "template_id": "tpl-unknown"}}, "offer.template_id"),
            ({"name": None}, "name"),  # a required field cannot be cleared
        ):
            with pytest.raises(InvalidCampaign) as caught:
                edit(world, c.campaign_id, **patch)
            assert [f["field"] for f in caught.value.fields] == [field], patch
        assert world.campaigns.items[c.campaign_id] == before

    def test_only_a_draft_is_editable(self, world: World) -> None:
        c = world.create(body())
        request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched())
        with pytest.raises(CampaignNotEditable) as caught:
            edit(world, c.campaign_id, name="late")
        assert caught.value.status == 409
        scheduled = world.create(body(kind="scheduled", scheduled_at="2026-11-24T10:00:00"))
        with pytest.raises(CampaignNotEditable):
            edit(world, scheduled.campaign_id, name="x")
        with pytest.raises(CampaignNotFound):
            edit(world, "01HX0000000000000000000000", name="x")

    def test_a_concurrent_edit_loses_with_409(self, world: World) -> None:
        c = world.create(body())
        stale = world.campaigns.items[c.campaign_id]
        edit(world, c.campaign_id, name="first")
        with pytest.raises(CampaignChanged):
            world.campaigns.replace_draft(stale.model_copy(update={"name": "second"}), expected_revision=0)
        assert world.campaigns.items[c.campaign_id].name == "first"

    def test_giving_a_draft_a_schedule_schedules_it(self, world: World) -> None:
        c = world.create(body())
        edited = edit(world, c.campaign_id, kind="scheduled", scheduled_at="2026-11-24T10:00:00")
        assert edited.status == "scheduled" and edited.schedule_name == f"campaign-launch-{c.campaign_id}"
        assert [s[0] for s in world.scheduler.schedules] == [c.campaign_id]


class TestCancel:
    def test_a_scheduled_campaign_loses_its_schedule_and_its_job_does_nothing(self, world: World) -> None:
        c = world.create(body(kind="scheduled", scheduled_at="2026-11-24T10:00:00"))
        out = cancel(world, c.campaign_id)
        assert (out.status, out.cancelled_by) == ("cancelled", "staff-3")
        assert world.scheduler.deleted == [f"campaign-launch-{c.campaign_id}"]
        dispatch = FakeDispatch()
        progress = launch_job(
            LaunchJob(c.campaign_id, 0, scheduled=True),
            campaigns=world.campaigns, store=world.campaigns,
            audience_for=lambda _id: audience_of([member_row(1)], NOW), dispatch=dispatch,
            requeue=FakeLaunchQueue(), now=NOW, control_salt=SALT, control_basis_points=0,
            deferral=timedelta(hours=1),
        )  # fmt: skip
        assert progress is None and dispatch.sent == []
        with pytest.raises(CampaignNotLaunchable):
            request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched())

    def test_cancelling_again_repeats_the_clean_up(self, world: World) -> None:
        c = world.create(body(kind="scheduled", scheduled_at="2026-11-24T10:00:00"))
        cancel(world, c.campaign_id)
        again = cancel(world, c.campaign_id)
        assert again.status == "cancelled" and len(world.scheduler.deleted) == 2

    def test_a_draft_an_active_and_a_launched_campaign_can_be_cancelled(self, world: World) -> None:
        draft = world.create(body())
        trig = world.create(body(kind="triggered", segment_id=None, trigger={"event": "member_registered"}))
        request_launch(trig.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched("triggered"))
        for c in (draft, trig):
            assert cancel(world, c.campaign_id).status == "cancelled"
        assert world.scheduler.deleted == []  # neither had a schedule

    def test_a_state_that_moves_meanwhile_is_read_again(self, world: World) -> None:
        c = world.create(body())
        real_cancel = world.campaigns.cancel
        moves = iter([True])

        def racing(campaign: Campaign, **kw: Any) -> Campaign:
            if next(moves, False):  # the launch starts between our read and our write
                world.campaigns.start_launch(campaign.campaign_id, NOW)
            return real_cancel(campaign, **kw)

        world.campaigns.cancel = racing  # type: ignore[method-assign]
        assert cancel(world, c.campaign_id).status == "cancelled"

    def test_a_running_launch_stops_at_its_next_page(self, world: World) -> None:
        c = world.create(body())
        request_launch(c.campaign_id, world.campaigns, FakeLaunchQueue(), NOW, launched())
        rows = [member_row(i) for i in range(50)]
        dispatch, requeue = FakeDispatch(), FakeLaunchQueue()
        pages = 0

        class CancelAfterFirstPage(FakeDispatch):
            def enqueue_bodies(self, bodies: Any) -> None:
                nonlocal pages
                pages += 1
                dispatch.enqueue_bodies(bodies)
                if pages == 1:
                    cancel(world, c.campaign_id)

        progress = launch_job(
            LaunchJob(c.campaign_id, 0),
            campaigns=world.campaigns, store=world.campaigns,
            audience_for=lambda _id: audience_of(rows, NOW), dispatch=CancelAfterFirstPage(),
            requeue=requeue, now=NOW, control_salt=SALT, control_basis_points=0,
            deferral=timedelta(hours=1), page=20,
        )  # fmt: skip
        assert progress is not None and progress.cancelled and progress.done
        assert len(dispatch.sent) == 20 and requeue.jobs == []  # one page went, no more, no continuation
        assert world.campaigns.finished == []  # no CampaignLaunched for a cancelled launch
        [(cid, counts)] = world.campaigns.closed_cancelled  # but the launch is indexed
        assert cid == c.campaign_id and sum(counts.values()) == 50
        assert world.campaigns.items[c.campaign_id].status == "cancelled"
