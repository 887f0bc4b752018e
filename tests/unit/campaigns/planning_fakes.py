"""In-memory fakes of the planning ports (segments, campaigns, offers, scheduler, queues)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.campaigns.logic.audience_index import build_shard
from services.campaigns.logic.campaigns import TemplateInfo
from services.campaigns.logic.planning_errors import (
    CampaignChanged,
    CampaignNotEditable,
    CampaignNotLaunchable,
)
from services.campaigns.logic.snapshots import Audience, Manifest
from services.campaigns.models.audience import MemberAttributes
from services.campaigns.models.campaigns import Campaign, Segment
from services.campaigns.models.dispatch import SendRequest
from shared.events.contracts import CampaignLaunched


@dataclass
class FakeSegments:
    items: dict[str, Segment] = field(default_factory=dict)

    def put(self, segment: Segment) -> None:
        self.items[segment.segment_id] = segment

    def get(self, segment_id: str) -> Segment | None:
        return self.items.get(segment_id)


@dataclass
class FakeOffers:
    templates: dict[str, TemplateInfo] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def describe_template(self, template_id: str) -> TemplateInfo:
        self.asked.append(template_id)
        return self.templates.get(template_id, TemplateInfo(exists=False))


@dataclass
class FakeScheduler:
    schedules: list[tuple[str, datetime, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def schedule_launch(self, campaign_id: str, at_local: datetime, timezone: str) -> str:
        self.schedules.append((campaign_id, at_local, timezone))
        return f"campaign-launch-{campaign_id}"

    def delete_launch_schedule(self, name: str) -> None:
        self.deleted.append(name)


@dataclass
class FakeCampaigns:
    items: dict[str, Campaign] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)
    assignments: dict[tuple[str, str], str] = field(default_factory=dict)
    finished: list[tuple[str, dict[str, int], CampaignLaunched]] = field(default_factory=list)
    activated: list[CampaignLaunched] = field(default_factory=list)
    bucket_writes: int = 0
    closed_cancelled: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    cancel_checks: int = 0

    def create(self, campaign: Campaign) -> None:
        self.items[campaign.campaign_id] = campaign

    def get(self, campaign_id: str) -> Campaign | None:
        return self.items.get(campaign_id)

    def get_with_cursor(self, campaign_id: str) -> tuple[Campaign, int] | None:
        c = self.items.get(campaign_id)
        return (c, self.cursors.get(campaign_id, 0)) if c else None

    def start_launch(self, campaign_id: str, now: datetime) -> Campaign:
        c = self.items[campaign_id]
        if c.status not in {"draft", "scheduled"}:
            raise CampaignNotLaunchable()
        c = c.model_copy(update={"status": "launching", "launched_at": now})
        self.items[campaign_id] = c
        self.cursors[campaign_id] = 0
        return c

    def set_snapshot(self, campaign_id: str, snapshot_id: str) -> str:
        c = self.items[campaign_id]
        if c.snapshot_id is None:
            self.items[campaign_id] = c.model_copy(update={"snapshot_id": snapshot_id})
        return self.items[campaign_id].snapshot_id or snapshot_id

    def activate(self, campaign: Campaign, now: datetime, launched_event: CampaignLaunched) -> Campaign:
        active = campaign.model_copy(update={"status": "active", "launched_at": now})
        self.items[campaign.campaign_id] = active
        self.activated.append(launched_event)
        return active

    def replace_draft(self, campaign: Campaign, *, expected_revision: int) -> None:
        current = self.items[campaign.campaign_id]
        if current.status != "draft":
            raise CampaignNotEditable()
        if current.revision != expected_revision:
            raise CampaignChanged()
        self.items[campaign.campaign_id] = campaign

    def cancel(self, campaign: Campaign, *, cancelled_by: str, now: datetime) -> Campaign:
        current = self.items[campaign.campaign_id]
        if current.status != campaign.status:
            raise CampaignChanged()
        cancelled = current.model_copy(
            update={"status": "cancelled", "cancelled_at": now, "cancelled_by": cancelled_by}
        )
        self.items[campaign.campaign_id] = cancelled
        return cancelled

    def is_cancelled(self, campaign_id: str) -> bool:
        self.cancel_checks += 1
        return self.items[campaign_id].status == "cancelled"

    def close_cancelled_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], buckets: int, at: datetime
    ) -> bool:
        self.closed_cancelled.append((campaign.campaign_id, arm_counts))
        return True

    def put_assignment_buckets(
        self, campaign: Campaign, buckets: Mapping[int, Mapping[str, Sequence[str]]], at: datetime
    ) -> None:
        self.bucket_writes += 1
        for arms in buckets.values():
            for arm, members in arms.items():
                for member_id in members:
                    self.assignments[(campaign.campaign_id, member_id)] = arm

    def save_cursor(self, campaign_id: str, cursor: int) -> None:
        self.cursors[campaign_id] = cursor

    def finish_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], event: CampaignLaunched, buckets: int
    ) -> bool:
        current = self.items[campaign.campaign_id]
        if current.status != "launching":
            return False
        self.items[campaign.campaign_id] = current.model_copy(update={"status": "launched"})
        self.finished.append((campaign.campaign_id, arm_counts, event))
        return True


@dataclass
class FakeDispatch:
    sent: list[SendRequest] = field(default_factory=list)

    def enqueue(self, requests: Sequence[SendRequest]) -> None:
        self.sent.extend(requests)

    def enqueue_bodies(self, bodies: Sequence[str]) -> None:
        # Parsed strictly: a launch's prepared bodies must be valid SendRequests.
        self.sent.extend(SendRequest.model_validate_json(b) for b in bodies)


@dataclass
class FakeLaunchQueue:
    jobs: list[tuple[str, int]] = field(default_factory=list)

    resumed: list[tuple[str, int, datetime]] = field(default_factory=list)

    def request_launch(self, campaign_id: str, cursor: int = 0) -> None:
        self.jobs.append((campaign_id, cursor))

    def resume_launch(self, campaign_id: str, cursor: int, at: datetime) -> None:
        self.resumed.append((campaign_id, cursor, at))


def audience_of(rows: list[MemberAttributes], created_at: datetime, shards: int = 3) -> Audience:
    """A snapshot with ``rows`` spread round-robin over ``shards`` shards."""
    parts = [rows[i::shards] for i in range(shards)]
    manifest = Manifest("snap-1", created_at, len(rows), shards)
    return Audience(manifest, [build_shard(p) for p in parts])
