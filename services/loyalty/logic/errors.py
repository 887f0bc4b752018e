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
