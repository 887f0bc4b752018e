"""Triggered campaigns' sharded arrivals counter: the shard of a member, and how even the split
stays when every shard deals its own blocked sequence (logic/experiments.py)."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from services.campaigns.logic.experiments import (
    ARRIVAL_SHARDS,
    ArmPlan,
    arm_plan,
    arrival_arm,
    arrival_shard,
    slot_arm,
)


def ids(n: int, prefix: str = "01HX") -> list[str]:
    return [f"{prefix}{i:022d}" for i in range(n)]


def dealt(plan: ArmPlan, campaign_id: str, per_shard: list[int]) -> Counter[str]:
    """The arms handed out when shard ``s`` saw ``per_shard[s]`` arrivals."""
    return Counter(
        arrival_arm(plan, campaign_id, shard, position)
        for shard, count in enumerate(per_shard)
        for position in range(count)
    )


def bound(plan: ArmPlan, arm: str, shards: int) -> float:
    """How far an arm may be off its planned share: one partial block per shard, and a partial
    block of an arm with ``a`` of ``B`` slots is off by at most ``a * (B - a) / B``."""
    a = dict(plan.slots)[arm]
    return shards * a * (plan.block - a) / plan.block


class TestShardChoice:
    def test_stable_and_in_range(self) -> None:
        members = ids(1_000)
        first = [arrival_shard(m) for m in members]
        assert first == [arrival_shard(m) for m in members]  # a retried event: the same shard
        assert set(first) == set(range(ARRIVAL_SHARDS))
        assert all(0 <= arrival_shard(m, 3) < 3 for m in members)

    def test_members_spread_evenly_over_the_shards(self) -> None:
        counts = Counter(arrival_shard(m) for m in ids(16_000))
        # 2,000 expected per shard; binomial sd ≈ 41, so ±200 is ~5 sd.
        assert all(1_800 <= counts[s] <= 2_200 for s in range(ARRIVAL_SHARDS)), counts

    def test_every_shard_deals_its_own_sequence(self) -> None:
        # One seed for every shard would hand the first arrival of every shard the same arm: a
        # small campaign would go all to one arm.
        plan = arm_plan(["A", "B"], 0)
        sequences = {
            tuple(arrival_arm(plan, "cmp-1", s, i) for i in range(40)) for s in range(ARRIVAL_SHARDS)
        }
        assert len(sequences) > 1
        # ... and they are the campaign's, not shared with other campaigns.
        assert [arrival_arm(plan, "cmp-1", 0, i) for i in range(40)] != [
            arrival_arm(plan, "cmp-2", 0, i) for i in range(40)
        ]

    def test_one_shard_alone_is_a_plain_blocked_dealing(self) -> None:
        plan = arm_plan(["A", "B", "C"], 10)
        counts = dealt(plan, "cmp-1", [plan.block * 7])  # seven complete blocks in shard 0
        assert counts == Counter({name: n * 7 for name, n in plan.slots})


class TestEvenness:
    @settings(max_examples=200, deadline=None)
    @given(
        variants=st.integers(min_value=1, max_value=6),
        holdout=st.sampled_from([0, 5, 10, 20, 50]),
        per_shard=st.lists(
            st.integers(min_value=0, max_value=120), min_size=ARRIVAL_SHARDS, max_size=ARRIVAL_SHARDS
        ),
        campaign=st.text(alphabet="abcdef0123456789", min_size=1, max_size=12),
    )
    def test_each_arm_is_off_by_at_most_one_partial_block_per_shard(
        self, variants: int, holdout: int, per_shard: list[int], campaign: str
    ) -> None:
        """Whatever each shard's share of the arrivals (hash luck, a burst of one kind of member)."""
        plan = arm_plan([f"V{i}" for i in range(variants)], holdout)
        total = sum(per_shard)
        counts = dealt(plan, campaign, per_shard)
        exact = Counter(slot_arm(plan, campaign, i) for i in range(total))  # one unsharded counter
        for arm, slots in plan.slots:
            planned = total * slots / plan.block
            assert abs(counts[arm] - planned) <= bound(plan, arm, ARRIVAL_SHARDS) + 1e-9
            assert abs(counts[arm] - exact[arm]) <= bound(plan, arm, ARRIVAL_SHARDS + 1) + 1e-9

    def test_fifty_fifty_is_off_by_at_most_k_over_two_at_any_size(self) -> None:
        plan = arm_plan(["A", "B"], 0)
        members = ids(10_001, prefix="01HZ")
        random.Random(5).shuffle(members)  # the arrival order
        positions: Counter[int] = Counter()
        counts: Counter[str] = Counter()
        for n, member_id in enumerate(members, start=1):
            shard = arrival_shard(member_id)
            counts[arrival_arm(plan, "trig-1", shard, positions[shard])] += 1
            positions[shard] += 1
            if n in {10, 100, 1_000, 10_001}:
                assert abs(counts["A"] - n / 2) <= ARRIVAL_SHARDS / 2, (n, counts)
                assert abs(counts["A"] - counts["B"]) <= ARRIVAL_SHARDS
        # Against the exact (unsharded) dealing of the same 10,001 arrivals: at most k apart.
        exact = Counter(slot_arm(plan, "trig-1", i) for i in range(len(members)))
        assert all(abs(counts[arm] - exact[arm]) <= ARRIVAL_SHARDS for arm in ("A", "B"))
