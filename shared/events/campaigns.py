"""The events campaigns publishes (re-exported by :mod:`shared.events.contracts`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.events.base import CAMPAIGNS, EventData, Id, Level, MessageChannel
from shared.events.envelope import UtcDateTime

__all__ = [
    "CampaignLaunched",
    "ChurnRiskEscalated",
    "MarketingComplaintReceived",
    "MessageClicked",
    "MessageDelivered",
    "MessageSent",
    "MessageSuppressed",
]


class ChurnRiskEscalated(EventData):
    """The churn-warning journey gave up on automatic win-back: a high-value member needs a call."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "journey_execution_id": "churn-warning-01HX9ZK3M5N7P9Q1R3S5T7V9WX-20240502",
        "value_level": "high",
        "recency_days": 89,
        "win_back_coupon_id": "01HY0000000000000000000001",
        "escalated_at": "2024-05-16T18:00:00.000000Z",
    }

    member_id: Id
    journey_execution_id: Id
    value_level: Level
    recency_days: int | None = Field(ge=0)
    win_back_coupon_id: Id | None
    escalated_at: UtcDateTime


SendKind = Literal["marketing", "transactional"]


class MessageSent(EventData):
    """Campaigns handed a message to a channel provider (or wrote it to the member's inbox)."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "send_id": "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "kind": "marketing",
        "campaign_id": "01HZ5555555555555555555555",
        "variant": "A",
        "journey": None,
        "channel": "sms",
        "provider_message_id": "sms-1234",
        "coupon_id": "01HY0000000000000000000001",
        "attempts": 1,
        "sent_at": "2024-05-20T02:01:00.000000Z",
    }

    send_id: Id = Field(description="cmp#<campaign>#<member> | jrn#<journey>#<episode> | ntf#<notification>")
    member_id: Id
    kind: SendKind
    campaign_id: Id | None
    variant: Id | None
    journey: Id | None
    channel: MessageChannel
    provider_message_id: Annotated[str, Field(max_length=256)] | None
    coupon_id: Id | None = Field(default=None, description="The offer's coupon, issued with the message.")
    attempts: int = Field(ge=1)
    sent_at: UtcDateTime


class MessageSuppressed(EventData):
    """A message was not sent now: deferred (re-checked at ``deferred_until``), suppressed for
    good, or failed at the provider after its retries, always with the reason."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "send_id": "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "kind": "marketing",
        "campaign_id": "01HZ5555555555555555555555",
        "variant": "A",
        "journey": None,
        "channel": "sms",
        "outcome": "deferred",
        "reason": "frequency_cap_day",
        "deferred_until": "2024-05-21T01:00:00.000000Z",
        "decided_at": "2024-05-20T02:01:00.000000Z",
    }

    send_id: Id
    member_id: Id
    kind: SendKind
    campaign_id: Id | None
    variant: Id | None
    journey: Id | None
    channel: MessageChannel | None
    outcome: Literal["deferred", "suppressed", "failed"]
    reason: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="no_consent | personalisation_withdrawn | personalisation_missing:<field> (the text "
        "names a field the member has no value for) | frequency_cap_day | frequency_cap_week | "
        "bumped | quiet_hours | rate_limit | consent_pending | expired | member_erased | offer_<reason> | "
        "outcome_unknown | no_address:<channels tried, comma-separated> (deferred to the next consented "
        "channel, or failed when none is left) | a channel adapter's own reason when the provider refused "
        "for good or retries ran out: sns_<code>, ses_<code>, wechat_<errcode>, wechat_http_<status>, "
        "wechat_outcome_unknown (the request may have reached WeChat: never sent again), "
        "contact_directory_<failure>"
    )
    deferred_until: UtcDateTime | None
    decided_at: UtcDateTime


class MessageDelivered(EventData):
    """The channel confirmed delivery (a provider receipt; the inbox when written)."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "send_id": "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "campaign_id": "01HZ5555555555555555555555",
        "variant": "A",
        "channel": "inbox",
        "delivered_at": "2024-05-20T02:01:00.000000Z",
    }

    send_id: Id
    member_id: Id
    campaign_id: Id | None
    variant: Id | None
    channel: MessageChannel
    delivered_at: UtcDateTime


class MessageClicked(EventData):
    """The member opened the message's link (counted once per message)."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "send_id": "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "campaign_id": "01HZ5555555555555555555555",
        "variant": "A",
        "channel": "inbox",
        "clicked_at": "2024-05-20T03:00:00.000000Z",
    }

    send_id: Id
    member_id: Id
    campaign_id: Id | None
    variant: Id | None
    channel: MessageChannel
    clicked_at: UtcDateTime


class MarketingComplaintReceived(EventData):
    """A member complained about a message campaigns sent them (an e-mail marked as spam: SES's
    complaint event). Members, which owns consent, records it as a withdrawal of the member's
    ``marketing`` consent on ``channel`` at ``complained_at`` — unless the member decided later —
    and publishes ``MemberConsentChanged``. Published once per message (the receipt's own
    idempotency), through campaigns' outbox in the transaction that records the complaint."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "channel": "email",
        "send_id": "cmp#01HZ5555555555555555555555#01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "campaign_id": "01HZ5555555555555555555555",
        "complained_at": "2024-05-20T04:00:00.000000Z",
    }

    member_id: Id
    channel: MessageChannel = Field(description="The channel the complaint came through (email).")
    send_id: Id = Field(description="The message complained about (cmp#… | jrn#… | ntf#…).")
    campaign_id: Id | None = Field(description="Null for a journey's or a notification's message.")
    complained_at: UtcDateTime = Field(description="When the provider received the complaint.")


class CampaignLaunched(EventData):
    """A one-off or scheduled campaign resolved its audience and queued its messages (or a triggered
    campaign became active: ``audience`` 0, members then join one event at a time)."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "campaign_id": "01J3CAMPA1GN0000000000000A",
        "kind": "one_off",
        "segment_id": "01J3SEGMENT000000000000000",
        "audience": 1200,
        "queued": 1032,
        "control": 60,
        "holdout": 108,
        "variants": ["A", "B"],
        "snapshot_id": "20261123T010000Z",
        "launched_at": "2026-11-23T02:00:00.000000Z",
    }

    campaign_id: Id
    kind: Literal["one_off", "scheduled", "triggered"]
    segment_id: Id | None
    audience: int = Field(ge=0, description="Members eligible (segment, not erased, a channel consented).")
    queued: int = Field(ge=0, description="SendRequests queued to dispatch (audience less the controls).")
    control: int = Field(ge=0, description="Members of the global control group in the audience.")
    holdout: int = Field(ge=0, description="Members held out by this campaign.")
    variants: list[Id] = Field(description="Variant names; empty for a campaign without A/B test.")
    snapshot_id: Id | None = Field(description="The audience snapshot the segment was evaluated on.")
    launched_at: UtcDateTime
