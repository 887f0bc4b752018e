"""Scoring rules (pure): windows, RFM segment, churn risk against the member's own cadence, value
level, and when MemberProfileScored is published."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.members.logic.scoring import (
    DEFAULT_RULES,
    ScoredEvent,
    cadence_days,
    changes,
    churn_risk,
    features,
    population_bounds,
    quintile_bounds,
    quintile_score,
    rfm_segment,
    run_scoring,
    score,
    score_features,
    should_publish,
    to_event,
)
from services.members.logic.stats import apply_parking, apply_purchase, empty_stats
from services.members.logic.tags import TagRule, parse
from services.members.models.entities import BehaviourStats, ProfileScore
from shared.events.contracts import MemberProfileScored

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)  # 02:00 on 1 July in Shanghai
TODAY = AS_OF.astimezone(SHANGHAI).date()


def history(*days_ago_and_cents: tuple[int, int]) -> BehaviourStats:
    stats = empty_stats("M1")
    for days_ago, cents in days_ago_and_cents:
        stats = apply_purchase(
            stats,
            occurred_at=AS_OF - timedelta(days=days_ago),
            amount_cents=cents,
            store_id="s1",
            item_categories=[("food", cents)],
            tz=SHANGHAI,
        )
    return stats


class TestWindows:
    def test_recency_frequency_and_monetary(self):
        result = score(history((3, 10_000), (40, 20_000), (100, 50_000), (400, 99_999)), AS_OF, SHANGHAI)
        assert result.recency_days == 3
        assert (result.frequency_30d, result.frequency_90d, result.frequency_365d) == (1, 2, 3)
        assert result.monetary_90d_cents == 30_000
        assert result.monetary_365d_cents == 80_000

    def test_the_90_day_window_includes_today_and_89_days_back(self):
        result = score(history((89, 100), (90, 200)), AS_OF, SHANGHAI)
        assert (result.frequency_90d, result.monetary_90d_cents) == (1, 100)


class TestCadenceAndChurnRisk:
    def test_cadence_is_the_mean_gap_clamped(self):
        assert cadence_days(history((0, 1), (10, 1), (20, 1))) == 10
        assert cadence_days(history((0, 1), (1, 1))) == DEFAULT_RULES.min_cadence_days
        assert cadence_days(history((0, 1), (600, 1))) == DEFAULT_RULES.max_cadence_days
        assert cadence_days(history((5, 1))) == DEFAULT_RULES.default_cadence_days

    @pytest.mark.parametrize(
        ("recency", "cadence", "expected"),
        [
            (0, 10, "low"),
            (15, 10, "low"),  # 1.5 cadences
            (16, 10, "medium"),
            (30, 10, "medium"),  # 3 cadences
            (31, 10, "high"),
            (100, 60, "medium"),  # a monthly-ish shopper away 100 days is not yet high
            (366, 180, "high"),  # a year away is high whatever the rhythm
            (None, 30, "high"),
        ],
    )
    def test_risk_is_measured_in_the_members_own_cadences(self, recency, cadence, expected):
        assert churn_risk(recency, cadence) == expected

    def test_weekly_shopper_away_a_month_is_high_risk(self):
        weekly = history(*[(30 + 7 * i, 5_000) for i in range(10)])
        result = score(weekly, AS_OF, SHANGHAI)
        assert result.cadence_days == 7
        assert result.churn_risk == "high"


class TestFixedBoundsSegmentsAndLevels:
    """Below ``min_population`` scored members the fixed steps cut the scores."""

    def test_important_value(self):
        frequent_big = history(*[(2 + 14 * i, 100_000) for i in range(26)])
        result = score(frequent_big, AS_OF, SHANGHAI)
        assert (result.r_score, result.f_score, result.m_score) == (5, 5, 5)
        assert result.segment == "important-value"
        assert (result.frequency_level, result.spend_level, result.value_level) == ("high", "high", "high")
        assert result.why is not None and result.why.bounds.source == "fixed"

    def test_new_member_is_general_develop(self):
        result = score(history((10, 3_000)), AS_OF, SHANGHAI)
        assert (result.r_score, result.f_score, result.m_score) == (4, 1, 1)
        assert result.segment == "general-develop"
        assert result.lifecycle == "new"
        assert result.value_level == "low"

    def test_valuable_member_gone_quiet_is_important_keep(self):
        result = score(history(*[(120 + 20 * i, 120_000) for i in range(8)]), AS_OF, SHANGHAI)
        assert (result.r_score, result.f_score, result.m_score) == (2, 3, 4)
        assert result.segment == "important-keep"
        assert (result.spend_level, result.value_level) == ("high", "medium")  # F + M = 7

    def test_big_spender_once_long_ago_is_important_retain(self):
        result = score(history((200, 900_000)), AS_OF, SHANGHAI)
        assert result.segment == "important-retain"

    def test_lost_after_a_year(self):
        result = score(history((400, 1_000)), AS_OF, SHANGHAI)
        assert (result.segment, result.lifecycle, result.churn_risk) == ("general-retain", "lost", "high")

    @pytest.mark.parametrize(
        ("r", "f", "m", "expected"),
        [
            (5, 5, 5, "important-value"),
            (3, 2, 3, "important-develop"),
            (2, 4, 4, "important-keep"),
            (1, 1, 5, "important-retain"),
            (4, 3, 2, "general-value"),
            (5, 1, 1, "general-develop"),
            (2, 5, 2, "general-keep"),
            (1, 2, 2, "general-retain"),
        ],
    )
    def test_the_eight_segments(self, r, f, m, expected):
        assert rfm_segment(r, f, m) == expected


class TestLifecycle:
    @pytest.mark.parametrize(
        ("purchases", "expected"),
        [
            (((10, 1_000),), "new"),
            (((5, 1_000), (45, 1_000)), "active"),  # cadence 40: active up to 60 days
            (((61, 1_000), (101, 1_000)), "at_risk"),
            (((181, 1_000), (221, 1_000)), "dormant"),
            (((366, 1_000), (400, 1_000)), "lost"),
        ],
    )
    def test_stages(self, purchases, expected):
        result = score(history(*purchases), AS_OF, SHANGHAI)
        assert result.lifecycle == expected
        assert result.why is not None and result.why.lifecycle_rule

    def test_a_slow_shopper_is_at_risk_not_dormant_until_three_cadences(self):
        quarterly = history(*[(200 + 90 * i, 5_000) for i in range(3)])  # cadence 90: dormant after 270
        assert score(quarterly, AS_OF, SHANGHAI).lifecycle == "at_risk"


class TestPopulationQuintiles:
    def test_bounds_by_nearest_rank(self):
        assert quintile_bounds(list(range(10))) == (1, 3, 5, 7)
        assert quintile_bounds([7]) == (7, 7, 7, 7)
        assert quintile_bounds([1, 2]) == (1, 1, 2, 2)

    def test_ties_go_to_the_lower_score(self):
        bounds = quintile_bounds([1] * 60 + [2] * 20 + [5] * 20)
        assert bounds == (1, 1, 1, 2)
        assert [quintile_score(v, bounds) for v in (1, 2, 5)] == [1, 4, 5]

    def test_small_populations_use_the_fixed_steps(self):
        members = [features(history((3, 1_000)), TODAY, SHANGHAI)] * (DEFAULT_RULES.min_population - 1)
        assert population_bounds(members).source == "fixed"
        members.append(members[0])
        assert population_bounds(members).source == "population"

    def test_scores_are_relative_to_the_population(self):
        population = [
            features(
                history(*[(d, 1_000 * (i + 1)) for d in range(i % 7, 300, 10 + i % 40)]), TODAY, SHANGHAI
            )
            for i in range(200)
        ]
        bounds = population_bounds(population)
        assert bounds.source == "population" and bounds.population == 200
        scores = [score_features(f, bounds, AS_OF) for f in population]
        for dimension in ("r_score", "f_score", "m_score"):
            counts = Counter(getattr(s, dimension) for s in scores)
            assert set(counts) <= {1, 2, 3, 4, 5} and len(counts) >= 3, (dimension, counts)
        top = max(population, key=lambda f: f.monetary_365d_cents)
        assert score_features(top, bounds, AS_OF).m_score == 5
        bottom = min(population, key=lambda f: f.monetary_365d_cents)
        assert score_features(bottom, bounds, AS_OF).m_score == 1
        why = score_features(top, bounds, AS_OF).why
        assert why is not None and why.bounds == bounds


class TestTagsOnScores:
    FAMILY = TagRule(
        tag_id="family",
        name="Family",
        rule=parse(
            {
                "all": [
                    {"field": "parking_weekend_avg_minutes", "op": ">=", "value": 150},
                    {"field": "category_share.kids", "op": ">=", "value": 0.1},
                ]
            }
        ),
    )

    def family_stats(self, weekend_minutes: int) -> BehaviourStats:
        stats = history((3, 1_000))
        stats = apply_purchase(
            stats,
            occurred_at=AS_OF - timedelta(days=2),
            amount_cents=2_000,
            store_id="s2",
            item_categories=[("kids", 2_000)],
            tz=SHANGHAI,
        )
        saturday = datetime(2026, 6, 27, 2, 0, tzinfo=UTC)  # 10:00 Saturday in Shanghai
        return apply_parking(
            stats, entered_at=saturday, exited_at=saturday + timedelta(minutes=weekend_minutes), tz=SHANGHAI
        )

    def test_the_family_tag_matches_and_says_why(self):
        result = score(self.family_stats(180), AS_OF, SHANGHAI, tag_rules=[self.FAMILY])
        assert result.tags == ("family",)
        assert result.why is not None
        assert result.why.tags == {
            "family": "(parking_weekend_avg_minutes >= 150 and category_share.kids >= 0.1)"
        }

    def test_short_parking_is_not_family(self):
        assert score(self.family_stats(60), AS_OF, SHANGHAI, tag_rules=[self.FAMILY]).tags == ()

    def test_a_disabled_rule_tags_nobody(self):
        disabled = TagRule(tag_id="family", name="Family", rule=self.FAMILY.rule, enabled=False)
        assert score(self.family_stats(180), AS_OF, SHANGHAI, tag_rules=[disabled]).tags == ()


class TestPublication:
    def test_first_score_is_published(self):
        assert should_publish(None, score(history((3, 1)), AS_OF, SHANGHAI))

    def test_the_first_score_lists_everything_as_changed(self):
        event = to_event("M1", score(history((3, 1)), AS_OF, SHANGHAI), None)
        assert event.changed == ["rfm_segment", "lifecycle_stage", "churn_risk", "tags"]
        assert (event.previous_rfm_segment, event.previous_churn_risk) == (None, None)

    def test_a_tag_change_alone_is_published(self):
        first = score(history((3, 1_000)), AS_OF, SHANGHAI)
        tagged = first.model_copy(update={"tags": ("family",)})
        assert changes(first, tagged) == ["tags"]
        event = to_event("M1", tagged, first)
        assert (event.tags, event.changed) == (["family"], ["tags"])

    def test_unchanged_segment_and_risk_are_not_published(self):
        stats = history((3, 1_000), (40, 1_000))
        first = score(stats, AS_OF, SHANGHAI)
        next_night = score(stats, AS_OF + timedelta(days=1), SHANGHAI)
        assert next_night.recency_days != first.recency_days
        assert not should_publish(first, next_night)

    def test_a_change_of_risk_or_segment_is_published(self):
        stats = history((3, 1_000), (13, 1_000))
        first = score(stats, AS_OF, SHANGHAI)
        later = score(stats, AS_OF + timedelta(days=60), SHANGHAI)
        assert (first.churn_risk, later.churn_risk) == ("low", "high")
        assert should_publish(first, later)

    def test_scoring_is_deterministic(self):
        stats = history((3, 1_000), (40, 5_000))
        assert score(stats, AS_OF, SHANGHAI) == score(stats, AS_OF, SHANGHAI)


class FakeRepo:
    """An in-memory ScoringRepository: statistics per shard, stored scores, outbox."""

    def __init__(self, stats: Iterable[BehaviourStats], tag_rules: Iterable[TagRule] = ()) -> None:
        self.by_shard: dict[int, list[BehaviourStats]] = {0: [], 1: []}
        for i, s in enumerate(stats):
            self.by_shard[i % 2].append(s)
        self.scores: dict[str, ProfileScore] = {}
        self.events: list[MemberProfileScored] = []
        self.rules = list(tag_rules)

    def shards(self) -> list[int]:
        return [0, 1]

    def statistics(self, shard: int) -> Iterator[tuple[BehaviourStats, ProfileScore | None]]:
        for s in self.by_shard[shard]:
            yield s, self.scores.get(s.member_id)

    def tag_rules(self) -> list[TagRule]:
        return self.rules

    def save_score(
        self, member_id: str, current: ProfileScore, previous: ProfileScore | None, event: ScoredEvent | None
    ) -> bool:
        if self.scores.get(member_id) != previous:
            return False
        self.scores[member_id] = current
        if event is not None:
            self.events.append(event.event)
        return True


def run(repo, at=AS_OF):
    return run_scoring(repo, as_of=at, tz=SHANGHAI, correlation_id="c", producer="p", time_left=lambda: 900.0)


class TestNightlyRun:
    def population(self, n=150):
        members = []
        for i in range(n):
            stats = empty_stats(f"M{i:04d}")
            for d in range(i % 9, 200, 5 + i % 30):
                stats = apply_purchase(
                    stats,
                    occurred_at=AS_OF - timedelta(days=d),
                    amount_cents=1_000 * (1 + i % 13),
                    store_id="s",
                    item_categories=[("kids" if i % 4 == 0 else "food", 1_000)],
                    tz=SHANGHAI,
                )
            members.append(stats)
        members.append(empty_stats("PARKING-ONLY"))
        return members

    def test_the_population_sets_the_bounds_and_everyone_is_published_once(self):
        kids = TagRule(
            tag_id="kids", name="Kids", rule=parse({"field": "category_share.kids", "op": ">", "value": 0.5})
        )
        repo = FakeRepo(self.population(), [kids])
        result = run(repo)
        assert result.bounds is not None and result.bounds.source == "population"
        assert (result.scored, result.published, result.not_scored) == (150, 150, 1)
        assert sum("kids" in s.tags for s in repo.scores.values()) == 38
        assert {e.changed[0] for e in repo.events} == {"rfm_segment"}

        again = run(repo, AS_OF + timedelta(hours=1))
        assert (again.scored, again.published) == (150, 0)

    def test_a_changed_tag_rule_publishes_only_the_members_it_moves(self):
        repo = FakeRepo(self.population())
        run(repo)
        repo.rules = [
            TagRule(
                tag_id="kids",
                name="Kids",
                rule=parse({"field": "category_share.kids", "op": ">", "value": 0.5}),
            )
        ]
        result = run(repo, AS_OF + timedelta(hours=1))
        assert result.published == 38
        assert all(e.changed == ["tags"] and e.tags == ["kids"] for e in repo.events[-38:])
