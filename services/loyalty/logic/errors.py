"""Loyalty's domain errors (each maps to HTTP through shared.errors)."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable


class PurchaseConflict(Conflict):
    """The external id was already recorded for this source with different content."""

    CODE = "purchase_conflict"
    MESSAGE = "This external_id was already recorded with different content."


class NonceReused(Unauthorized):
    """The signed request's nonce was seen before: a replayed request."""

    CODE = "signature_nonce_reused"
    MESSAGE = "The request nonce was already used."


class SourceMismatch(Forbidden):
    """The body names a source system other than the one that signed the request."""

    CODE = "source_mismatch"
    MESSAGE = "source_system must be the source that signed the request."


class PurchaseNotFound(NotFound):
    """A refund names a purchase this source never sent (yet)."""

    CODE = "purchase_not_found"
    MESSAGE = "No purchase with this external id was recorded for this source."


class RefundExceedsPurchase(Unprocessable):
    """The refund (with earlier refunds of the purchase) is more than was paid."""

    CODE = "refund_exceeds_purchase"
    MESSAGE = "The refunds of a purchase cannot add up to more than its amount."


class RefundConflict(Conflict):
    """The refund's external id was already recorded with different content."""

    CODE = "refund_conflict"
    MESSAGE = "This refund external_id was already recorded with different content."


class UnknownStore(Unprocessable):
    """The purchase names a store the mall's store directory does not have."""

    CODE = "unknown_store"
    MESSAGE = "No such store in the mall's store directory."


class StoreInactive(Unprocessable):
    """The store is in the directory but was closed (``active: false``)."""

    CODE = "store_inactive"
    MESSAGE = "This store is not active in the mall's store directory."


class StoreTenantMismatch(Unprocessable):
    """The purchase's tenant is not the tenant the directory has for the store."""

    CODE = "store_tenant_mismatch"
    MESSAGE = "tenant_id is not the tenant of this store."


class AmountExceedsItems(Unprocessable):
    """The amount paid is more than the purchase's lines add up to (an unitemised charge)."""

    CODE = "amount_exceeds_items"
    MESSAGE = "amount_cents must not exceed the sum of the items' amount_cents."
