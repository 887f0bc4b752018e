"""A launch from an audience snapshot taken before a member's erasure leaves that member out
(handlers on moto: MemberErased → CampaignsOnMemberPrivacyFunction, the launch API and
CampaignsLaunchFunction). Without it the member's id would come back into CampaignsTable after the
erasure cleaned it (an assignment bucket, a send record) and a SendRequest would name them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.campaigns.dal.snapshots import S3SnapshotStore
from services.campaigns.handlers import materialise
from services.campaigns.logic.audience_index import ShardIndex
from shared import clock
from shared.events.contracts import MemberErased
from tests.integration.campaigns.planning_support import BUCKET, TABLE, Planning
from tests.integration.campaigns.test_planning_flow import (
    launch_campaign,
    launched_assignments,
    make_segment,
    planning,  # noqa: F401 - the fixture, found by name
    population,
    privacy,
)
from tests.integration.helpers import FakeContext, all_items

pytestmark = pytest.mark.usefixtures("planning")


def snapshot_members() -> set[str]:
    store = S3SnapshotStore(BUCKET)
    manifest = store.latest()
    assert manifest is not None
    shards = [ShardIndex.loads(store.get_shard(manifest.snapshot_id, s)) for s in range(manifest.shards)]
    return {m for shard in shards for m in shard.members}


def erase(member_id: str) -> MemberErased:
    event = MemberErased(member_id=member_id, erased_at=clock.now(), requested_by="member")
    assert privacy(event) == {"batchItemFailures": []}
    return event


def campaign() -> dict[str, Any]:
    sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
    return {
        "name": "x",
        "kind": "one_off",
        "segment_id": sid,
        "channels": ["sms"],
        "content": {"sms": {"body": "x"}},
    }


def test_a_launch_from_an_older_snapshot_leaves_the_erased_member_out(planning: Planning) -> None:  # noqa: F811
    ids = population(20)
    materialise.handler({}, FakeContext())
    gone = ids[1]  # consents to SMS: would be treated
    erase(gone)
    assert gone in snapshot_members()  # the snapshot (≤ 7 days in S3) still lists her ...

    _, sent = launch_campaign(planning, campaign())

    assert gone not in launched_assignments()  # ... but no bucket names her
    assert gone not in {r.member_id for r in sent}  # and no SendRequest does
    assert len(sent) == len([m for i, m in enumerate(ids) if i % 5 != 0]) - 1  # everyone else is sent
    assert not [i for i in all_items(TABLE) if gone in json.dumps(i, default=str)]


def test_the_next_materialisation_leaves_the_erased_member_out(planning: Planning) -> None:  # noqa: F811
    ids = population(10)
    materialise.handler({}, FakeContext())
    erase(ids[2])
    materialise.handler({}, FakeContext())
    members = snapshot_members()
    assert ids[2] not in members and set(ids) - {ids[2]} == members


def test_the_erasure_records_her_by_pseudonym_only_for_eight_days(planning: Planning) -> None:  # noqa: F811
    ids = population(3)
    event = erase(ids[0])
    [recent] = [i for i in all_items(TABLE) if i["pk"] == "ERASURES"]
    assert recent["pseudonym"].startswith("anon_") and ids[0] not in json.dumps(recent)
    assert recent["ttl"] == clock.epoch_seconds(event.erased_at) + 8 * 86_400
    assert privacy(event) == {"batchItemFailures": []}  # redelivered: the same item
    assert len([i for i in all_items(TABLE) if i["pk"] == "ERASURES"]) == 1
