"""The message journeys' occurrences (logic/journeys.py): what a request records, and how a send
record's state reads as the journey's status, outcome, message and coupon."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from services.campaigns.logic.errors import JourneyNotFound
from services.campaigns.logic.journey_messages import (
    birthday_request,
    notification_request,
    points_expiring_request,
    win_back_request,
)
from services.campaigns.logic.journeys import (
    JOURNEYS,
    OccurrencePageResult,
    SendState,
    list_occurrences,
    occurrence_from_request,
    occurrence_view,
)
from services.campaigns.models.entities import Occurrence
from shared import clock
from shared.events.contracts import NotificationRequested

ZONE = clock.zone("Asia/Shanghai")
NINE = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
MEMBER = "01JE0000000000000000000LI1"


def birthday(template: str | None = "birthday") -> Occurrence:
    request = birthday_request(MEMBER, date(2026, 11, 23), "day", template_id=template, zone=ZONE, now=NINE)
    occurrence = occurrence_from_request(request, "01JOCC")
    assert occurrence is not None
    return occurrence


def reminder() -> Occurrence:
    data = {"member_id": MEMBER, "points": 300, "expires_at": "2026-11-30T15:59:59Z", "lot_id": "lot-1"}
    occurrence = occurrence_from_request(points_expiring_request(data, zone=ZONE, now=NINE), "01JOCC")
    assert occurrence is not None
    return occurrence


class TestWhatARequestRecords:
    def test_a_birthday(self) -> None:
        occurrence = birthday()
        assert (occurrence.journey, occurrence.member_id, occurrence.started_at) == ("birthday", MEMBER, NINE)
        assert occurrence.send_id == f"jrn#birthday#{MEMBER}#2026"
        assert (occurrence.birthday_on, occurrence.coupon_template_id) == ("2026-11-23", "birthday")
        assert (occurrence.lot_id, occurrence.points, occurrence.expires_at) == (None, None, None)

    def test_a_points_reminder(self) -> None:
        occurrence = reminder()
        assert (occurrence.journey, occurrence.lot_id, occurrence.points) == ("points_expiring", "lot-1", 300)
        assert occurrence.expires_at == datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
        assert (occurrence.birthday_on, occurrence.coupon_template_id) == (None, None)

    def test_a_reminder_without_a_lot_id(self) -> None:
        data = {"member_id": MEMBER, "points": 5, "expires_at": "2026-11-30T15:59:59Z"}
        occurrence = occurrence_from_request(points_expiring_request(data, zone=ZONE, now=NINE), "01JOCC")
        assert occurrence is not None and (occurrence.lot_id, occurrence.points) == (None, 5)

    def test_no_occurrence_for_churn_warning_campaigns_or_notifications(self) -> None:
        win_back = win_back_request(
            MEMBER, "ep-1", template_id=None, not_after=NINE + timedelta(days=7), now=NINE
        )
        note = notification_request(
            NotificationRequested.model_validate({**NotificationRequested.EXAMPLE, "member_id": MEMBER}),
            now=NINE,
        )
        assert occurrence_from_request(win_back, "x") is None
        assert occurrence_from_request(note, "x") is None

    def test_the_three_journeys_are_listed(self) -> None:
        assert {"churn_warning", "birthday", "points_expiring"} == JOURNEYS


class TestHowASendReads:
    @pytest.mark.parametrize(
        ("state", "status", "outcome", "message"),
        [
            (None, "pending", None, "queued"),
            (SendState("pending"), "pending", None, "queued"),
            (SendState("pending", reason="frequency_cap", due_at=NINE), "pending", None, "deferred"),
            (SendState("held", channel="sms"), "pending", None, "held"),
            (SendState("retry", reason="timeout"), "pending", None, "retrying"),
            (SendState("sending", channel="sms"), "pending", None, "sending"),
            (SendState("sent", channel="sms", sent_at=NINE), "completed", "sent", "sent"),
            (
                SendState("suppressed", reason="no_consent", finished_at=NINE),
                "completed",
                "suppressed",
                "suppressed",
            ),
            (SendState("failed", reason="no_address", finished_at=NINE), "failed", "failed", "failed"),
        ],
    )
    def test_status_and_outcome(
        self, state: SendState | None, status: str, outcome: str | None, message: str
    ) -> None:
        view = occurrence_view(reminder(), state)
        assert (view.status, view.outcome, view.message.status) == (status, outcome, message)
        assert view.coupon is None  # points reminders carry no coupon
        assert view.error == (state.reason if state is not None and state.status == "failed" else None)
        assert view.ended_at == (NINE if outcome else None)

    def test_the_deferral_says_why_and_until_when(self) -> None:
        view = occurrence_view(reminder(), SendState("pending", reason="quiet_hours", due_at=NINE))
        assert (view.message.reason, view.message.due_at) == ("quiet_hours", NINE)

    def test_the_coupon_issued_with_the_message(self) -> None:
        view = occurrence_view(birthday(), SendState("sent", sent_at=NINE, coupon_id="cpn-1"))
        assert view.coupon is not None
        assert (view.coupon.issued, view.coupon.coupon_id, view.coupon.reason) == (True, "cpn-1", None)

    def test_why_no_coupon(self) -> None:
        def reason(occurrence: Occurrence, state: SendState | None) -> str | None:
            coupon = occurrence_view(occurrence, state).coupon
            assert coupon is not None and coupon.issued is False
            return coupon.reason

        assert reason(birthday(), SendState("held")) == "message_not_sent_yet"
        assert (
            reason(birthday(), SendState("suppressed", reason="offer_budget_exhausted"))
            == "offer_budget_exhausted"
        )
        assert reason(birthday(), SendState("suppressed", reason="no_consent")) == "no_consent"
        assert reason(birthday(template=None), SendState("sent", sent_at=NINE)) == "no_coupon_template"

    def test_after_erasure_the_copied_outcome_is_shown(self) -> None:
        erased = birthday().model_copy(
            update={
                "member_id": "anon_x",
                "send_id": None,
                "member_erased": True,
                "message_status": "sent",
                "message_channel": "wechat",
                "message_sent_at": NINE,
                "coupon_issued": True,
            }
        )
        view = occurrence_view(erased, None)
        assert (view.status, view.outcome, view.message.channel, view.ended_at) == (
            "completed",
            "sent",
            "wechat",
            NINE,
        )
        assert view.coupon is not None and (view.coupon.issued, view.coupon.coupon_id) == (True, None)

    def test_erased_before_anything_was_recorded(self) -> None:
        erased = birthday().model_copy(update={"member_erased": True, "send_id": None})
        view = occurrence_view(erased, None)
        assert (view.status, view.outcome, view.message.status) == ("completed", None, "unknown")


@dataclass
class FakeIndex:
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def occurrences_newest_first(
        self, journey: str, limit: int, next_token: str | None
    ) -> OccurrencePageResult:
        self.calls.append(("journey", journey))
        return OccurrencePageResult([(reminder(), SendState("sent", sent_at=NINE))], "t")

    def member_occurrences_newest_first(
        self, journey: str, member_id: str, limit: int, next_token: str | None
    ) -> OccurrencePageResult:
        self.calls.append(("member", journey, member_id))
        return OccurrencePageResult([], None)


class TestListing:
    def test_the_journey_or_one_member(self) -> None:
        index = FakeIndex()
        views, token = list_occurrences("points_expiring", index, limit=5, next_token=None)
        assert ([v.outcome for v in views], token) == (["sent"], "t")
        assert list_occurrences("birthday", index, limit=5, next_token=None, member_id=MEMBER) == ([], None)
        assert index.calls == [("journey", "points_expiring"), ("member", "birthday", MEMBER)]

    @pytest.mark.parametrize("journey", ["churn_warning", "anniversary"])
    def test_not_a_message_journey(self, journey: str) -> None:
        with pytest.raises(JourneyNotFound):
            list_occurrences(journey, FakeIndex(), limit=5, next_token=None)
