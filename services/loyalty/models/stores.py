"""The mall's store directory as operators manage it (``/v1/admin/stores``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.loyalty.models.api import KEY_SAFE_PATTERN

STORE_ID_PATTERN = KEY_SAFE_PATTERN
"""Store ids are what POS, WeChat Pay shop numbers and receipts send (``PurchaseRequest.store_id``)."""


class StoreIn(BaseModel):
    """``PUT /v1/admin/stores/{store_id}``: a store of the mall and the tenant that runs it.

    Stores are never deleted: a store that closed is set ``active: false`` (its purchases are then
    refused; refunds of its earlier purchases still go through), so the directory never empties
    by accident (an empty directory is not enforced; see services/loyalty/README.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    floor: str | None = Field(default=None, min_length=1, max_length=16)
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    active: bool = True


class Store(StoreIn):
    store_id: str
    version: int = 1
    updated_at: datetime | None = None
    updated_by: str | None = None
