"""Listing journey episodes and occurrences for the console.

* **churn warning** runs on Step Functions: one *episode* per run (``EPISODE#<id>``), with its
  own status and outcome.
* **birthday** and **points expiring** are one message each: one *occurrence* per send, written
  by dispatch with the send record (``jrn#birthday#<member>#<year>``,
  ``jrn#points_expiring#<member>#<lot>``); its status and outcome are the send record's (pure
  mapping: :func:`occurrence_view`).

Both are listed by the same route, newest first, in one response schema (``status``, ``outcome``,
times; the journey's own fields optional).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from services.campaigns.logic.churn_warning import JOURNEY as CHURN_WARNING
from services.campaigns.logic.errors import JourneyNotFound
from services.campaigns.models.entities import Episode, Occurrence

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.campaigns.models.dispatch import SendRequest

BIRTHDAY = "birthday"
POINTS_EXPIRING = "points_expiring"
EPISODE_JOURNEYS: frozenset[str] = frozenset({CHURN_WARNING})  # Step Functions, episodes
MESSAGE_JOURNEYS: frozenset[str] = frozenset({BIRTHDAY, POINTS_EXPIRING})  # one send each, occurrences
JOURNEYS: frozenset[str] = EPISODE_JOURNEYS | MESSAGE_JOURNEYS

OccurrenceStatus = Literal["pending", "completed", "failed"]
OccurrenceOutcome = Literal["sent", "suppressed", "failed"]
MessageStatus = Literal[
    "queued", "deferred", "held", "retrying", "sending", "sent", "suppressed", "failed", "unknown"
]
_MESSAGE_STATUS: dict[str, MessageStatus] = {
    "held": "held",
    "retry": "retrying",
    "sending": "sending",
    "sent": "sent",
    "suppressed": "suppressed",
    "failed": "failed",
}


@dataclass(frozen=True)
class EpisodePageResult:
    episodes: list[Episode]
    next_token: str | None


class EpisodeIndex(Protocol):
    def newest_first(self, journey: str, limit: int, next_token: str | None) -> EpisodePageResult:
        """A page of the journey's episodes, newest first; raises InvalidNextToken for a bad token."""

    def member_newest_first(
        self, journey: str, member_id: str, limit: int, next_token: str | None
    ) -> EpisodePageResult:
        """A page of one member's episodes of the journey, newest first (InvalidNextToken as above)."""


def list_episodes(
    journey: str,
    index: EpisodeIndex,
    *,
    limit: int,
    next_token: str | None,
    member_id: str | None = None,
) -> EpisodePageResult:
    if journey not in EPISODE_JOURNEYS:
        raise JourneyNotFound()
    if member_id is not None:
        return index.member_newest_first(journey, member_id, limit, next_token)
    return index.newest_first(journey, limit, next_token)


# --- message journeys: occurrences ------------------------------------------------------------


@dataclass(frozen=True)
class SendState:
    """What dispatch recorded on the send record (``SEND#<send_id>``)."""

    status: str  # logic/dispatch.py Status: pending | held | retry | sending | sent | suppressed | failed
    reason: str | None = None
    channel: str | None = None
    due_at: datetime | None = None
    sent_at: datetime | None = None
    finished_at: datetime | None = None
    coupon_id: str | None = None


@dataclass(frozen=True)
class MessageView:
    status: MessageStatus
    reason: str | None
    channel: str | None
    due_at: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class CouponView:
    template_id: str | None
    coupon_id: str | None
    issued: bool
    reason: str | None  # why not issued (yet)


@dataclass(frozen=True)
class OccurrenceView:
    occurrence: Occurrence
    status: OccurrenceStatus
    outcome: OccurrenceOutcome | None
    ended_at: datetime | None
    error: str | None
    message: MessageView
    coupon: CouponView | None


@dataclass(frozen=True)
class OccurrencePageResult:
    items: list[tuple[Occurrence, SendState | None]]
    next_token: str | None


class OccurrenceIndex(Protocol):
    def occurrences_newest_first(
        self, journey: str, limit: int, next_token: str | None
    ) -> OccurrencePageResult:
        """A page of the journey's occurrences, newest first, each with its send record's state
        (None: no record); raises InvalidNextToken for a bad token."""

    def member_occurrences_newest_first(
        self, journey: str, member_id: str, limit: int, next_token: str | None
    ) -> OccurrencePageResult:
        """The same for one member."""


