# ruff: noqa: RUF001 - the Chinese texts use full-width punctuation on purpose
"""The journeys' and notifications' messages as contract-B SendRequests (pure).

* **birthday** (``MemberBirthdayToday``, contract F) → ``jrn#birthday#<member>#<year>``: once per
  member per year whatever the redeliveries (the send id is the dispatch's idempotency key), the
  birthday coupon issued by dispatch through loyalty (contract A, reason ``birthday``) only when
  the message actually goes out, valid until the end of the birthday (day mode) or the month.
* **points expiring** (``PointsExpiring``) → ``jrn#points_expiring#<member>#<lot>``: once per lot
  (``lot_id`` when loyalty sends it, else the lot's expiry instant), not after the expiry.
* **churn warning** win-back → ``jrn#churn_warning#<episode_id>``, with the win-back coupon.
* **notifications** (``NotificationRequested``, contract C) → ``ntf#<notification_id>``,
  transactional: no caps, no quiet hours, channel consent (the inbox always).

Texts are the mall's (Simplified Chinese); ``{field}`` placeholders are filled at send time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from services.campaigns.models.dispatch import SendRequest
from shared import clock

MARKETING_CHANNELS = ["wechat", "sms", "inbox"]
NOTIFICATION_CHANNELS = ["wechat", "inbox"]
_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")

BIRTHDAY_PRIORITY = 90
WIN_BACK_PRIORITY = 70
POINTS_EXPIRING_PRIORITY = 60


def _same_text(title: str, body: str, channels: list[str]) -> dict[str, Any]:
    return {c: {"title": None if c == "sms" else title, "body": body} for c in channels}


def birthday_request(
    member_id: str,
    birthday_on: date,
    mode: str,
    *,
    template_id: str | None,
    zone: tzinfo,
    now: datetime,
) -> SendRequest:
    if mode == "month":
        next_month = (birthday_on.replace(day=1) + timedelta(days=32)).replace(day=1)
        last_local_day = next_month - timedelta(days=1)
    else:
        last_local_day = birthday_on
    not_after = datetime.combine(last_local_day, time(23, 59, 59), tzinfo=zone).astimezone(now.tzinfo)
    if template_id:
        body = "生日快乐！我们为您准备了一张生日礼券，有效期至{coupon_valid_until}，欢迎到店使用。"
    else:
        body = "生日快乐！感谢您一直以来的陪伴，祝您生日愉快。"
    return SendRequest.model_validate(
        {
            "send_id": f"jrn#birthday#{member_id}#{birthday_on.year}",
            "kind": "marketing",
            "journey": "birthday",
            "member_id": member_id,
            "channels": MARKETING_CHANNELS,
            "priority": BIRTHDAY_PRIORITY,
            "content": _same_text("生日快乐", body, MARKETING_CHANNELS),
            # not in the text: the journey's occurrence records it (logic/journeys.py)
            "personalisation": {"birthday_on": birthday_on.isoformat()},
            "offer": {"type": "coupon", "template_id": template_id} if template_id else None,
            "not_after": not_after,
            "requested_at": now,
            "topic": "birthday",
            "link": "/pages/coupons/index" if template_id else None,
        }
    )


def points_expiring_request(data: dict[str, Any], *, zone: tzinfo, now: datetime) -> SendRequest:
    """From ``PointsExpiring``'s data (read raw: ``lot_id`` is newer than the contract model)."""
    expires_at = clock.parse_iso(str(data["expires_at"]))
    lot = str(data.get("lot_id") or clock.to_utc_iso(expires_at))
    expires_on = expires_at.astimezone(zone).date().isoformat()
    body = "您有{points}积分将于{expires_on}到期，请尽快使用。"
    personalisation = {"points": str(int(data["points"])), "expires_on": expires_on}
    if data.get("lot_id"):
        personalisation["lot_id"] = str(data["lot_id"])[:500]  # for the occurrence (logic/journeys.py)
    return SendRequest.model_validate(
        {
            "send_id": f"jrn#points_expiring#{data['member_id']}#{_SAFE.sub('_', lot)}",
            "kind": "marketing",
            "journey": "points_expiring",
            "member_id": data["member_id"],
            "channels": MARKETING_CHANNELS,
            "priority": POINTS_EXPIRING_PRIORITY,
            "content": _same_text("积分即将到期", body, MARKETING_CHANNELS),
            "personalisation": personalisation,
            "not_after": expires_at,
            "requested_at": now,
            "topic": "points_expiring",
            "link": "/pages/points/index",
        }
    )


def win_back_request(
    member_id: str, episode_id: str, *, template_id: str | None, not_after: datetime, now: datetime
) -> SendRequest:
    if template_id:
        body = "好久不见！送您一张回归礼券，有效期至{coupon_valid_until}，期待您再次光临。"
    else:
        body = "好久不见！商场上新了许多好物，期待您再次光临。"
    return SendRequest.model_validate(
        {
            "send_id": f"jrn#churn_warning#{episode_id}",
            "kind": "marketing",
            "journey": "churn_warning",
            "member_id": member_id,
            "channels": MARKETING_CHANNELS,
            "priority": WIN_BACK_PRIORITY,
            "content": _same_text("我们想念您", body, MARKETING_CHANNELS),
            "offer": {"type": "coupon", "template_id": template_id} if template_id else None,
            "not_after": not_after,
            "requested_at": now,
            "topic": "win_back",
        }
    )


def notification_request(data: Any, *, now: datetime) -> SendRequest:
    """``NotificationRequested`` (contract C) → a transactional request."""
    return SendRequest.model_validate(
        {
            "send_id": f"ntf#{data.notification_id}",
            "kind": "transactional",
            "member_id": data.member_id,
            "channels": NOTIFICATION_CHANNELS,
            "priority": 100,
            "content": _same_text(data.title, data.body, NOTIFICATION_CHANNELS),
            "requested_at": data.requested_at or now,
            "topic": data.topic,
            "link": data.link,
        }
    )
