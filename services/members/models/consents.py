"""Consent request and response bodies (PUT/GET /v1/members/me/consents, and registration's
``consents`` field, which uses :class:`ConsentIn` too).

A consent is identified by its purpose and, for marketing only, its channel. Unknown purposes or
channels, a channel on a purpose that has none, marketing without a channel and the same consent
twice in one request are 422 ``validation_failed`` with ``fields`` — and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

Purpose = Literal[
    "marketing",
    "personalisation",
    "share_with_tenants",
    "share_with_parking_operator",
    "car_plates",
]
Channel = Literal["sms", "email", "wechat", "inbox"]
ConsentSource = Literal["registration", "member", "staff", "complaint"]
"""Who recorded a consent decision; ``complaint``: a withdrawal recorded because the member marked a
marketing message as spam (campaigns' ``MarketingComplaintReceived``, logic/complaints.py)."""

TextVersion = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ConsentIn(BaseModel):
    """One consent decision: ``granted`` for ``purpose`` (and ``channel`` for marketing), given on
    the consent text ``text_version`` the member saw."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    purpose: Purpose
    channel: Channel | None = None
    granted: StrictBool
    text_version: TextVersion

    @model_validator(mode="after")
    def _channel_matches_purpose(self) -> ConsentIn:
        if self.purpose == "marketing" and self.channel is None:
            raise ValueError("marketing consents need a channel (sms, email, wechat or inbox)")
        if self.purpose != "marketing" and self.channel is not None:
            raise ValueError("only marketing consents have a channel")
        return self


def _no_duplicates(consents: list[ConsentIn]) -> list[ConsentIn]:
    seen: set[tuple[str, str | None]] = set()
    for consent in consents:
        key = (consent.purpose, consent.channel)
        if key in seen:
            raise ValueError("the same consent (purpose, channel) appears twice")
        seen.add(key)
    return consents


class ConsentsUpdate(BaseModel):
    """``PUT /v1/members/me/consents``: the decisions to record (1-20; each consent at most once)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    consents: list[ConsentIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique(self) -> ConsentsUpdate:
        _no_duplicates(self.consents)
        return self


class ConsentOut(BaseModel):
    """A consent's current state; never decided = ``granted: false`` with null times (opt-in)."""

    model_config = ConfigDict(defer_build=True)

    purpose: Purpose
    channel: Channel | None
    granted: bool
    text_version: str | None
    changed_at: str | None
    source: ConsentSource | None


class ConsentHistoryOut(BaseModel):
    model_config = ConfigDict(defer_build=True)

    purpose: Purpose
    channel: Channel | None
    granted: bool
    previous_granted: bool | None
    text_version: str
    changed_at: str
    source: ConsentSource


class ConsentsView(BaseModel):
    """Every consent (all purposes and marketing channels) and the history, newest first."""

    model_config = ConfigDict(defer_build=True)

    consents: list[ConsentOut]
    history: list[ConsentHistoryOut]
    next_token: str | None = None


class ConsentsUpdated(BaseModel):
    """The consents after the update; ``changed`` counts the decisions that changed something."""

    model_config = ConfigDict(defer_build=True)

    consents: list[ConsentOut]
    changed: int
