"""Preferences as consent decisions (contract G), pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.members.logic.consents import ConsentKey, ConsentState
from services.members.logic.preferences import preference_decisions, preference_switches
from services.members.models.preferences import PreferencesUpdate

AT = datetime(2026, 11, 23, tzinfo=UTC)


def test_each_switch_given_is_one_decision_on_the_consent_behind_it():
    update = PreferencesUpdate.model_validate(
        {
            "text_version": "v1",
            "personalised_recommendations": False,
            "marketing": {"wechat": True, "sms": False},
        }
    )
    decisions = [(d.purpose, d.channel, d.granted, d.text_version) for d in preference_decisions(update)]
    assert decisions == [
        ("personalisation", None, False, "v1"),
        ("marketing", "sms", False, "v1"),
        ("marketing", "wechat", True, "v1"),
    ]


def test_switches_left_out_are_not_decided():
    update = PreferencesUpdate.model_validate(
        {"text_version": "v1", "marketing": {"inbox": True, "sms": None}}
    )
    assert [(d.purpose, d.channel) for d in preference_decisions(update)] == [("marketing", "inbox")]


@pytest.mark.parametrize(
    "body",
    [
        {"text_version": "v1"},
        {"text_version": "v1", "marketing": {"sms": None}},
        {"text_version": "v1", "marketing": {"pager": True}},
        {"text_version": "v1", "personalised_recommendations": 1},
    ],
)
def test_an_update_without_a_valid_switch_is_refused(body):
    with pytest.raises(ValidationError):
        PreferencesUpdate.model_validate(body)


def test_switches_read_from_consents_undecided_is_off():
    current: dict[ConsentKey, ConsentState] = {
        ("marketing", "email"): ConsentState("marketing", "email", True, "v1", AT, "member"),
        ("personalisation", None): ConsentState("personalisation", None, False, "v1", AT, "member"),
    }
    personalised, marketing = preference_switches(current)
    assert personalised is False
    assert marketing == {"sms": False, "email": True, "wechat": False, "inbox": False}