def occurrence_from_request(request: SendRequest, occurrence_id: str) -> Occurrence | None:
    """The occurrence a message journey's request starts (None: not a message journey). The facts
    come from the request: ``birthday_on`` and ``lot_id`` from its personalisation (the producers
    in logic/journey_messages.py put them there), the points' expiry from ``not_after``."""
    if request.journey not in MESSAGE_JOURNEYS:
        return None
    values = request.personalisation
    template_id = None
    if request.offer is not None and request.offer.type == "coupon":
        template_id = request.offer.template_id
    points = values.get("points")
    return Occurrence(
        occurrence_id=occurrence_id,
        journey=request.journey,
        member_id=request.member_id,
        started_at=request.requested_at,
        send_id=request.send_id,
        birthday_on=values.get("birthday_on") if request.journey == BIRTHDAY else None,
        lot_id=values.get("lot_id") if request.journey == POINTS_EXPIRING else None,
        points=int(points) if request.journey == POINTS_EXPIRING and points and points.isdigit() else None,
        expires_at=request.not_after if request.journey == POINTS_EXPIRING else None,
        coupon_template_id=template_id,
    )


def _frozen_state(occurrence: Occurrence) -> SendState | None:
    if occurrence.message_status is None:
        return None
    return SendState(
        status=occurrence.message_status,
        reason=occurrence.message_reason,
        channel=occurrence.message_channel,
        sent_at=occurrence.message_sent_at,
        finished_at=occurrence.message_finished_at,
    )


def _message(state: SendState | None, erased: bool) -> MessageView:
    if state is None:
        # No record: not read by dispatch yet — or, after an erasure, none was left to copy.
        status: MessageStatus = "unknown" if erased else "queued"
        return MessageView(status, None, None, None, None, None)
    if state.status == "pending":
        status = "deferred" if state.due_at is not None and state.reason else "queued"
    else:
        status = _MESSAGE_STATUS.get(state.status, "unknown")
    return MessageView(status, state.reason, state.channel, state.due_at, state.sent_at, state.finished_at)


def _coupon(occurrence: Occurrence, state: SendState | None, message: MessageView) -> CouponView | None:
    if occurrence.journey != BIRTHDAY:
        return None
    template = occurrence.coupon_template_id
    coupon_id = state.coupon_id if state is not None else None
    issued = coupon_id is not None or bool(occurrence.coupon_issued)
    if issued:
        reason = None
    elif template is None:
        reason = "no_coupon_template"  # BIRTHDAY_COUPON_TEMPLATE_ID unset: the greeting alone
    elif message.status in {"sent", "suppressed", "failed", "unknown"}:
        # issued only when the message goes out: the message's reason is the coupon's
        reason = message.reason or f"message_{message.status}"
    else:
        reason = "message_not_sent_yet"
    return CouponView(template, coupon_id, issued, reason)


def occurrence_view(occurrence: Occurrence, state: SendState | None) -> OccurrenceView:
    """An occurrence as the console shows it: ``status`` pending (the message is queued, held,
    deferred, retried or being sent) | completed (sent or suppressed) | failed; ``outcome`` sent |
    suppressed | failed (null while pending); the message's own state and reason; the birthday
    coupon, issued or why not."""
    if state is None and occurrence.member_erased:
        state = _frozen_state(occurrence)
    message = _message(state, occurrence.member_erased)
    outcome: OccurrenceOutcome | None = None
    status: OccurrenceStatus = "pending"
    if message.status in {"sent", "suppressed"}:
        outcome = "sent" if message.status == "sent" else "suppressed"
        status = "completed"
    elif message.status == "failed":
        outcome, status = "failed", "failed"
    elif message.status == "unknown":
        status = "completed"
    ended_at = message.sent_at or message.finished_at
    error = message.reason if outcome == "failed" else None
    return OccurrenceView(
        occurrence=occurrence,
        status=status,
        outcome=outcome,
        ended_at=ended_at,
        error=error,
        message=message,
        coupon=_coupon(occurrence, state, message),
    )


def list_occurrences(
    journey: str,
    index: OccurrenceIndex,
    *,
    limit: int,
    next_token: str | None,
    member_id: str | None = None,
) -> tuple[list[OccurrenceView], str | None]:
    if journey not in MESSAGE_JOURNEYS:
        raise JourneyNotFound()
    if member_id is not None:
        page = index.member_occurrences_newest_first(journey, member_id, limit, next_token)
    else:
        page = index.occurrences_newest_first(journey, limit, next_token)
    return [occurrence_view(o, s) for o, s in page.items], page.next_token
