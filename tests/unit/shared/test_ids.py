from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared import ids


def test_ulid_shape():
    value = ids.new_ulid()
    assert len(value) == 26
    assert ids.is_ulid(value)


def test_ulids_sort_by_time_across_milliseconds(fake_clock):
    values = []
    for _ in range(50):
        values.append(ids.new_ulid())
        fake_clock.advance(milliseconds=1)
    assert values == sorted(values)
    assert len(set(values)) == 50


def test_ulids_within_one_millisecond_are_monotonic(fake_clock):
    values = [ids.new_ulid() for _ in range(1000)]
    assert values == sorted(values)
    assert len(set(values)) == 1000


def test_ulid_time_comes_from_the_clock(fake_clock):
    value = ids.new_ulid()
    assert ids.ulid_time(value) == fake_clock.current


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_ulid_time_round_trips_to_the_millisecond(moment):
    aware = moment.replace(tzinfo=UTC)
    decoded = ids.ulid_time(ids.new_ulid(aware))
    assert decoded == aware.replace(microsecond=aware.microsecond // 1000 * 1000)  # floored, exactly


def test_a_whole_millisecond_is_encoded_exactly():
    """Regression: the float product ``timestamp() * 1000`` put 2004-02-01T00:00:00.100Z at .099
    (found by the round-trip property above)."""
    moment = datetime(2004, 2, 1, 0, 0, 0, 100000, tzinfo=UTC)
    assert ids.ulid_time(ids.new_ulid(moment)) == moment
    assert ids.ulid_time(ids.new_ulid(moment + timedelta(microseconds=999))) == moment


def test_is_ulid_rejects_lowercase_and_ambiguous_letters():
    assert not ids.is_ulid("01hx9zk3m5n7p9q1r3s5t7v9wx")
    assert not ids.is_ulid("01HX9ZK3M5N7P9Q1R3S5T7V9WI")  # I is not Crockford
    assert not ids.is_ulid("short")


def _one_character_per_step(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[value & 31])
        value >>= 5
    return "".join(reversed(chars))


@given(st.integers(0, (1 << 48) - 1), st.integers(0, (1 << 80) - 1))
def test_the_two_characters_per_step_encoder_is_plain_crockford_base32(ms: int, random_part: int) -> None:
    expected = _one_character_per_step(ms, 10) + _one_character_per_step(random_part, 16)
    assert ids._encode_ulid(ms, random_part) == expected
    assert ids.is_ulid(expected)
