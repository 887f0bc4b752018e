"""The churn-warning journey's contact steps (tasks CheckRecentContact, SendWinBack,
EscalateIfValuable of infra/statemachines/churn_warning.asl.json), pure.

* recent contact: any marketing message sent to the member (any campaign or journey) within
  ``recent_contact_days`` → the journey does not add one (outcome ``skipped_recent_contact``);
* win-back: one SendRequest ``jrn#churn_warning#<episode_id>`` with the win-back coupon, valid
  for sending until half-way through the observation (later, a win-back message makes little
  sense); dispatch issues the coupon only when the message goes out;
* escalation: a member still away after the observation and of high value (the episode's
  ``trigger_value_level``) → ``ChurnRiskEscalated`` once per episode, which tickets turns into a
  retention call. Others end dormant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.campaigns.logic.errors import EpisodeNotFound
from services.campaigns.logic.journey_messages import win_back_request
from services.campaigns.logic.privacy import PSEUDONYM_PREFIX
from services.campaigns.models.dispatch import SendRequest
from services.campaigns.models.entities import Episode
from shared.events.contracts import ChurnRiskEscalated

MIN_WIN_BACK_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class RecentContact:
    recent: bool
    last_contact_at: datetime | None


def recent_contact(last_contact_at: datetime | None, *, now: datetime, days: int) -> RecentContact:
    recent = last_contact_at is not None and days > 0 and last_contact_at > now - timedelta(days=days)
    return RecentContact(recent=recent, last_contact_at=last_contact_at)


class Queue(Protocol):
    def send(self, requests: list[SendRequest]) -> None: ...


def send_win_back(
    episode_id: str,
    member_id: str,
    queue: Queue,
    *,
    template_id: str | None,
    observe_seconds: int,
    now: datetime,
) -> str:
    window = max(MIN_WIN_BACK_WINDOW, timedelta(seconds=observe_seconds) / 2)
    request = win_back_request(
        member_id, episode_id, template_id=template_id, not_after=now + window, now=now
    )
    queue.send([request])
    return request.send_id


class Escalations(Protocol):
    def escalate_once(self, episode_id: str, event: ChurnRiskEscalated) -> bool:
        """Write the event (outbox) and the episode's escalation marker together; False if the
        marker was there already (a retried task)."""


def escalate_if_valuable(
    episode: Episode | None,
    escalations: Escalations,
    *,
    execution_name: str,
    last_purchase_at: datetime | None,
    coupon_id: str | None,
    now: datetime,
) -> bool:
    if episode is None:
        raise EpisodeNotFound("episode not found")
    if episode.trigger_value_level != "high" or episode.member_id.startswith(PSEUDONYM_PREFIX):
        # An erased member (pseudonymised episode) is nobody to call.
        return False
    recency = (now - last_purchase_at).days if last_purchase_at is not None else None
    event = ChurnRiskEscalated(
        member_id=episode.member_id,
        journey_execution_id=execution_name,
        value_level="high",
        recency_days=max(0, recency) if recency is not None else None,
        win_back_coupon_id=coupon_id,
        escalated_at=now,
    )
    escalations.escalate_once(episode.episode_id, event)
    return True
