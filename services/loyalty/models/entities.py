"""Loyalty entities as the logic sees them (the DAL maps them to and from items)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.loyalty.models.api import Channel


class PurchaseLine(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    sku: str
    category: str
    quantity: int
    amount_cents: int


class Purchase(BaseModel):
    """A purchase as an ingested fact. ``fingerprint`` identifies the request content, so a repeat
    with the same external id can be told apart from a conflicting one."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    purchase_id: str
    external_id: str
    source_system: str
    store_id: str
    tenant_id: str | None
    member_id: str | None
    amount_cents: int
    currency: str
    channel: Channel
    items: tuple[PurchaseLine, ...]
    occurred_at: datetime
    recorded_at: datetime
    fingerprint: str
    member_status: Literal["erased"] | None = None
    """``erased``: the member id sent belonged to an erased member; ``member_id`` is the pseudonym."""
    points_earned: int | None = None
    """Points the purchase earned (None: no member, or recorded before points existed)."""
    points_movement_id: str | None = None
    refunded_cents: int = 0
    """Refunded so far (refunds are capped by the purchase amount)."""
