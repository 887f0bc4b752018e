"""Contract A client: loyalty's ``LoyaltyOffersFunction`` invoked synchronously (RequestResponse)."""

from __future__ import annotations

import json
from typing import Any

from services.campaigns.logic.dispatch import OfferResult, offer_payload, offer_reason
from services.campaigns.models.dispatch import SendRequest
from shared import clock
from shared.aws import client


class OfferFunctionError(RuntimeError):
    """The offers function failed (FunctionError): the send is retried with backoff."""


def invoke_json(function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = client("lambda").invoke(
        FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    raw = response["Payload"].read()
    answer = json.loads(raw) if raw else {}
    if response.get("FunctionError"):
        raise OfferFunctionError(str(answer.get("errorType") or response["FunctionError"]))
    if not isinstance(answer, dict):
        raise OfferFunctionError("unexpected answer")
    return answer


class LambdaOffers:
    """:class:`~services.campaigns.logic.dispatch.Offers` through ``LoyaltyOffersFunction``."""

    def __init__(self, function_name: str | None) -> None:
        self.function_name = function_name

    def issue(self, request: SendRequest) -> OfferResult:
        if not self.function_name:
            # No offers function configured: refuse rather than send a message promising a coupon.
            return OfferResult(issued=False, reason="offers_unavailable")
        answer = invoke_json(self.function_name, offer_payload(request, offer_reason(request)))
        error = answer.get("error")
        if isinstance(error, dict):  # loyalty refused the request itself: retrying cannot help
            return OfferResult(issued=False, reason=str(error.get("code") or "invalid_request")[:40])
        if request.offer is not None and request.offer.type == "points":
            return OfferResult(issued=bool(answer.get("awarded")), reason=answer.get("reason"))
        if not answer.get("issued"):
            return OfferResult(issued=False, reason=str(answer.get("reason") or "refused"))
        until = answer.get("valid_until")
        return OfferResult(
            issued=True,
            coupon_id=str(answer["coupon_id"]),
            valid_until=clock.parse_iso(until) if isinstance(until, str) else None,
        )
