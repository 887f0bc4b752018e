"""Preferences (contract G) as consent decisions. Pure.

A preference switch is the consent behind it — one source of truth, one history, one event
(``MemberConsentChanged``) per switch that changed. Turning "personalised recommendations" off
withdraws ``personalisation``; turning marketing by SMS off withdraws ``marketing``/``sms``.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.members.logic.consents import CHANNELS, ConsentKey, ConsentState, is_granted
from services.members.models.consents import ConsentIn
from services.members.models.preferences import PreferencesUpdate


def preference_decisions(update: PreferencesUpdate) -> list[ConsentIn]:
    """The consent decisions an update stands for (switches left out are not decided)."""
    decisions: list[ConsentIn] = []
    if update.personalised_recommendations is not None:
        decisions.append(
            ConsentIn(
                purpose="personalisation",
                granted=update.personalised_recommendations,
                text_version=update.text_version,
            )
        )
    channels = update.marketing.model_dump(exclude_none=True) if update.marketing else {}
    for channel in CHANNELS:
        if channel in channels:
            decisions.append(
                ConsentIn(
                    purpose="marketing",
                    channel=channel,
                    granted=bool(channels[channel]),
                    text_version=update.text_version,
                )
            )
    return decisions


def preference_switches(current: Mapping[ConsentKey, ConsentState]) -> tuple[bool, dict[str, bool]]:
    """(personalised recommendations on?, marketing on per channel) from the current consents."""
    return (
        is_granted(current, "personalisation", None),
        {channel: is_granted(current, "marketing", channel) for channel in CHANNELS},
    )
