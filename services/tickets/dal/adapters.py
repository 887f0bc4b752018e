"""Outside the table: SLA timers (EventBridge Scheduler one-time schedules) and loyalty's live
rewards catalogue (contract A, ``LoyaltyOffersFunction``), each with a recording fake for tests.

**SLA timers.** One one-time schedule per (ticket, target): ``at(<due, UTC>)`` with
``ActionAfterCompletion: DELETE`` (Scheduler removes it after it fired), target
``TicketsSlaCheckFunction`` with ``{"ticket_id", "target", "due_at"}`` as input, retries and a
dead-letter queue. The name is derived from the ticket, target and due time, so creating it twice
(an SQS redelivery) answers ConflictException, which means "already scheduled". API:
https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html. The local cloud
fires these from its virtual clock (infra/localcloud/scheduler.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared import aws, clock
from shared.exports import ExportPartWriter

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.tickets.models.settings import TicketsSlaSettings

__all__ = [
    "FakeRewardsCatalogue",
    "LambdaRewardsCatalogue",
    "RecordingSlaTimers",
    "RewardsCatalogue",
    "S3ExportWriter",
    "SchedulerSlaTimers",
    "SlaTimers",
    "timer_name",
]


def timer_name(stage: str, ticket_id: str, target: str, due: datetime) -> str:
    """``mallcrm-<stage>-tkt-<ticket>-fr|rs|cl-<epoch>`` (≤ 64 characters, Scheduler's limit)."""
    short = {"first_response": "fr", "resolution": "rs", "close": "cl"}[target]
    return f"mallcrm-{stage}-tkt-{ticket_id}-{short}-{clock.epoch_seconds(due)}"[:64]


class SlaTimers(Protocol):
    def schedule(self, ticket_id: str, target: str, due: datetime) -> bool: ...


@dataclass
class SchedulerSlaTimers:
    """Real adapter: EventBridge Scheduler ``CreateSchedule``."""

    stage: str
    function_arn: str
    role_arn: str
    dead_letter_arn: str
    group: str = "default"

    @classmethod
    def from_settings(cls, settings: TicketsSlaSettings) -> SchedulerSlaTimers:
        """The timers the SLA functions' environment names (the check function, its role, the DLQ)."""
        return cls(
            stage=settings.stage,
            function_arn=settings.sla_check_function_arn,
            role_arn=settings.sla_scheduler_role_arn,
            dead_letter_arn=settings.sla_dead_letter_arn,
            group=settings.sla_schedule_group,
        )

    def schedule(self, ticket_id: str, target: str, due: datetime) -> bool:
        """True when created now, False when it existed already."""
        client = aws.client("scheduler")
        # at() takes whole seconds: round up, so the timer never fires before the due time. A due
        # time already past (a staff priority change moved it earlier) fires a minute from now:
        # one-time schedules are for the future, and the check only needs to run after the due time.
        fire_at = max(due, clock.now() + timedelta(minutes=1))
        fire_at = fire_at.replace(microsecond=0) + timedelta(seconds=1 if fire_at.microsecond else 0)
        name = timer_name(self.stage, ticket_id, target, fire_at)
        payload = {"ticket_id": ticket_id, "target": target, "due_at": clock.to_utc_iso(due)}
        try:
            client.create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=f"at({fire_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"SLA {target} of ticket {ticket_id}",
                Target={
                    "Arn": self.function_arn,
                    "RoleArn": self.role_arn,
                    "Input": json.dumps(payload),
                    "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 86400},
                    "DeadLetterConfig": {"Arn": self.dead_letter_arn},
                },
            )
        except client.exceptions.ConflictException:
            return False
        return True


@dataclass
class RecordingSlaTimers:
    """Fake for tests: records what it was asked to schedule."""

    scheduled: list[tuple[str, str, datetime]] = field(default_factory=list)

    def schedule(self, ticket_id: str, target: str, due: datetime) -> bool:
        entry = (ticket_id, target, due)
        if entry in self.scheduled:
            return False
        self.scheduled.append(entry)
        return True


class RewardsCatalogue(Protocol):
    def list_rewards(self) -> Sequence[Mapping[str, Any]]: ...


@dataclass
class LambdaRewardsCatalogue:
    """Real adapter: Lambda ``Invoke`` (RequestResponse) of LoyaltyOffersFunction, contract A."""

    function_arn: str

    def list_rewards(self) -> Sequence[Mapping[str, Any]]:
        response = aws.client("lambda").invoke(
            FunctionName=self.function_arn,
            InvocationType="RequestResponse",
            Payload=json.dumps({"action": "list_rewards"}).encode("utf-8"),
        )
        if response.get("FunctionError"):
            raise RuntimeError(f"list_rewards failed: {response['FunctionError']}")
        body = json.loads(response["Payload"].read() or b"{}")
        rewards = body.get("rewards")
        if not isinstance(rewards, list):
            raise RuntimeError("list_rewards answered without a rewards list")
        return [r for r in rewards if isinstance(r, Mapping) and "name" in r and "points_cost" in r]


@dataclass
class FakeRewardsCatalogue:
    """Fake for tests: answers the rewards it holds and counts the calls."""

    rewards: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    fail: bool = False

    def list_rewards(self) -> Sequence[Mapping[str, Any]]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("loyalty unavailable")
        return list(self.rewards)


class S3ExportWriter(ExportPartWriter):
    """The tickets part of a member export: ``<prefix>tickets.json`` in the members' export bucket."""

    def __init__(self, bucket: str) -> None:
        super().__init__(bucket, "tickets")
