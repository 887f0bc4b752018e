"""Triggered campaigns on moto: the arrivals counter is sharded (``ARRIVALS#<campaign>#<shard>``,
the shard from the member id), each shard deals its own sequence, the split stays even, and a
member's assignment survives redelivered events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from services.campaigns.dal.triggers import arrivals_key
from services.campaigns.handlers import on_trigger_event
from services.campaigns.logic.experiments import ARRIVAL_SHARDS, arm_plan, arrival_arm, arrival_shard
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.events.contracts import TierChanged
from tests.integration.campaigns.planning_support import TABLE, Planning, call, drain, planning_world
from tests.integration.helpers import FakeContext, all_items, contract_bus_event, sqs_event

pytestmark = pytest.mark.usefixtures("planning")


@pytest.fixture
def planning(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Planning]:
    yield from planning_world(monkeypatch)


def member(n: int) -> str:
    return f"01HA{n:022d}"


def tier_up(m: str) -> dict[str, Any]:
    return contract_bus_event(
        TierChanged(
            member_id=m, previous_tier="silver", new_tier="gold", direction="up",
            reason="qualifying_spend", changed_at=clock.now(),
        )
    )  # fmt: skip


def activate(variants: list[str], holdout: int = 0) -> str:
    status, created = call("POST", "/v1/admin/campaigns", {
        "name": "tier up", "kind": "triggered", "trigger": {"event": "tier_changed"},
        "channels": ["sms"], "content": {"sms": {"body": "Welcome to {new_tier}!"}},
        "variants": [{"name": v} for v in variants], "holdout_percent": holdout,
    })  # fmt: skip
    assert status == 201, created
    cid = str(created["campaign_id"])
    status, active = call(
        "POST", f"/v1/admin/campaigns/{cid}/launch",
        route="/v1/admin/campaigns/{campaign_id}/launch", params={"campaign_id": cid},
    )  # fmt: skip
    assert (status, active["status"]) == (200, "active"), active
    return cid


def fire(members: list[str]) -> None:
    for start in range(0, len(members), 10):
        batch = sqs_event([tier_up(m) for m in members[start : start + 10]])
        assert on_trigger_event.handler(batch, FakeContext()) == {"batchItemFailures": []}


def assignments(cid: str) -> dict[str, str]:
    return {
        i["member_id"]: i["arm"]
        for i in all_items(TABLE)
        if i.get("entity") == "campaign_assignment" and i["campaign_id"] == cid
    }


def arrivals(cid: str) -> dict[int, int]:
    """Shard → the counter's value (absent shards never counted)."""
    out: dict[int, int] = {}
    for shard in range(ARRIVAL_SHARDS):
        key = arrivals_key(cid, shard)
        found = [i for i in all_items(TABLE) if i["pk"] == key["pk"] and i["sk"] == key["sk"]]
        if found:
            out[shard] = int(found[0]["arrivals"])
    return out


def members_in_different_shards() -> tuple[str, str]:
    first = member(1)
    other = next(member(n) for n in range(2, 100) if arrival_shard(member(n)) != arrival_shard(first))
    return first, other


def test_two_members_in_different_shards_both_get_assignments(planning: Planning) -> None:
    """Regression: each shard has its own counter, so the second member is not lost (or given the
    first member's slot) because another shard's counter is at 0."""
    cid = activate(["A", "B"])
    a, b = members_in_different_shards()
    fire([a, b])
    plan = arm_plan(["A", "B"], 0)
    assert assignments(cid) == {
        a: arrival_arm(plan, cid, arrival_shard(a), 0),  # the first arrival of its shard
        b: arrival_arm(plan, cid, arrival_shard(b), 0),
    }
    assert arrivals(cid) == {arrival_shard(a): 1, arrival_shard(b): 1}
    queued = [SendRequest.parse(x["body"]) for x in drain(planning.dispatch_queue)]
    assert sorted(r.member_id for r in queued) == sorted([a, b])
    # The unsharded counter is gone.
    assert not [i for i in all_items(TABLE) if i["pk"] == f"CAMPAIGN#{cid}" and i["sk"] == "ARRIVALS"]


def test_the_split_stays_even_and_redeliveries_keep_each_members_arm(planning: Planning) -> None:
    cid = activate(["A", "B"])
    members = [member(100 + n) for n in range(48)]
    fire(members)
    first = assignments(cid)
    assert set(first) == set(members)
    counts = Counter(first.values())
    assert abs(counts["A"] - 24) <= ARRIVAL_SHARDS / 2, counts  # one partial block (½) per shard
    per_shard = Counter(arrival_shard(m) for m in members)
    assert arrivals(cid) == dict(per_shard)  # each member counted once, in its own shard
    assert len(drain(planning.dispatch_queue)) == 48

    # Every event again (SQS redelivery, a replay): nobody changes arm, the sends keep their ids.
    fire(members)
    assert assignments(cid) == first
    again = [SendRequest.parse(x["body"]) for x in drain(planning.dispatch_queue)]
    assert {r.send_id for r in again} == {f"cmp#{cid}#{m}#tier-gold" for m in members}
    assert {r.member_id: r.variant for r in again} == first
    # A redelivery still draws a slot of its shard (which then goes to nobody), as before sharding.
    assert arrivals(cid) == {shard: 2 * n for shard, n in per_shard.items()}


def test_holdout_members_are_dealt_from_their_shard_too(planning: Planning) -> None:
    cid = activate(["A", "B"], holdout=20)  # a block of 2 + 4 + 4 = 10
    members = [member(500 + n) for n in range(40)]
    fire(members)
    got = assignments(cid)
    plan = arm_plan(["A", "B"], 20)
    position: Counter[int] = Counter()
    expected: dict[str, str] = {}
    for m in members:  # the order they arrived in
        shard = arrival_shard(m)
        expected[m] = arrival_arm(plan, cid, shard, position[shard])
        position[shard] += 1
    assert got == expected
    queued = {SendRequest.parse(x["body"]).member_id for x in drain(planning.dispatch_queue)}
    assert queued == {m for m, arm in got.items() if arm != "holdout"}
