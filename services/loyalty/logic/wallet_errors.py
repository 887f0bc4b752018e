"""Errors of loyalty's wallet side (coupons, rewards, receipts, parking, adjustments, WeChat Pay).

Each maps to HTTP through shared.errors; ``code`` is the contract with the console and the
mini-program, messages carry no personal data.
"""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable


class TemplateExists(Conflict):
    CODE = "coupon_template_exists"
    MESSAGE = "A coupon template with this id exists."


class TemplateNotFound(NotFound):
    CODE = "coupon_template_not_found"
    MESSAGE = "No such coupon template."


class TemplateNotIssuable(Conflict):
    CODE = "coupon_template_not_issuable"
    MESSAGE = "The coupon template is paused, retired or past its end."


class CouponBudgetExhausted(Conflict):
    CODE = "coupon_budget_exhausted"
    MESSAGE = "The coupon template's budget or total limit is used up."


class CouponLimitReached(Conflict):
    CODE = "coupon_limit_reached"
    MESSAGE = "The member holds as many coupons of this template as allowed."


class MemberErasedError(Conflict):
    CODE = "member_erased"
    MESSAGE = "The member was erased."


class CouponNotFound(NotFound):
    CODE = "coupon_not_found"
    MESSAGE = "No coupon has this code."


class CouponNotYours(Forbidden):
    CODE = "coupon_not_yours"
    MESSAGE = "The coupon belongs to another member."


class CouponAlreadyRedeemed(Conflict):
    CODE = "coupon_already_redeemed"
    MESSAGE = "The coupon was already redeemed."


class CouponExpired(Conflict):
    CODE = "coupon_expired"
    MESSAGE = "The coupon has expired."


class CouponNotYetValid(Conflict):
    CODE = "coupon_not_yet_valid"
    MESSAGE = "The coupon is not valid yet."


class CouponNotUsable(Conflict):
    CODE = "coupon_not_usable"
    MESSAGE = "The coupon cannot be used."


class CouponNotValidHere(Unprocessable):
    CODE = "coupon_not_valid_here"
    MESSAGE = "The coupon is not valid in this store."


class MinimumSpendNotMet(Unprocessable):
    CODE = "coupon_minimum_spend_not_met"
    MESSAGE = "The purchase does not reach the coupon's minimum spend."


class RewardExists(Conflict):
    CODE = "reward_exists"
    MESSAGE = "A reward with this id exists."


class RewardNotFound(NotFound):
    CODE = "reward_not_found"
    MESSAGE = "No such reward."


class RewardUnavailable(Conflict):
    CODE = "reward_unavailable"
    MESSAGE = "The reward is not available now."


class RewardOutOfStock(Conflict):
    CODE = "reward_out_of_stock"
    MESSAGE = "The reward is out of stock."


class RewardLimitReached(Conflict):
    CODE = "reward_limit_reached"
    MESSAGE = "You have redeemed this reward as often as allowed."


class RewardCouponUsed(Conflict):
    CODE = "reward_coupon_used"
    MESSAGE = "The coupon this redemption issued was used: the redemption cannot be reversed."


class InsufficientPoints(Conflict):
    CODE = "insufficient_points"
    MESSAGE = "The points balance is too low."


class RequestReplayConflict(Conflict):
    CODE = "request_id_reused"
    MESSAGE = "This request id was used for a different request."


class AdjustmentNotFound(NotFound):
    CODE = "adjustment_not_found"
    MESSAGE = "No such points adjustment."


class AdjustmentNotPending(Conflict):
    CODE = "adjustment_not_pending"
    MESSAGE = "The adjustment was already approved or rejected."


class SelfApproval(Forbidden):
    CODE = "second_approver_required"
    MESSAGE = "An adjustment must be approved by someone other than its requester."


class ReceiptDuplicate(Conflict):
    CODE = "receipt_duplicate"
    MESSAGE = "This receipt was already submitted."


class ReceiptNotFound(NotFound):
    CODE = "receipt_not_found"
    MESSAGE = "No such receipt claim."


class ReceiptNotPending(Conflict):
    CODE = "receipt_not_pending"
    MESSAGE = "The receipt claim was already decided."


class ParkingSessionNotFound(NotFound):
    CODE = "parking_session_not_found"
    MESSAGE = "No open parking session for this car."


class ParkingConflict(Conflict):
    CODE = "parking_session_conflict"
    MESSAGE = "This parking session was recorded with different content."


class WeChatPaySignatureInvalid(Unauthorized):
    CODE = "wechatpay_signature_invalid"
    MESSAGE = "The WeChat Pay notification signature is not valid."


class MovementNotFound(NotFound):
    CODE = "movement_not_found"
    MESSAGE = "The member has no points movement with this id."


class MovementIsReversal(Conflict):
    CODE = "movement_is_reversal"
    MESSAGE = "A reversal cannot be reversed; request an adjustment instead."


class MovementNotReversible(Unprocessable):
    CODE = "movement_not_reversible"
    MESSAGE = "Staff cannot reverse this kind of movement."
