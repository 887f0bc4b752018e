"""Contract B: one message to send, the body of an SQS ``CampaignsDispatchQueue`` message.

Producers: campaign launches and triggers (C2), the journeys, the transactional-notification
consumer (C1). The consumer (``CampaignsDispatchFunction``) applies the guardrails at send time
(consent, frequency cap with priority, quiet hours, per-campaign rate, one send per ``send_id``)
and hands the message to the first channel adapter allowed. See docs/contracts/dispatch.md.

Producers are strict (``extra="forbid"``): build a :class:`SendRequest` and send
``request.model_dump_json()``; the consumer parses tolerantly (:meth:`SendRequest.parse`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.envelope import UtcDateTime

Channel = Literal["sms", "email", "wechat", "inbox"]
CHANNELS: tuple[Channel, ...] = ("sms", "email", "wechat", "inbox")
SendKind = Literal["marketing", "transactional"]

SEND_ID_PATTERN = r"^(cmp|jrn|ntf)#[^\s]{1,200}$"
"""``cmp#<campaign_id>#<member_id>``, ``jrn#<journey>#<episode_id>``, ``ntf#<notification_id>``."""

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

PERSONALISATION_FIELDS = frozenset(
    {
        # the member's own (launches and triggers, from the attribute projection)
        "tier",
        "points_balance",
        # triggers (logic/triggers.py) and journeys (logic/journey_messages.py)
        "new_tier",
        "previous_tier",
        "expiring_points",
        "expires_on",
        "days_left",
        "coupon_valid_until",
        "template_id",
        # offers: filled by dispatch when it issues them
        "coupon_id",
        "points",
    }
)
"""Every ``{field}`` a marketing message may use. A marketing message whose text names one that has
no value is suppressed (``personalisation_missing:<field>``), never sent with ``{field}`` in it. A
test holds campaigns' allowed fields (logic/campaigns.py) to this set."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first use


class ChannelContent(_Strict):
    """One channel's text. ``{field}`` placeholders are filled from ``personalisation`` at send time.
    A marketing message missing a value for one of :data:`PERSONALISATION_FIELDS` is suppressed
    (:func:`missing_personalisation`); any other ``{text}`` is left as written (a transactional
    text is the sender's own)."""

    title: Annotated[str, Field(max_length=200)] | None = None
    body: Annotated[str, Field(min_length=1, max_length=4000)]


class CouponOffer(_Strict):
    type: Literal["coupon"]
    template_id: Annotated[str, Field(min_length=1, max_length=128)]


class PointsOffer(_Strict):
    type: Literal["points"]
    points: Annotated[int, Field(gt=0, le=1_000_000)]


Offer = Annotated[CouponOffer | PointsOffer, Field(discriminator="type")]


class SendRequest(_Strict):
    """One message for one member (contract B)."""

    send_id: Annotated[str, Field(pattern=SEND_ID_PATTERN, max_length=256)] = Field(
        description="Idempotency key: one send per id whatever the retries."
    )
    kind: SendKind = Field(
        description="transactional bypasses caps and quiet hours; still needs the channel consent."
    )
    campaign_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    variant: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    journey: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    member_id: Annotated[str, Field(min_length=1, max_length=128)]
    channels: list[Channel] = Field(min_length=1, max_length=4, description="Preference order.")
    priority: int = Field(default=50, ge=0, le=100, description="Higher wins a capped slot.")
    content: dict[Channel, ChannelContent]
    personalisation: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=500)]] = (
        Field(default_factory=dict)
    )
    offer: Offer | None = Field(
        default=None, description="Issued through loyalty (contract A) only when the message is sent."
    )
    not_after: UtcDateTime | None = Field(
        default=None, description="Defer at most until then; later → suppressed 'expired'."
    )
    requested_at: UtcDateTime
    topic: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="Transactional topic (ticket_reply …) or a marketing label (birthday …)."
    )
    link: Annotated[str, Field(max_length=1000)] | None = None
    rate_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="This campaign's send rate (default: the dispatch setting).",
    )

    @model_validator(mode="after")
    def _content_for_every_channel(self) -> SendRequest:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must not repeat")
        missing = [c for c in self.channels if c not in self.content]
        if missing:
            raise ValueError(f"no content for channel(s) {', '.join(missing)}")
        if self.kind == "marketing" and not self.send_id.startswith(("cmp#", "jrn#")):
            raise ValueError("a marketing send_id starts with cmp# or jrn#")
        if self.kind == "transactional" and not self.send_id.startswith("ntf#"):
            raise ValueError("a transactional send_id starts with ntf#")
        return self

    @classmethod
    def parse(cls, body: str | bytes | dict[str, Any]) -> SendRequest:
        """The consumer side: unknown keys from a newer producer are ignored."""
        if isinstance(body, dict):
            return cls.model_validate(body, extra="ignore")
        return cls.model_validate_json(body, extra="ignore")

    def stats_variant(self) -> str:
        """The variant of the per-campaign counters (``STATS#<variant or ->#<shard>``)."""
        return self.variant or "-"


def offer_fields(offer: CouponOffer | PointsOffer | None) -> frozenset[str]:
    """The fields dispatch fills itself for an offer (when it issues it)."""
    if offer is None:
        return frozenset()
    if offer.type == "coupon":
        return frozenset({"coupon_id", "coupon_valid_until"})
    return frozenset({"points"})


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def missing_personalisation(
    content: ChannelContent, personalisation: dict[str, str], also: frozenset[str] = frozenset()
) -> list[str]:
    """Known fields the content names that neither ``personalisation`` nor ``also`` (fields filled
    later, e.g. an offer's) provides, sorted."""
    named = placeholders(content.body) | (placeholders(content.title) if content.title else set())
    return sorted((named & PERSONALISATION_FIELDS) - set(personalisation) - also)


def render(text: str, personalisation: dict[str, str]) -> str:
    """Fill ``{field}`` placeholders; unknown fields stay as written."""
    return _PLACEHOLDER.sub(lambda m: personalisation.get(m.group(1), m.group(0)), text)
