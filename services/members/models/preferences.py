"""``PUT/GET /v1/members/me/preferences`` bodies (contract G).

Preferences are not a second store: each switch *is* a consent (``personalised_recommendations``
= the ``personalisation`` consent, ``marketing.<channel>`` = the ``marketing`` consent of that
channel), recorded with history and ``MemberConsentChanged`` exactly like
``PUT /v1/members/me/consents`` — so campaigns' consent projection enforces them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from services.members.models.consents import ConsentOut, TextVersion


class MarketingChannels(BaseModel):
    """Marketing per channel; a channel left out is not changed."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    sms: StrictBool | None = None
    email: StrictBool | None = None
    wechat: StrictBool | None = None
    inbox: StrictBool | None = None


class PreferencesUpdate(BaseModel):
    """What to switch on or off, and the version of the preference/consent text the member saw.
    At least one switch; a switch left out (or null) is not changed."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    text_version: TextVersion
    personalised_recommendations: StrictBool | None = None
    marketing: MarketingChannels | None = None

    @model_validator(mode="after")
    def _something(self) -> PreferencesUpdate:
        channels = self.marketing.model_dump(exclude_none=True) if self.marketing else {}
        if self.personalised_recommendations is None and not channels:
            raise ValueError("give personalised_recommendations or at least one marketing channel")
        return self


class PreferencesView(BaseModel):
    """The member's switches as they stand (never decided = off: PIPL opt-in), the consents behind
    them, and how many changed in this call (0 on a read or an unchanged update)."""

    model_config = ConfigDict(defer_build=True)

    personalised_recommendations: bool
    marketing: dict[str, bool] = Field(description="sms, email, wechat, inbox → on/off")
    consents: list[ConsentOut]
    changed: int = 0
