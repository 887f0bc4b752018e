"""Launches leave out members erased since their snapshot (logic/recent_erasures.py), with the
planning fakes: the dealing and the cursor stay what they were, only buckets and requests change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.campaigns.logic.campaigns import create_segment
from services.campaigns.logic.launch import LaunchJob, launch_job, resolve
from services.campaigns.logic.privacy import pseudonym
from services.campaigns.logic.recent_erasures import RecentErasures, SkipErasedDispatch, SkipErasedStore
from services.campaigns.models.campaigns import Campaign, SegmentCreate
from tests.unit.campaigns.planning_fakes import FakeCampaigns, FakeDispatch, FakeLaunchQueue, audience_of
from tests.unit.campaigns.test_planning import GOLD, NOW, SALT, World, body, member_row

KEY = b"campaigns-pseudonym-key-0123456789abcdef"


class Erasures:
    """The recent-erasures set as the table holds it (campaigns' pseudonyms), changeable between pages."""

    def __init__(self, *member_ids: str) -> None:
        self.pseudonyms = {pseudonym(KEY, m) for m in member_ids}
        self.reads = 0

    def erase(self, member_id: str) -> None:
        self.pseudonyms.add(pseudonym(KEY, member_id))

    def load(self) -> frozenset[str]:
        self.reads += 1
        return frozenset(self.pseudonyms)


def new_world() -> World:
    """A world with the gold segment ``SEG`` (as test_planning's fixture)."""
    w = World()
    segment = create_segment(SegmentCreate(name="gold", rule=GOLD), w.segments, "staff-1", NOW)
    w.segments.items["SEG"] = segment.model_copy(update={"segment_id": "SEG"})
    return w


def launch(
    world: World, c: Campaign, rows: list[Any], erasures: Erasures, **kw: Any
) -> tuple[Any, FakeDispatch]:
    dispatch = FakeDispatch()
    recent = RecentErasures(erasures.load, lambda: lambda m: pseudonym(KEY, m))
    progress = launch_job(
        LaunchJob(c.campaign_id, kw.pop("cursor", 0)),
        campaigns=world.campaigns,
        store=SkipErasedStore(world.campaigns, recent),
        audience_for=lambda _id: audience_of(rows, NOW),
        dispatch=SkipErasedDispatch(dispatch, recent),
        requeue=FakeLaunchQueue(),
        now=NOW,
        control_salt=SALT,
        control_basis_points=1000,
        deferral=timedelta(hours=72),
        **kw,
    )
    return progress, dispatch


def started(world: World, **kw: Any) -> Campaign:
    c = world.create(body(variants=[{"name": "A"}, {"name": "B"}], holdout_percent=10, **kw))
    world.campaigns.start_launch(c.campaign_id, NOW)
    return world.campaigns.items[c.campaign_id]


def test_members_erased_before_the_launch_get_no_bucket_entry_and_no_request() -> None:
    world = new_world()
    rows = [member_row(i) for i in range(200)]
    erased = [rows[3].member_id, rows[50].member_id, rows[151].member_id]
    c = started(world)
    dealt = resolve(c, audience_of(rows, NOW), NOW, control_salt=SALT, control_basis_points=1000)
    assert set(erased) <= {t.member_id for t, _ in dealt.ordered}  # the snapshot still lists them

    progress, dispatch = launch(world, c, rows, Erasures(*erased))

    assert progress is not None and progress.done
    assigned = {m: arm for (_, m), arm in world.campaigns.assignments.items()}
    assert not set(erased) & set(assigned)
    assert not set(erased) & {r.member_id for r in dispatch.sent}
    # Everyone else is dealt exactly as without the erasure (same arms, same requests).
    assert assigned == {t.member_id: arm for t, arm in dealt.ordered if t.member_id not in erased}
    treated = {t.member_id for t, arm in dealt.ordered if arm in {"A", "B"}} - set(erased)
    assert sorted(r.member_id for r in dispatch.sent) == sorted(treated)


def test_an_erasure_during_a_launch_stops_the_members_request_from_the_next_page_on() -> None:
    world = new_world()
    rows = [member_row(i) for i in range(60)]
    c = started(world)
    erasures = Erasures()
    progress, first = launch(world, c, rows, erasures, page=20, keep_going=lambda: False)
    assert progress is not None and not progress.done and progress.cursor == 20
    queued_first = {r.member_id for r in first.sent}
    pending = sorted(m for (_, m), arm in world.campaigns.assignments.items() if arm in {"A", "B"})
    late = next(m for m in pending if m not in queued_first)  # dealt on a later page
    erasures.erase(late)

    progress, rest = launch(world, c, rows, erasures, cursor=20, page=20)
    assert progress is not None and progress.done
    assert late not in {r.member_id for r in rest.sent}
    assert len(queued_first) + len(rest.sent) == len(pending) - 1  # nobody else lost or repeated
    assert erasures.reads >= 3  # read again for every page


def test_with_no_recent_erasure_nothing_is_hashed_or_parsed() -> None:
    def no_key() -> Any:
        raise AssertionError("the key is not needed while nobody was erased")

    class RawBodies(FakeDispatch):
        raw: list[str] = []

        def enqueue_bodies(self, bodies: Any) -> None:
            self.raw = list(bodies)

    recent = RecentErasures(frozenset, no_key)
    dispatch, store = RawBodies(), FakeCampaigns()
    SkipErasedDispatch(dispatch, recent).enqueue_bodies(["not even JSON"])  # passed through unread
    assert dispatch.raw == ["not even JSON"]
    c = new_world().create(body())
    SkipErasedStore(store, recent).put_assignment_buckets(c, {0: {"A": ["m1", "m2"]}}, NOW)
    assert store.assignments == {(c.campaign_id, "m1"): "A", (c.campaign_id, "m2"): "A"}


def test_arms_and_buckets_left_empty_are_not_written() -> None:
    class Recording(FakeCampaigns):
        written: dict[int, dict[str, list[str]]] = {}

        def put_assignment_buckets(self, campaign: Any, buckets: Any, at: Any) -> None:
            self.written = {b: {arm: list(ids) for arm, ids in arms.items()} for b, arms in buckets.items()}

    recent = RecentErasures(Erasures("gone-1", "gone-2").load, lambda: lambda m: pseudonym(KEY, m))
    store = Recording()
    c = new_world().create(body())
    buckets = {0: {"A": ["gone-1"], "B": ["kept"]}, 1: {"A": ["gone-2"]}}
    SkipErasedStore(store, recent).put_assignment_buckets(c, buckets, NOW)
    assert store.written == {0: {"B": ["kept"]}}
    assert recent.skipped == 2


class Launches:
    """The launch-side registry (dal/recent_erasures.DynamoLaunchErasures) as a list of calls."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    def register_launch(self, campaign_id: str, buckets: int, buckets_expire_at: Any) -> None:
        self.calls.append(("register", campaign_id, buckets, buckets_expire_at))

    def forget_in_launch(self, campaign_id: str, buckets: int, member_id: str) -> bool:
        self.calls.append(("forget", campaign_id, buckets, member_id))
        return True


def test_a_launch_registers_before_its_buckets_and_takes_out_who_was_erased_meanwhile() -> None:
    calls: list[tuple[Any, ...]] = []
    erasures = Erasures("gone-before")

    class Writing(FakeCampaigns):
        def put_assignment_buckets(self, campaign: Any, buckets: Any, at: Any) -> None:
            calls.append(
                ("write", sorted(m for arms in buckets.values() for ids in arms.values() for m in ids))
            )
            erasures.erase("gone-meanwhile")  # erased while the write was in flight

    recent = RecentErasures(erasures.load, lambda: lambda m: pseudonym(KEY, m))
    c = new_world().create(body())
    members = [f"m{i:03d}" for i in range(450)] + ["gone-before", "gone-meanwhile"]
    buckets = {0: {"A": members[:300]}, 1: {"B": members[300:]}}  # 452 dealt: 2 buckets of ~400
    SkipErasedStore(Writing(), recent, Launches(calls)).put_assignment_buckets(c, buckets, NOW)

    expire = NOW + timedelta(days=c.attribution_days + 2)
    assert calls[0] == ("register", c.campaign_id, 2, expire)  # before any read of the buckets' fate
    assert calls[1][0] == "write" and "gone-before" not in calls[1][1] and "gone-meanwhile" in calls[1][1]
    assert calls[2:] == [("forget", c.campaign_id, 2, "gone-meanwhile")]
    assert erasures.reads == 2  # once before the write, once after


def test_without_a_late_erasure_the_launch_only_registers() -> None:
    calls: list[tuple[Any, ...]] = []
    recent = RecentErasures(Erasures().load, lambda: lambda m: pseudonym(KEY, m))
    c = new_world().create(body())
    SkipErasedStore(FakeCampaigns(), recent, Launches(calls)).put_assignment_buckets(
        c, {0: {"A": ["m1"]}}, NOW
    )
    assert [call[0] for call in calls] == ["register"]
