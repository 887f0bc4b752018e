"""The virtual clock every part of the local cloud reads.

One :class:`VirtualClock` per cloud. It is either *frozen* (time moves only when :meth:`advance`
is called: tests) or *running* (virtual time = real time + an offset that :meth:`advance` grows:
``make dev``). Threads that must wait on virtual time (Step Functions Wait states, Retry backoff)
call :meth:`sleep_until`; they are registered as waiters, so the cloud can see what they wait for
and wake them the moment the clock passes their deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["VirtualClock", "Waiter"]

# How often a sleeping thread re-checks its cancel condition when nothing notifies it (seconds).
_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Waiter:
    """A thread blocked in :meth:`VirtualClock.sleep_until`."""

    thread_id: int
    deadline: datetime
    label: str


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the virtual clock only takes timezone-aware datetimes")
    return value.astimezone(UTC)


class VirtualClock:
    """Aware-UTC virtual time with waiters. Thread-safe."""

    def __init__(self, start: datetime | None = None, *, running: bool = False) -> None:
        self._cond = threading.Condition()
        self._running = running
        begin = _aware(start) if start is not None else datetime.now(UTC)
        self._frozen_at = begin
        self._offset = begin - datetime.now(UTC)
        self._waiters: dict[int, Waiter] = {}
        self._next_token = 0

    # -- reading -------------------------------------------------------------------------------
    def _now_locked(self) -> datetime:
        if self._running:
            return datetime.now(UTC) + self._offset
        return self._frozen_at

    def now(self) -> datetime:
        """The virtual time, aware, in UTC."""
        with self._cond:
            return self._now_locked()

    def timestamp(self) -> float:
        """The virtual time as seconds since the epoch."""
        return self.now().timestamp()

    def __call__(self) -> datetime:
        return self.now()

    @property
    def running(self) -> bool:
        """True when virtual time flows with real time (plus an offset)."""
        return self._running

    # -- moving --------------------------------------------------------------------------------
    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` (never backwards); wakes waiters that are due."""
        if seconds < 0:
            raise ValueError("the virtual clock never goes backwards")
        with self._cond:
            delta = timedelta(seconds=seconds)
            if self._running:
                self._offset += delta
            else:
                self._frozen_at += delta
            self._cond.notify_all()
            return self._now_locked()

    def advance_to(self, when: datetime) -> datetime:
        """Move the clock forward to ``when`` (a no-op when ``when`` is not in the future)."""
        target = _aware(when)
        with self._cond:
            current = self._now_locked()
            if target <= current:
                return current
            if self._running:
                self._offset += target - current
            else:
                self._frozen_at = target
            self._cond.notify_all()
            return self._now_locked()

    def set_running(self, running: bool) -> None:
        """Switch between frozen and real-speed time without a jump."""
        with self._cond:
            if running == self._running:
                return
            current = self._now_locked()
            if running:
                self._offset = current - datetime.now(UTC)
            else:
                self._frozen_at = current
            self._running = running
            self._cond.notify_all()

    # -- waiting -------------------------------------------------------------------------------
    def sleep_until(
        self,
        deadline: datetime,
        *,
        cancelled: Callable[[], bool] | None = None,
        label: str = "",
    ) -> bool:
        """Block the calling thread until the virtual time reaches ``deadline``.

        Returns True when the deadline was reached, False when ``cancelled()`` became true first.
        """
        target = _aware(deadline)
        with self._cond:
            token = self._next_token
            self._next_token += 1
            self._waiters[token] = Waiter(threading.get_ident(), target, label)
            try:
                while True:
                    current = self._now_locked()
                    if current >= target:
                        return True
                    if cancelled is not None and cancelled():
                        return False
                    timeout = _POLL_SECONDS
                    if self._running:
                        timeout = min(timeout, (target - current).total_seconds())
                    self._cond.wait(timeout)
            finally:
                del self._waiters[token]
                self._cond.notify_all()

    def sleep(self, seconds: float, *, cancelled: Callable[[], bool] | None = None, label: str = "") -> bool:
        """Block for ``seconds`` of virtual time (see :meth:`sleep_until`)."""
        if seconds <= 0:
            return True
        return self.sleep_until(self.now() + timedelta(seconds=seconds), cancelled=cancelled, label=label)

    def waiters(self) -> list[Waiter]:
        """The threads currently sleeping on the clock."""
        with self._cond:
            return list(self._waiters.values())

    def next_deadline(self) -> datetime | None:
        """The earliest deadline among the sleeping threads, if any."""
        with self._cond:
            if not self._waiters:
                return None
            return min(w.deadline for w in self._waiters.values())
