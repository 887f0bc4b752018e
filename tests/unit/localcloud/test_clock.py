"""The virtual clock: frozen and running time, waiters woken by advance."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from infra.localcloud.clock import VirtualClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_frozen_clock_moves_only_when_advanced() -> None:
    clock = VirtualClock(START)
    assert clock.now() == START
    time.sleep(0.01)
    assert clock.now() == START
    assert clock.advance(90) == START + timedelta(seconds=90)
    assert clock.timestamp() == (START + timedelta(seconds=90)).timestamp()


def test_clock_is_aware_utc_and_never_goes_back() -> None:
    clock = VirtualClock(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    assert clock.advance_to(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 3, 1))


def test_clock_starts_at_real_now_by_default() -> None:
    before = datetime.now(UTC)
    clock = VirtualClock()
    assert before <= clock.now() <= datetime.now(UTC)


def test_sleeper_wakes_within_milliseconds_of_advance() -> None:
    clock = VirtualClock(START)
    woke: list[float] = []

    def sleeper() -> None:
        clock.sleep(7 * 86400, label="test")
        woke.append(time.perf_counter())

    thread = threading.Thread(target=sleeper)
    thread.start()
    deadline = time.perf_counter() + 2
    while not clock.waiters() and time.perf_counter() < deadline:
        time.sleep(0.001)
    [waiter] = clock.waiters()
    assert waiter.deadline == START + timedelta(days=7)
    assert waiter.label == "test"
    assert clock.next_deadline() == START + timedelta(days=7)
    clock.advance(6 * 86400)
    time.sleep(0.02)
    assert not woke
    advanced_at = time.perf_counter()
    clock.advance(86400)
    thread.join(timeout=2)
    assert woke and woke[0] - advanced_at < 0.05
    assert clock.waiters() == []


def test_sleep_can_be_cancelled() -> None:
    clock = VirtualClock(START)
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(clock.sleep(3600, cancelled=stop.is_set)))
    thread.start()
    stop.set()
    thread.join(timeout=2)
    assert result == [False]


def test_running_clock_follows_real_time_plus_offset() -> None:
    clock = VirtualClock(START)
    clock.set_running(True)
    assert clock.running
    first = clock.now()
    time.sleep(0.05)
    assert clock.now() - first >= timedelta(seconds=0.04)
    clock.advance(3600)
    assert clock.now() - first >= timedelta(hours=1)
    # A short sleep on a running clock ends on real time.
    began = time.perf_counter()
    assert clock.sleep(0.05)
    assert 0.04 <= time.perf_counter() - began < 30
    clock.set_running(False)
    frozen = clock.now()
    time.sleep(0.01)
    assert clock.now() == frozen
