"""Request and response bodies of the loyalty HTTP API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

Channel = Literal["pos", "online", "mini_program"]

# ULID, as members mints them (shared.ids).
MEMBER_ID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
# Same alphabet as the signing source names (shared.auth), so the two can be compared.
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# Identifiers that end up inside DynamoDB keys: no "#" (the key separator), no whitespace.
KEY_SAFE_PATTERN = r"^[A-Za-z0-9_.:/-]+$"

Cents = Annotated[StrictInt, Field(ge=0, le=10_000_000_000)]


class PurchaseItemIn(BaseModel):
    """One line of a purchase."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    sku: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(gt=0, le=100_000)
    amount_cents: Cents


class PurchaseRequest(BaseModel):
    """``POST /v1/integrations/purchases``: a purchase as the integrating system saw it.

    Money is integer cents (fen). ``occurred_at`` must carry a time zone. Exactly-once per
    ``(source_system, external_id)``.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    external_id: str = Field(min_length=1, max_length=128, pattern=KEY_SAFE_PATTERN)
    source_system: str = Field(pattern=SOURCE_PATTERN)
    store_id: str = Field(min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)
    tenant_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)
    member_id: str | None = Field(default=None, pattern=MEMBER_ID_PATTERN)
    amount_cents: StrictInt = Field(gt=0, le=10_000_000_000)
    currency: Literal["CNY"]
    channel: Channel
    items: list[PurchaseItemIn] = Field(min_length=1, max_length=500)
    occurred_at: AwareDatetime


class PurchaseItemOut(BaseModel):
    model_config = ConfigDict(defer_build=True)

    sku: str
    category: str
    quantity: int
    amount_cents: int


class PurchaseResponse(BaseModel):
    """A recorded purchase; ``replayed`` is true when this request repeated an earlier one."""

    model_config = ConfigDict(defer_build=True)

    purchase_id: str
    external_id: str
    source_system: str
    store_id: str
    tenant_id: str | None
    member_id: str | None
    amount_cents: int
    currency: str
    channel: Channel
    items: list[PurchaseItemOut]
    occurred_at: str
    recorded_at: str
    replayed: bool
    member_status: Literal["erased"] | None = Field(
        default=None,
        description="erased: the member id sent belongs to an erased member; member_id is loyalty's "
        "pseudonym of it and the purchase is linked to no one.",
    )
    points_earned: int | None = Field(
        default=None, description="Points the purchase earned (null: no member, or erased)."
    )
    points_status: Literal["pending", "available"] | None = Field(
        default=None,
        description="pending: within the tenant's return window (released later); "
        "only on the first recording.",
    )
