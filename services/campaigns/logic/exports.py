"""Campaigns' part of a member's data export (PIPL Art. 45; docs/contracts/export.md's contract):
what campaigns holds about the member, in clear to its owner — the consent projection, the
attribute row segments are evaluated on, the inbox, every send with its outcome, the journey
episodes and the campaign assignments (arm: a variant, the holdout or the control group).

Left out on purpose: internal keys and references (``SENDREF#``, ``OUTBOXREF#``, cap counters and
the due index are bookkeeping about the sends already listed; the outbox items kept in the member's
partition are copies of events about those sends), other members' data (assignment
buckets hold many members: only this member's arm is given), and execution ARNs. A send still
pending keeps its message (texts and personalisation values) until it is terminal; that is the
member's data too, so it is given while it exists.
Pure: the handler reads (dal/exports.py) and writes; this module only shapes the document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import clock

__all__ = ["FORMAT", "SERVICE", "CampaignsHoldings", "export_part", "send_entry"]

FORMAT = "mallcrm.member-export-part.v1"
SERVICE = "campaigns"

# Send-record attributes that describe the send to its recipient (the rest is dispatch's state).
_SEND_FIELDS = (
    "send_id",
    "kind",
    "campaign_id",
    "variant",
    "journey",
    "status",
    "reason",
    "channel",
    "attempts",
    "created_at",
    "due_at",
    "sent_at",
    "finished_at",
    "coupon_id",
    # what the provider reported afterwards (e-mail receipts, logic/receipts.py)
    "delivered_at",
    "clicked_at",
    "bounced_at",
    "bounce_reason",
    "complained_at",
    "complaint_reason",
)
_PENDING_REQUEST_FIELDS = ("channels", "content", "personalisation", "offer", "not_after", "link", "topic")
_CONSENT_FIELDS = ("purpose", "channel", "granted", "changed_at", "text_version")
_ATTRIBUTE_FIELDS = (
    "registered_at",
    "rfm_segment",
    "lifecycle_stage",
    "churn_risk",
    "value_level",
    "tags",
    "tier",
    "tier_name",
    "points_balance",
    "last_purchase_at",
    "categories",
    "stores",
)
_INBOX_FIELDS = (
    "message_id",
    "kind",
    "topic",
    "campaign_id",
    "title",
    "body",
    "link",
    "sent_at",
    "read_at",
    "clicked_at",
)
_EPISODE_FIELDS = (
    "episode_id",
    "journey",
    "status",
    "outcome",
    "started_at",
    "ended_at",
    "trigger_churn_risk",
    "trigger_value_level",
    "last_purchase_at",
    # birthday / points-expiring occurrences: what they were about; the outcome is the send's
    # (``sends``, same ``send_id``)
    "send_id",
    "birthday_on",
    "lot_id",
    "points",
    "expires_at",
    "coupon_template_id",
)


@dataclass(frozen=True)
class Assignment:
    campaign_id: str
    arm: str
    assigned_at: datetime
    attribution_until: datetime


@dataclass
class CampaignsHoldings:
    """Everything campaigns holds about one member, as read for the export (plain item dicts)."""

    consents: Sequence[Mapping[str, Any]] = ()
    attributes: Mapping[str, Any] | None = None
    last_purchase: Mapping[str, Any] | None = None
    last_contact: Mapping[str, Any] | None = None
    inbox: Sequence[Mapping[str, Any]] = ()
    sends: Sequence[Mapping[str, Any]] = ()
    episodes: Sequence[Mapping[str, Any]] = ()
    assignments: Sequence[Assignment] = field(default_factory=tuple)

    def empty(self) -> bool:
        return (
            not any((self.consents, self.inbox, self.sends, self.episodes, self.assignments))
            and self.attributes is None
            and self.last_purchase is None
            and self.last_contact is None
        )


def _plain(value: Any) -> Any:
    """DynamoDB's sets and decimals as JSON (sorted sets: a stable document)."""
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "as_integer_ratio") and not isinstance(value, bool | int | float):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def _pick(item: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: _plain(item[name]) for name in names if item.get(name) is not None}


def send_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """One send as the member sees it; a pending one with the message it is waiting to deliver."""
    entry = _pick(record, _SEND_FIELDS)
    raw = record.get("request")
    if isinstance(raw, str) and raw:
        import json  # noqa: PLC0415 - only pending sends carry a body

        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            entry["pending_message"] = _pick(body, _PENDING_REQUEST_FIELDS)
    return entry


def _iso(value: datetime) -> str:
    return clock.to_utc_iso(value)


def export_part(
    *, export_id: str, member_id: str, holdings: CampaignsHoldings | None, now: datetime
) -> dict[str, Any]:
    """The part document. ``holdings`` None (an erased member) or empty (never seen by campaigns)
    gives ``"data": null`` with a note, so the member sees the part is complete."""
    head = {
        "format": FORMAT,
        "service": SERVICE,
        "export_id": export_id,
        "member_id": member_id,
        "generated_at": clock.to_utc_iso(now),
    }
    if holdings is None or holdings.empty():
        return {**head, "data": None, "note": "no data"}
    return {
        **head,
        "data": {
            "consents": [_pick(c, _CONSENT_FIELDS) for c in holdings.consents],
            "attributes": _pick(holdings.attributes, _ATTRIBUTE_FIELDS) if holdings.attributes else None,
            "last_purchase_at": (holdings.last_purchase or {}).get("last_purchase_at"),
            "last_marketing_contact": _pick(holdings.last_contact, ("contacted_at", "channel", "send_id"))
            if holdings.last_contact
            else None,
            "inbox": [_pick(m, _INBOX_FIELDS) for m in holdings.inbox],
            "sends": [send_entry(s) for s in holdings.sends],
            "journey_episodes": [_pick(e, _EPISODE_FIELDS) for e in holdings.episodes],
            "campaign_assignments": [
                {
                    "campaign_id": a.campaign_id,
                    "arm": a.arm,
                    "assigned_at": _iso(a.assigned_at),
                    "attribution_until": _iso(a.attribution_until),
                }
                for a in holdings.assignments
            ],
        },
    }
