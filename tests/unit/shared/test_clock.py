from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import clock


def test_now_is_aware_utc_by_default():
    value = clock.now()
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def test_given_a_virtual_clock_when_now_then_it_is_used_and_normalised_to_utc(fake_clock):
    fake_clock.current = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    assert clock.now() == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    fake_clock.advance(days=7)
    assert clock.now() == datetime(2024, 5, 8, 4, 0, tzinfo=UTC)


def test_set_clock_none_restores_real_time(fake_clock):
    clock.set_clock(None)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_a_naive_virtual_clock_is_refused():
    clock.set_clock(lambda: datetime(2024, 1, 1))
    try:
        with pytest.raises(ValueError, match="naive"):
            clock.now()
    finally:
        clock.set_clock(None)


def test_mall_now_is_in_the_mall_zone(fake_clock):
    local = clock.mall_now("Asia/Shanghai")
    assert local.hour == 12
    assert local.utcoffset() == timedelta(hours=8)
    assert local == fake_clock.current


def test_unknown_zone_is_a_value_error():
    with pytest.raises(ValueError, match="unknown time zone"):
        clock.zone("Mars/Olympus_Mons")


def test_iso_is_fixed_width_z_and_round_trips():
    dt = datetime(2024, 5, 1, 12, 0, 0, 1500, tzinfo=timezone(timedelta(hours=8)))
    text = clock.to_utc_iso(dt)
    assert text == "2024-05-01T04:00:00.001500Z"
    assert clock.parse_iso(text) == dt
    assert len(clock.to_utc_iso(datetime(2024, 5, 1, tzinfo=UTC))) == len(text)


def test_parse_iso_accepts_offsets_and_refuses_naive():
    assert clock.parse_iso("2024-05-01T12:00:00+08:00") == datetime(2024, 5, 1, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        clock.parse_iso("2024-05-01T12:00:00")
    with pytest.raises(ValueError, match="naive"):
        clock.to_utc_iso(datetime(2024, 5, 1))


def test_epoch_seconds():
    assert clock.epoch_seconds(datetime(1970, 1, 2, tzinfo=UTC)) == 86400


_ZONES = ["UTC", "Asia/Shanghai", "Europe/London", "America/New_York", "Australia/Lord_Howe"]


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from([*_ZONES, "fixed+0", "fixed-5:30", "pydantic-utc"]),
    st.sampled_from([0, 1]),
)
def test_to_utc_iso_is_the_utc_instant_in_every_zone_and_fold(wall: datetime, zone: str, fold: int) -> None:
    """The zero-offset shortcut gives what converting to UTC gives — across DST gaps and folds
    (where an aware datetime's offset depends on ``fold``) and for other UTC tzinfo objects."""
    from zoneinfo import ZoneInfo

    from pydantic import TypeAdapter

    if zone == "pydantic-utc":  # pydantic parses "Z" into its own tzinfo, not datetime.UTC
        dt = TypeAdapter(datetime).validate_python(wall.isoformat() + "Z")
    elif zone.startswith("fixed"):
        dt = wall.replace(tzinfo=timezone(timedelta(minutes=0 if zone == "fixed+0" else -330)))
    else:
        dt = wall.replace(tzinfo=ZoneInfo(zone), fold=fold)
    expected = dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    assert clock.to_utc_iso(dt) == expected
    # The same instant. Not ``== dt``: Python answers False to an interzone comparison of a time
    # whose offset depends on ``fold`` (PEP 495), e.g. London 1999-10-31T01:00 (found by this test).
    assert clock.parse_iso(expected) == dt.astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)), max_size=20),
    st.sampled_from(_ZONES),
)
def test_remembered_utc_texts_are_the_conversion_whatever_came_before(
    walls: list[datetime], zone: str
) -> None:
    """The texts remembered for ``datetime.UTC`` values: each call, repeated or interleaved with
    the same walls in another zone (folds included), gives what converting gives."""
    from zoneinfo import ZoneInfo

    for wall in walls:
        for dt in (
            wall.replace(tzinfo=UTC),
            wall.replace(tzinfo=ZoneInfo(zone), fold=1),
            wall.replace(tzinfo=UTC),
        ):
            expected = dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
            assert clock.to_utc_iso(dt) == expected


def test_the_remembered_texts_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "_UTC_TEXTS_MAX", 3)
    monkeypatch.setattr(clock, "_UTC_TEXTS", {})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    texts = [clock.to_utc_iso(start + timedelta(seconds=n)) for n in range(10)]
    assert texts[9] == "2026-01-01T00:00:09.000000Z"
    assert len(clock._UTC_TEXTS) <= 3


def test_to_utc_iso_refuses_a_naive_datetime_and_a_tzinfo_without_an_offset() -> None:
    from datetime import tzinfo

    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta | None:
            return None

        def dst(self, dt: datetime | None) -> timedelta | None:
            return None

        def tzname(self, dt: datetime | None) -> str | None:
            return None

    with pytest.raises(ValueError, match="naive"):
        clock.to_utc_iso(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        clock.to_utc_iso(datetime(2026, 1, 1, tzinfo=NoOffset()))
