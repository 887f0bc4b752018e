"""Global control group, blocked A/B/n assignment, and the report statistics."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.campaigns.logic.experiments import (
    HOLDOUT,
    NO_VARIANT,
    arm_plan,
    assign_arms,
    in_global_control,
    slot_arm,
)
from services.campaigns.logic.stats import Arm, declare_winner, newcombe_difference, wilson, z_for


def ids(n: int, prefix: str = "01HX") -> list[str]:
    return [f"{prefix}{i:022d}" for i in range(n)]


class TestGlobalControl:
    def test_a_stable_share_of_members(self) -> None:
        members = ids(20_000)
        chosen = [m for m in members if in_global_control(m, "salt-1", 500)]
        assert 850 <= len(chosen) <= 1150  # 5 % of 20 000 = 1 000, binomial sd ≈ 31
        assert chosen == [m for m in members if in_global_control(m, "salt-1", 500)]
        other = {m for m in members if in_global_control(m, "salt-2", 500)}
        assert len(other & set(chosen)) < 200  # a new salt draws a new group

    def test_zero_basis_points_is_nobody(self) -> None:
        assert not any(in_global_control(m, "s", 0) for m in ids(1000))


class TestArms:
    def test_plan_slots(self) -> None:
        assert arm_plan(["A", "B"], 10).slots == (("A", 9), ("B", 9), (HOLDOUT, 2))
        assert arm_plan([], 0).slots == ((NO_VARIANT, 1),)
        assert arm_plan(["A", "B", "C"], 0).slots == (("A", 1), ("B", 1), ("C", 1))

    @settings(max_examples=60, deadline=None)
    @given(st.integers(1, 300), st.integers(2, 4), st.sampled_from([0, 10, 20]))
    def test_small_audiences_split_evenly(self, n: int, variants: int, holdout: int) -> None:
        names = [chr(65 + i) for i in range(variants)]
        plan = arm_plan(names, holdout)
        counts = Counter(assign_arms(ids(n), plan, "cmp-1").values())
        for name, slots in plan.slots:
            expected = n * slots / plan.block
            assert abs(counts[name] - expected) <= slots  # at most one partial block off

    def test_two_arms_differ_by_at_most_one(self) -> None:
        for n in (2, 3, 7, 40, 41, 99):
            counts = Counter(assign_arms(ids(n), arm_plan(["A", "B"], 0), "c").values())
            assert abs(counts["A"] - counts["B"]) <= 1

    def test_deterministic_and_independent_of_input_order(self) -> None:
        members = ids(500)
        plan = arm_plan(["A", "B"], 10)
        first = assign_arms(members, plan, "cmp-9")
        assert assign_arms(list(reversed(members)), plan, "cmp-9") == first
        assert assign_arms(members, plan, "cmp-8") != first

    def test_arrivals_follow_the_same_dealing(self) -> None:
        plan = arm_plan(["A", "B"], 0)
        counts = Counter(slot_arm(plan, "trig", i) for i in range(101))
        assert abs(counts["A"] - counts["B"]) <= 1


class TestStatistics:
    def test_z(self) -> None:
        assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)

    def test_wilson_reference(self) -> None:
        # Newcombe (1998), table I: 81/263 → 0.2553 to 0.3662
        interval = wilson(81, 263)
        assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)
        assert wilson(0, 10).low == 0.0 and wilson(0, 0).high == 1.0

    def test_newcombe_reference(self) -> None:
        # Newcombe (1998), table II, method 10: (a) 56/70 - 48/80 → 0.0524 to 0.3339
        diff = newcombe_difference(56, 70, 48, 80)
        assert diff is not None
        assert round(diff.estimate, 4) == 0.2
        assert (round(diff.interval.low, 4), round(diff.interval.high, 4)) == (0.0524, 0.3339)
        assert diff.significant
        # (c) 5/56 - 0/29 → -0.0381 to 0.1926 (a zero cell: Wald would be degenerate)
        zero = newcombe_difference(5, 56, 0, 29)
        assert zero is not None
        assert (round(zero.interval.low, 4), round(zero.interval.high, 4)) == (-0.0381, 0.1926)
        assert not zero.significant

    def test_no_difference_is_not_significant(self) -> None:
        diff = newcombe_difference(10, 100, 9, 100)
        assert diff is not None and not diff.significant
        assert newcombe_difference(1, 10, 0, 0) is None

    def test_winner_only_when_significant_against_every_arm(self) -> None:
        assert declare_winner([Arm("A", 120, 1000), Arm("B", 60, 1000)]).name == "A"
        close = declare_winner([Arm("A", 61, 1000), Arm("B", 60, 1000)])
        assert close.name is None and "no significant" in close.reason
        # A beats C clearly but not B: no winner
        assert declare_winner([Arm("A", 120, 1000), Arm("B", 115, 1000), Arm("C", 50, 1000)]).name is None
        assert declare_winner([Arm("A", 1, 1)]).name is None
