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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first use


class ChannelContent(_Strict):
    """One channel's text. ``{field}`` placeholders are filled from ``personalisation`` at send time
    (a field missing from it is left as written, so a typo is visible in the outbox, not hidden)."""

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


def render(text: str, personalisation: dict[str, str]) -> str:
    """Fill ``{field}`` placeholders; unknown fields stay as written."""
    return _PLACEHOLDER.sub(lambda m: personalisation.get(m.group(1), m.group(0)), text)
