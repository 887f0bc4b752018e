"""Contract A: the payloads of ``LoyaltyOffersFunction`` (Lambda Invoke, RequestResponse)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from services.loyalty.models.api import KEY_SAFE_PATTERN, MEMBER_ID_PATTERN
from services.loyalty.models.coupons import IssueReason

RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class _Action(BaseModel):
    # Tolerant of extra keys: callers (Step Functions tasks) may pass their whole state.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class IssueCouponAction(_Action):
    action: Literal["issue_coupon"]
    request_id: RequestId
    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    template_id: str = Field(min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)
    campaign_id: str | None = Field(default=None, max_length=128)
    reason: IssueReason


class AwardPointsAction(_Action):
    action: Literal["award_points"]
    request_id: RequestId
    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    points: StrictInt = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=200)
    campaign_id: str | None = Field(default=None, max_length=128)


class DescribeTemplateAction(_Action):
    action: Literal["describe_template"]
    template_id: str = Field(min_length=1, max_length=200)


class ListRewardsAction(_Action):
    action: Literal["list_rewards"]


OfferAction = Annotated[
    IssueCouponAction | AwardPointsAction | DescribeTemplateAction | ListRewardsAction,
    Field(discriminator="action"),
]


class OfferRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    request: OfferAction
