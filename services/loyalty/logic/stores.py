"""The mall's store directory on the ingestion paths, and the amount/items rule (pure).

* **Store directory** — operators load the mall's stores (``/v1/admin/stores``); the purchase
  path reads them from the configuration cached per container (no read per request). A purchase
  at a store the directory lacks is ``unknown_store``, at a closed one ``store_inactive``, with a
  tenant other than the store's ``store_tenant_mismatch`` (all 422, nothing written); a purchase
  without ``tenant_id`` is recorded under the store's tenant. The directory is **enforced once
  it holds a store**: a fresh install (empty directory) records every store as sent, so a mall
  can connect its POS before its stores are loaded; stores are never deleted (only deactivated),
  so enforcement cannot be switched off by accident.
* **A store added a moment ago** — another container's cache may be up to
  ``LOYALTY_CONFIG_CACHE_SECONDS`` old: before refusing, the caller may re-read the directory
  once (``StoreCheck.reload``, rate-limited by the data layer), so the refusal path, not the
  purchase path, pays for freshness.
* **Amount and items** — the lines may add up to more than was paid (a discount or coupon on the
  whole receipt, rounding down at the till: the earning rules scale the lines to the amount
  paid), never to less: every cent paid must be on a line (``amount_exceeds_items``), or spend
  (tiers on spend, members' statistics, refund limits) would count money nothing accounts for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.loyalty.logic.errors import AmountExceedsItems, StoreInactive, StoreTenantMismatch, UnknownStore
from services.loyalty.models.stores import Store

REFUSALS = (UnknownStore, StoreInactive, StoreTenantMismatch, AmountExceedsItems)
"""The refusals of this module (422 each), for the routes' logs and metrics."""


@dataclass(frozen=True)
class StoreDirectory:
    """The mall's stores by id (from the cached configuration)."""

    stores: Mapping[str, Store]

    @classmethod
    def of(cls, stores: Iterable[Store]) -> StoreDirectory:
        return cls({s.store_id: s for s in stores})

    @property
    def enforced(self) -> bool:
        """An empty directory (a fresh install) checks nothing."""
        return bool(self.stores)

    def get(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def is_known_active(self, store_id: str) -> bool:
        store = self.stores.get(store_id)
        return store is not None and store.active


@dataclass(frozen=True)
class StoreCheck:
    """The directory a request is checked against, and how to re-read it once before refusing an
    unknown store (None: no re-read)."""

    directory: StoreDirectory
    reload: Callable[[], StoreDirectory] | None = None

    def resolve(self, store_id: str) -> tuple[StoreDirectory, Store | None]:
        """The directory to decide with, and the store (None: not in it)."""
        store = self.directory.get(store_id)
        if store is None and self.directory.enforced and self.reload is not None:
            fresh = self.reload()
            return fresh, fresh.get(store_id)
        return self.directory, store


def check_store(check: StoreCheck, store_id: str, tenant_id: str | None) -> Store | None:
    """The directory's store for a purchase at ``store_id`` (None when the directory is empty:
    not enforced). Raises :class:`UnknownStore`, :class:`StoreInactive`,
    :class:`StoreTenantMismatch` (422)."""
    directory, store = check.resolve(store_id)
    if not directory.enforced:
        return None
    if store is None:
        raise UnknownStore(
            fields=[{"field": "store_id", "message": f"{store_id} is not a store of this mall."}]
        )
    if not store.active:
        raise StoreInactive(fields=[{"field": "store_id", "message": f"{store_id} is closed."}])
    if tenant_id is not None and tenant_id != store.tenant_id:
        raise StoreTenantMismatch(
            fields=[{"field": "tenant_id", "message": f"{store_id} is run by {store.tenant_id}."}]
        )
    return store


def check_amount_against_items(amount_cents: int, item_cents: Sequence[int]) -> None:
    """Every cent paid must be on a line: ``amount_cents <= sum(items)`` (422
    :class:`AmountExceedsItems`); more on the lines than paid is a discount, allowed."""
    total = sum(item_cents)
    if amount_cents > total:
        raise AmountExceedsItems(
            fields=[
                {
                    "field": "amount_cents",
                    "message": f"The items add up to {total} cents, less than the {amount_cents} "
                    "cents paid; put every charge on a line.",
                }
            ]
        )
