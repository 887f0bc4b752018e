"""Behaviour statistics: how purchases and refunds change them (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.members.logic.stats import KEEP_DAYS, apply_purchase, apply_refund, empty_stats
from services.members.models.entities import DayBucket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def buy(stats, at, cents=1000, store="s1", categories=(("food", 1000),)):
    return apply_purchase(
        stats,
        occurred_at=at,
        amount_cents=cents,
        store_id=store,
        item_categories=list(categories),
        tz=SHANGHAI,
    )


def test_first_purchase_starts_the_statistics():
    at = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    stats = buy(empty_stats("M1"), at, 2590, "store-1", [("apparel", 1990), ("food", 600)])

    assert stats.first_purchase_at == stats.last_purchase_at == at
    assert (stats.purchase_count, stats.spend_cents) == (1, 2590)
    assert stats.days == {date(2026, 3, 1): DayBucket(count=1, spend_cents=2590)}
    assert stats.category_spend_cents == {"apparel": 1990, "food": 600}
    assert stats.store_purchase_count == {"store-1": 1}


def test_day_buckets_are_the_malls_calendar_days():
    late_evening_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Shanghai
    stats = buy(empty_stats("M1"), late_evening_utc)
    assert list(stats.days) == [date(2026, 3, 2)]


def test_out_of_order_purchases_keep_first_and_last_right():
    later = datetime(2026, 3, 10, tzinfo=UTC)
    earlier = datetime(2026, 3, 1, tzinfo=UTC)
    stats = buy(buy(empty_stats("M1"), later), earlier)
    assert (stats.first_purchase_at, stats.last_purchase_at) == (earlier, later)
    assert stats.purchase_count == 2


def test_same_day_purchases_share_a_bucket_and_mixes_add_up():
    at = datetime(2026, 3, 1, 3, tzinfo=UTC)
    stats = buy(buy(empty_stats("M1"), at, 1000, "s1"), at + timedelta(hours=1), 500, "s2", [("food", 500)])
    assert stats.days[date(2026, 3, 1)] == DayBucket(count=2, spend_cents=1500)
    assert stats.category_spend_cents == {"food": 1500}
    assert stats.store_purchase_count == {"s1": 1, "s2": 1}


def test_buckets_older_than_the_horizon_are_dropped():
    old = datetime(2025, 1, 1, tzinfo=UTC)
    new = old + timedelta(days=KEEP_DAYS + 1)
    stats = buy(buy(empty_stats("M1"), old), new)
    assert list(stats.days) == [new.astimezone(SHANGHAI).date()]
    assert stats.purchase_count == 2, "lifetime totals keep everything"


def test_refund_lowers_net_spend_on_its_day_but_keeps_the_visit():
    at = datetime(2026, 3, 1, 3, tzinfo=UTC)
    stats = apply_refund(
        buy(empty_stats("M1"), at, 5000), occurred_at=at + timedelta(days=2), amount_cents=2000, tz=SHANGHAI
    )
    assert (stats.spend_cents, stats.purchase_count) == (3000, 1)
    assert (stats.refund_count, stats.refunded_cents) == (1, 2000)
    assert stats.days[date(2026, 3, 3)] == DayBucket(count=0, spend_cents=-2000)
