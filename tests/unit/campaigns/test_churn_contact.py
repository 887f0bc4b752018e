"""The churn-warning journey's contact steps, pure: recent contact, win-back window, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.logic.churn_contact import escalate_if_valuable, recent_contact, send_win_back
from services.campaigns.logic.errors import EpisodeNotFound
from services.campaigns.models.dispatch import SendRequest
from services.campaigns.models.entities import Episode
from shared.events.contracts import ChurnRiskEscalated

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def episode(value_level: str = "high", member_id: str = "01HX9ZK3M5N7P9Q1R3S5T7V9WX") -> Episode:
    return Episode(
        episode_id="01J1111111111111111111111A",
        journey="churn_warning",
        member_id=member_id,
        status="observing",
        started_at=NOW - timedelta(days=14),
        execution_name="churn-warning-01J1111111111111111111111A",
        trigger_value_level=value_level,
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[ChurnRiskEscalated] = []
        self.requests: list[SendRequest] = []

    def escalate_once(self, episode_id: str, event: ChurnRiskEscalated) -> bool:
        self.events.append(event)
        return True

    def send(self, requests: list[SendRequest]) -> None:
        self.requests.extend(requests)


def test_recent_contact_window() -> None:
    assert recent_contact(NOW - timedelta(days=6), now=NOW, days=7).recent
    assert not recent_contact(NOW - timedelta(days=8), now=NOW, days=7).recent
    assert not recent_contact(None, now=NOW, days=7).recent
    assert not recent_contact(NOW, now=NOW, days=0).recent  # 0 days: the check is off


def test_win_back_is_sendable_until_half_way_through_the_observation() -> None:
    queue = Recorder()
    send_id = send_win_back("E1", "M1", queue, template_id="win-back", observe_seconds=14 * 86400, now=NOW)
    [request] = queue.requests
    assert send_id == "jrn#churn_warning#E1" == request.send_id
    assert request.not_after == NOW + timedelta(days=7)
    assert request.offer is not None and request.offer.type == "coupon"
    short = Recorder()
    send_win_back("E2", "M1", short, template_id=None, observe_seconds=60, now=NOW)
    assert short.requests[0].not_after == NOW + timedelta(days=1)  # at least a day
    assert short.requests[0].offer is None


def test_only_a_high_value_member_still_away_is_escalated() -> None:
    recorder = Recorder()
    kwargs = {
        "execution_name": "x",
        "last_purchase_at": NOW - timedelta(days=95),
        "coupon_id": "C1",
        "now": NOW,
    }
    assert not escalate_if_valuable(episode("medium"), recorder, **kwargs)  # type: ignore[arg-type]
    assert not escalate_if_valuable(episode(member_id="anon_0123"), recorder, **kwargs)  # type: ignore[arg-type]
    assert recorder.events == []
    assert escalate_if_valuable(episode(), recorder, **kwargs)  # type: ignore[arg-type]
    [event] = recorder.events
    assert (event.recency_days, event.win_back_coupon_id, event.value_level) == (95, "C1", "high")
    with pytest.raises(EpisodeNotFound):
        escalate_if_valuable(None, recorder, **kwargs)  # type: ignore[arg-type]
