"""A member erased *while* a launch runs does not stay in its assignment buckets (handlers on moto:
the launch API, CampaignsLaunchFunction and CampaignsOnMemberPrivacyFunction).

The launch writes its buckets at its start and enters the launch index (where the erasure used to
look for buckets) only at its end. Two moments are tried: the erasure arriving after the buckets
were written (the erasure finds the launch through its ``LAUNCHING`` registration), and arriving
in the narrow window after the launch read the recent erasures but before its bucket writes
landed (the launch's second read, after the writes, takes the member out)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from services.campaigns.dal.planning import DynamoCampaignRepository
from services.campaigns.handlers import launch_worker, materialise
from services.campaigns.models.campaigns import Campaign
from shared import clock
from shared.events.contracts import MemberErased
from tests.integration.campaigns.planning_support import TABLE, Planning
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


def erase(member_id: str) -> None:
    event = MemberErased(member_id=member_id, erased_at=clock.now(), requested_by="member")
    assert privacy(event) == {"batchItemFailures": []}


def campaign() -> dict[str, Any]:
    sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
    return {
        "name": "x",
        "kind": "one_off",
        "segment_id": sid,
        "channels": ["sms"],
        "content": {"sms": {"body": "x"}},
    }


def once(action: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def reachable(ids: list[str]) -> set[str]:
    """The audience: every member but each fifth, who gave no SMS consent (population())."""
    return {m for i, m in enumerate(ids) if i % 5 != 0}


def mentions(member_id: str) -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if member_id in json.dumps(i, default=str)]


def test_erased_after_the_buckets_were_written_the_erasure_finds_the_running_launch(
    planning: Planning,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = population(20)
    materialise.handler({}, FakeContext())
    gone = ids[1]  # SMS consent, gold or silver: dealt into an arm
    erase_now = once(lambda: erase(gone))

    class ErasedWhileQueueing(launch_worker.SqsDispatch):  # type: ignore[misc, name-defined]
        def enqueue_bodies(self, bodies: Sequence[str]) -> None:
            erase_now()  # buckets written, launch not in LAUNCHES yet: the member is erased now
            super().enqueue_bodies(bodies)

    monkeypatch.setattr(launch_worker, "SqsDispatch", ErasedWhileQueueing)
    _, sent = launch_campaign(planning, campaign())

    assert gone not in launched_assignments()
    assert set(launched_assignments()) == reachable(ids) - {gone}  # everyone else keeps their arm
    # The page being queued when she was erased still names her (dispatch then finds no consent
    # projection: suppressed); pages after it leave her out (test_recent_erasures).
    assert gone in {r.member_id for r in sent}
    assert not [i for i in mentions(gone) if i.get("entity") == "campaign_assignment_bucket"]
    [registered] = [i for i in all_items(TABLE) if i["pk"] == "LAUNCHING"]
    assert registered["buckets"] == 1 and registered["ttl"] > clock.epoch_seconds(clock.now())


def test_erased_between_the_launchs_read_and_its_bucket_writes_the_launch_takes_her_out(
    planning: Planning,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = population(20)
    materialise.handler({}, FakeContext())
    gone = ids[2]
    erase_now = once(lambda: erase(gone))
    real_put = DynamoCampaignRepository.put_assignment_buckets

    def put_after_an_erasure(
        self: DynamoCampaignRepository,
        c: Campaign,
        buckets: Mapping[int, Mapping[str, Sequence[str]]],
        at: datetime,
    ) -> None:
        # The erasure runs to its end here: it finds the registration but no bucket yet.
        erase_now()
        real_put(self, c, buckets, at)  # ... and the launch's write brings her id back

    monkeypatch.setattr(DynamoCampaignRepository, "put_assignment_buckets", put_after_an_erasure)
    _, sent = launch_campaign(planning, campaign())

    assert gone not in launched_assignments()
    assert gone not in {r.member_id for r in sent}
    assert set(launched_assignments()) == reachable(ids) - {gone}
    assert not mentions(gone)


def test_a_later_erasure_of_someone_in_a_finished_launch_still_works(planning: Planning) -> None:  # noqa: F811
    ids = population(20)
    materialise.handler({}, FakeContext())
    launch_campaign(planning, campaign())
    assert ids[4] in launched_assignments()
    erase(ids[4])
    erase(ids[4])  # redelivered: nothing left to do
    assert set(launched_assignments()) == reachable(ids) - {ids[4]}
