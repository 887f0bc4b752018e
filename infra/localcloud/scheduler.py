"""Scheduled EventBridge rules and EventBridge Scheduler schedules, fired from the virtual clock.

moto stores both but never fires them. :class:`Scheduler` reads them from moto (so schedules a
handler creates at run time fire too), computes each one's next occurrence with ``aws-croniter``
(AWS's 6-field cron) or the rate, and fires every due occurrence exactly once, in time order, as
the virtual clock passes it.

Time zones (``ScheduleExpressionTimezone``) are honoured by computing occurrences on the zone's
wall clock and converting each to UTC. As on AWS: a wall time that does not exist (spring forward)
is skipped, a wall time that happens twice (fall back) fires once, at its first instant.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_croniter import AwsCroniter

from infra.localcloud import moto_patches
from infra.localcloud.clock import VirtualClock
from infra.localcloud.targets import Dispatcher, render_rule_input

__all__ = ["ScheduleError", "Scheduler", "next_occurrence", "validate_expression"]

LOG = logging.getLogger("infra.localcloud")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """A schedule expression or time zone is invalid."""


def _zone(name: str | None) -> tzinfo:
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown ScheduleExpressionTimezone {name!r}") from exc


def _rate_seconds(match: re.Match[str]) -> int:
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    if value <= 0:
        raise ScheduleError("rate() needs a positive value")
    if (value == 1 and match.group(2).endswith("s")) or (value > 1 and not match.group(2).endswith("s")):
        raise ScheduleError(
            f"rate({value} {match.group(2)}): AWS wants '{unit}' for 1 and '{unit}s' otherwise"
        )
    return value * _UNIT_SECONDS[unit]


def validate_expression(expression: str, timezone: str | None = None) -> None:
    """Raise :class:`ScheduleError` unless ``expression`` is a valid rate(), cron() or at()."""
    _zone(timezone)
    expression = expression.strip()
    if (rate := _RATE.match(expression)) is not None:
        _rate_seconds(rate)
        return
    if (cron := _CRON.match(expression)) is not None:
        try:
            AwsCroniter(cron.group(1).strip())
        except Exception as exc:  # aws-croniter raises its own hierarchy and ValueError
            raise ScheduleError(f"invalid cron expression {expression!r}: {exc}") from exc
        return
    if (at := _AT.match(expression)) is not None:
        datetime.fromisoformat(at.group(1))
        return
    raise ScheduleError(f"invalid schedule expression {expression!r} (want rate(...), cron(...) or at(...))")


def _wall_to_utc(wall: datetime, zone: tzinfo) -> datetime | None:
    """The UTC instant of a naive wall time in ``zone``; None when that wall time does not exist."""
    if zone is UTC:
        return wall.replace(tzinfo=UTC)
    local = wall.replace(tzinfo=zone, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def next_occurrence(
    expression: str, after: datetime, timezone: str | None = None, *, last: datetime | None = None
) -> datetime | None:
    """The first occurrence strictly after ``after`` (aware), in UTC; None when there is none."""
    expression = expression.strip()
    zone = _zone(timezone)
    if (rate := _RATE.match(expression)) is not None:
        step = timedelta(seconds=_rate_seconds(rate))
        base = last if last is not None else after
        candidate = base + step
        while candidate <= after:
            candidate += step
        return candidate
    if (at := _AT.match(expression)) is not None:
        instant = _wall_to_utc(datetime.fromisoformat(at.group(1)), zone)
        return instant if instant is not None and instant > after else None
    cron = _CRON.match(expression)
    if cron is None:
        raise ScheduleError(f"invalid schedule expression {expression!r}")
    croniter = AwsCroniter(cron.group(1).strip())
    wall = after.astimezone(zone).replace(tzinfo=None)
    for _ in range(1000):
        found = croniter.get_next(wall.replace(tzinfo=UTC))[0]
        if found is None:
            return None
        wall = found.replace(tzinfo=None)
        instant = _wall_to_utc(wall, zone)
        if instant is not None and instant > after:
            return instant
    return None


@dataclass
class _Tracked:
    key: str
    kind: str  # rule | schedule
    fingerprint: tuple[Any, ...]
    next_due: datetime | None
    last: datetime | None = None


def _parse_date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


class Scheduler:
    """Fires scheduled rules and Scheduler schedules as the virtual clock passes their occurrences."""

    def __init__(self, clock: VirtualClock, dispatcher: Dispatcher, *, account_id: str, region: str) -> None:
        self.clock = clock
        self.dispatcher = dispatcher
        self.account_id = account_id
        self.region = region
        self._tracked: dict[str, _Tracked] = {}
        # (occurrence, "rule:<name>" | "schedule:<name>") of recent firings, oldest first.
        self.fired: deque[tuple[datetime, str]] = deque(maxlen=10_000)

    # -- discovery ------------------------------------------------------------------------------------
    def _live(self) -> dict[str, tuple[str, Any]]:
        live: dict[str, tuple[str, Any]] = {}
        for rule in moto_patches.event_rules(self.account_id, self.region):
            if rule.scheduled_expression:
                live[f"rule:{rule.event_bus_name}/{rule.name}"] = ("rule", rule)
        for schedule in moto_patches.scheduler_schedules(self.account_id, self.region):
            live[f"schedule:{schedule.group_name}/{schedule.name}"] = ("schedule", schedule)
        return live

    @staticmethod
    def _fingerprint(kind: str, item: Any) -> tuple[Any, ...]:
        if kind == "rule":
            return (item.scheduled_expression, "UTC", None, None)
        return (item.schedule_expression, item.schedule_expression_timezone, item.start_date, item.end_date)

    def _first_due(self, kind: str, item: Any, now: datetime) -> datetime | None:
        expression, timezone, start, _end = self._fingerprint(kind, item)
        anchor = now
        start_at = _parse_date(start)
        if start_at is not None and start_at > anchor:
            anchor = start_at - timedelta(microseconds=1)
        try:
            return self._bounded(kind, item, next_occurrence(str(expression), anchor, timezone))
        except Exception as exc:  # a bad run-time schedule must not stop the cloud
            LOG.error("schedule %s cannot be computed: %s", getattr(item, "name", "?"), exc)
            return None

    def _bounded(self, kind: str, item: Any, due: datetime | None) -> datetime | None:
        if due is None or kind == "rule":
            return due
        end = _parse_date(item.end_date)
        return None if end is not None and due > end else due

    def refresh(self) -> dict[str, tuple[str, Any]]:
        """Track new schedules (from now on), forget deleted ones, recompute changed ones."""
        now = self.clock.now()
        live = self._live()
        for key in list(self._tracked):
            if key not in live:
                del self._tracked[key]
        for key, (kind, item) in live.items():
            fingerprint = self._fingerprint(kind, item)
            tracked = self._tracked.get(key)
            if tracked is None or tracked.fingerprint != fingerprint:
                self._tracked[key] = _Tracked(key, kind, fingerprint, self._first_due(kind, item, now))
        return live

    def next_due(self) -> datetime | None:
        self.refresh()
        dues = [t.next_due for t in self._tracked.values() if t.next_due is not None]
        return min(dues) if dues else None

    # -- firing -------------------------------------------------------------------------------------------
    def fire_due(self, limit: int = 10_000) -> int:
        """Fire every occurrence at or before the virtual now, earliest first. Returns how many."""
        fired = 0
        now = self.clock.now()
        while fired < limit:
            live = self.refresh()
            due = [t for t in self._tracked.values() if t.next_due is not None and t.next_due <= now]
            if not due:
                break
            tracked = min(due, key=lambda t: (t.next_due, t.key))
            kind, item = live[tracked.key]
            occurrence = tracked.next_due
            assert occurrence is not None  # filtered above
            self._fire(kind, item, occurrence)
            fired += 1
            tracked.last = occurrence
            expression, timezone, _start, _end = tracked.fingerprint
            try:
                following = next_occurrence(str(expression), occurrence, timezone, last=occurrence)
            except Exception:
                following = None
            tracked.next_due = self._bounded(kind, item, following)
            if (
                kind == "schedule"
                and tracked.next_due is None
                and getattr(item, "action_after_completion", None) == "DELETE"
            ):
                self.dispatcher.clients("scheduler").delete_schedule(
                    Name=item.name, GroupName=item.group_name
                )
                self._tracked.pop(tracked.key, None)
        return fired

    def _fire(self, kind: str, item: Any, occurrence: datetime) -> None:
        self.fired.append((occurrence, f"{kind}:{item.name}"))
        if kind == "rule":
            self._fire_rule(item, occurrence)
        else:
            self._fire_schedule(item, occurrence)

    def _fire_rule(self, rule: Any, occurrence: datetime) -> None:
        if rule.state != "ENABLED":
            return
        event: dict[str, Any] = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": occurrence.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [rule.arn],
            "detail": {},
        }
        LOG.debug(
            "%s rule %s fired (scheduled %s)",
            self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            rule.name,
            event["time"],
        )
        for target in rule.targets:
            payload = render_rule_input(target, event, rule.arn, rule.name)
            self.dispatcher.deliver(
                target["Arn"],
                payload,
                trigger="schedule",
                origin=f"rule {rule.name}",
                dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                sqs_group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
                dedup_id=event["id"],
            )

    def _fire_schedule(self, schedule: Any, occurrence: datetime) -> None:
        if schedule.state != "ENABLED":
            return
        target = schedule.target or {}
        if (schedule.flexible_time_window or {}).get("Mode", "OFF") != "OFF":
            LOG.debug(
                "schedule %s: FlexibleTimeWindow ignored locally (fires at the exact time)", schedule.name
            )
        execution_id = str(uuid.uuid4())
        text = str(target.get("Input") if target.get("Input") is not None else "{}")
        for name, value in (
            ("aws.scheduler.schedule-arn", schedule.arn),
            ("aws.scheduler.scheduled-time", occurrence.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("aws.scheduler.execution-id", execution_id),
            ("aws.scheduler.attempt-number", "1"),
        ):
            text = text.replace(f"<{name}>", value)
        LOG.debug(
            "%s schedule %s fired (scheduled %s)",
            self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            schedule.name,
            occurrence.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        arn = str(target.get("Arn", ""))
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        origin = f"schedule {schedule.name}"
        if arn.startswith("arn:aws:scheduler:::aws-sdk:"):
            self._universal(arn, text, origin, dead_letter)
            return
        self.dispatcher.deliver(
            arn,
            text,
            trigger="schedule",
            origin=origin,
            dead_letter_arn=dead_letter,
            sqs_group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
            dedup_id=execution_id,
            bus_parameters=target.get("EventBridgeParameters"),
        )

    def _universal(self, arn: str, text: str, origin: str, dead_letter: str | None) -> None:
        """Universal targets: ``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>`` with the API's input."""
        service, action = arn.split(":")[-2:]
        try:
            params = json.loads(text)
            if service == "lambda" and action == "invoke":
                payload = params.get("Payload", "{}")
                payload = payload if isinstance(payload, str) else json.dumps(payload)
                function_arn = str(params["FunctionName"])
                if not function_arn.startswith("arn:"):
                    function_arn = self.dispatcher.runner.find(function_arn).arn
                self.dispatcher.deliver(
                    function_arn, payload, trigger="schedule", origin=origin, dead_letter_arn=dead_letter
                )
                return
            client = self.dispatcher.clients(
                {"sfn": "stepfunctions", "eventbridge": "events"}.get(service, service)
            )
            method = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
            getattr(client, method)(**params)
            LOG.debug("%s called %s:%s", origin, service, action)
        except Exception as exc:
            LOG.warning("%s: universal target %s failed: %s", origin, arn, exc)
            if dead_letter:
                self.dispatcher.send_sqs(dead_letter, text)
