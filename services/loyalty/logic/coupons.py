"""Coupons: templates, issuing (budgets, limits, idempotency), the wallet, redemption, expiry.

Pure: the repository (``dal/coupons.py``) does the writes, each a single DynamoDB transaction.

**Issuing** writes, in one transaction: the coupon in the member's wallet, its code pointer, its
entry in the expiry index, the member's per-template counter (when the template has a per-member
limit), one **budget shard** (when it has a budget or a total limit), the idempotency record of the
request, a check that the member is not erased, and ``CouponIssued`` (outbox). So a coupon exists
with its code, its counted budget and its event, or not at all.

**Budget shards**: a template's remaining budget and count are split over ``budget_shards``
counters, each its own partition key. An issue picks shards in a random order and decrements the
first that still holds enough (a conditional update); a festival's thousands of issues per second
spread over the shards instead of queueing on one item (a single item takes ~1,000 writes/s and
serialises conflicting transactions). Near exhaustion an issue may try several shards; only when
every shard refuses is the budget exhausted. The budget is split in whole coupons (face value), so
the shards together issue exactly ``budget // face value`` coupons: never more, never fewer.

**Codes**: 16 characters of Crockford base32 from 80 random bits (``secrets``): unguessable
(2^80), case-insensitive, without I/L/O/U, so a code read aloud or typed at the till survives.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import Enum
from typing import Any, Literal, Protocol

from services.loyalty.logic.coupon_index import EXPIRY_INDEX_SHARDS
from services.loyalty.logic.stores import StoreCheck, check_store
from services.loyalty.logic.wallet_errors import (
    CouponAlreadyRedeemed,
    CouponExpired,
    CouponNotFound,
    CouponNotUsable,
    CouponNotValidHere,
    CouponNotYetValid,
    CouponNotYours,
    MinimumSpendNotMet,
    TemplateExists,
    TemplateNotFound,
)
from services.loyalty.models.coupons import (
    Coupon,
    CouponTemplate,
    CouponTemplateIn,
    CouponTemplatePatch,
    IssueReason,
    RedeemRequest,
)
from shared import clock
from shared.events.contracts import CouponExpiring, CouponIssued, EventData

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
DEFAULT_BUDGET_SHARDS = 16


# --- pure helpers ------------------------------------------------------------------------------


def new_code() -> str:
    value = int.from_bytes(secrets.token_bytes(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """What the till typed → the stored form: upper case, no dashes, Crockford's look-alikes."""
    text = re.sub(r"[\s-]", "", raw).upper()
    return text.translate(str.maketrans("ILO", "110"))


def end_of_local_day(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(clock.zone("UTC"))


def validity(template: CouponTemplate, now: datetime, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """The window of a coupon issued ``now``; None when the template cannot issue any more."""
    start = max(now, template.valid_from) if template.valid_from else now
    ends: list[datetime] = []
    if template.valid_until is not None:
        ends.append(template.valid_until)
    if template.valid_days is not None:
        last_day = start.astimezone(tz).date() + timedelta(days=template.valid_days - 1)
        ends.append(end_of_local_day(last_day, tz))
    end = min(ends)
    if end <= start:
        return None
    return start, end


def shard_allotments(total: int | None, shards: int) -> list[int | None]:
    """``total`` split over ``shards`` as evenly as integers allow (None: not limited)."""
    if total is None:
        return [None] * shards
    base, extra = divmod(total, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def budget_allotments(budget: int | None, unit: int, shards: int) -> list[int | None]:
    """A budget in cents split in whole coupons (``unit`` = one coupon's face value), so every cent
    that can pay a coupon sits in a shard that can spend it; the odd remainder goes to shard 0."""
    if budget is None:
        return [None] * shards
    if unit <= 0:
        return list(shard_allotments(budget, shards))
    units, remainder = divmod(budget, unit)
    out: list[int | None] = [(n or 0) * unit for n in shard_allotments(units, shards)]
    out[0] = (out[0] or 0) + remainder
    return out


def shard_count(template_in: CouponTemplateIn, configured: int) -> int:
    if template_in.budget_cents is None and template_in.total_limit is None:
        return 0
    caps = [configured]
    if template_in.total_limit is not None:
        caps.append(template_in.total_limit)
    unit = _unit_cost(template_in)
    if template_in.budget_cents is not None and unit:
        caps.append(max(1, template_in.budget_cents // unit))
    return max(1, min(caps))


def _unit_cost(t: CouponTemplateIn) -> int:
    if t.kind == "amount_off":
        return t.amount_off_cents or 0
    if t.kind == "percent_off":
        return t.max_discount_cents or 0
    return t.face_value_cents or 0


def discount_for(coupon: Coupon, purchase_amount_cents: int) -> int:
    """What the coupon takes off a purchase of ``purchase_amount_cents`` (gift and parking: face value)."""
    if coupon.kind == "amount_off":
        return min(coupon.amount_off_cents or 0, purchase_amount_cents)
    if coupon.kind == "percent_off":
        # Integer arithmetic, rounded down: a coupon never gives a fen more than its percentage.
        off = purchase_amount_cents * (coupon.percent_off or 0) // 100
        return min(off, coupon.max_discount_cents) if coupon.max_discount_cents else off
    return coupon.face_value_cents or 0


def effective_status(coupon: Coupon, now: datetime) -> str:
    if coupon.status == "issued" and now > coupon.valid_until:
        return "expired"
    return coupon.status


def check_redeemable(coupon: Coupon, request: RedeemRequest, now: datetime) -> int:
    """The discount, or the 4xx that explains why the coupon cannot be used here and now."""
    if coupon.member_id != request.member_id:
        raise CouponNotYours()
    if coupon.status == "redeemed":
        raise CouponAlreadyRedeemed()
    if coupon.status != "issued":
        raise CouponNotUsable()
    if now < coupon.valid_from:
        raise CouponNotYetValid()
    if now > coupon.valid_until:
        raise CouponExpired()
    if coupon.store_ids and request.store_id not in coupon.store_ids:
        raise CouponNotValidHere()
    if coupon.tenant_ids and (request.tenant_id is None or request.tenant_id not in coupon.tenant_ids):
        raise CouponNotValidHere("coupon_not_valid_here", "The coupon is not valid for this tenant.")
    if coupon.kind in ("amount_off", "percent_off") and request.purchase_amount_cents < max(
        coupon.min_spend_cents, 1
    ):
        raise MinimumSpendNotMet()
    if request.purchase_amount_cents < coupon.min_spend_cents:
        raise MinimumSpendNotMet()
    return discount_for(coupon, request.purchase_amount_cents)


# --- repository ----------------------------------------------------------------------------------


class IssueOutcome(Enum):
    CREATED = "created"
    REQUEST_EXISTS = "request_exists"
    LIMIT_REACHED = "limit_reached"
    SHARD_EMPTY = "shard_empty"
    MEMBER_ERASED = "member_erased"


@dataclass(frozen=True)
class IssueContext:
    """Who asks and how to publish: the request id (idempotency), correlation, producer."""

    request_id: str
    correlation_id: str
    producer: str
    actor: str | None = None
    """Staff who issued it by hand (``staff:<sub>``): the issue is then audited."""


IssueFailure = Literal["unknown_template", "budget_exhausted", "limit_reached", "member_erased"]


@dataclass(frozen=True)
class IssueAnswer:
    """Contract A's answer; stored under the request id so a repeat gets the same one."""

    issued: bool
    coupon_id: str | None = None
    template_id: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    reason: IssueFailure | None = None
    replayed: bool = False

    def as_contract(self) -> dict[str, object]:
        if not self.issued:
            return {"issued": False, "reason": self.reason}
        assert self.valid_from is not None and self.valid_until is not None
        return {
            "issued": True,
            "coupon_id": self.coupon_id,
            "template_id": self.template_id,
            "valid_from": clock.to_utc_iso(self.valid_from),
            "valid_until": clock.to_utc_iso(self.valid_until),
            "replayed": self.replayed,
        }


@dataclass(frozen=True)
class IssuedCoupon:
    """A coupon of a template made out to a member, with the contract's answer and the event that
    announce it — what every issuing path (campaigns, journeys, staff, rewards) writes."""

    coupon: Coupon
    answer: IssueAnswer
    event: CouponIssued


def coupon_for_member(
    template: CouponTemplate,
    *,
    coupon_id: str,
    member_id: str,
    reason: IssueReason,
    campaign_id: str | None,
    window: tuple[datetime, datetime],
    now: datetime,
    budget_shard: int | None = None,
) -> IssuedCoupon:
    """The coupon (a fresh unguessable code, the template's terms copied so a later template edit
    does not change what the member holds), valid for ``window`` (see :func:`validity`)."""
    valid_from, valid_until = window
    coupon = Coupon(
        coupon_id=coupon_id,
        code=new_code(),
        template_id=template.template_id,
        member_id=member_id,
        campaign_id=campaign_id,
        reason=reason,
        kind=template.kind,
        name=template.name,
        amount_off_cents=template.amount_off_cents,
        percent_off=template.percent_off,
        max_discount_cents=template.max_discount_cents,
        face_value_cents=template.face_value_cents,
        parking_minutes=template.parking_minutes,
        min_spend_cents=template.min_spend_cents,
        store_ids=template.store_ids,
        tenant_ids=template.tenant_ids,
        funded_by=template.funded_by,
        funder_tenant_id=template.funder_tenant_id,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=now,
        budget_shard=budget_shard,
    )
    answer = IssueAnswer(
        issued=True,
        coupon_id=coupon_id,
        template_id=template.template_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    event = CouponIssued(
        coupon_id=coupon_id,
        template_id=template.template_id,
        member_id=member_id,
        campaign_id=campaign_id,
        reason=reason,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=now,
    )
    return IssuedCoupon(coupon, answer, event)


class CouponRepository(Protocol):
    def get_template(self, template_id: str) -> CouponTemplate | None: ...

    def create_template(
        self, template: CouponTemplate, counts: Sequence[int | None], cents: Sequence[int | None]
    ) -> bool:
        """Template and its budget shards in one transaction; False when the id exists."""

    def list_templates(self) -> list[CouponTemplate]: ...

    def update_template(
        self, template: CouponTemplate, add_counts: Sequence[int], add_cents: Sequence[int], *, actor: str
    ) -> None: ...

    def remaining(self, template: CouponTemplate) -> tuple[int | None, int | None]:
        """(coupons, cents) left over every shard (None: not limited)."""

    def issue(
        self,
        coupon: Coupon,
        template: CouponTemplate,
        answer: IssueAnswer,
        context: IssueContext,
        event: CouponIssued,
        *,
        unless_erased: str | None,
    ) -> IssueOutcome: ...

    def get_answer(self, request_id: str) -> IssueAnswer | None: ...

    def put_answer(self, request_id: str, answer: IssueAnswer) -> IssueAnswer:
        """Store a refusal under the request id (first one wins); the stored answer."""

    def by_code(self, code: str) -> Coupon | None: ...

    def wallet(self, member_id: str) -> list[Coupon]: ...

    def redeem(
        self,
        coupon: Coupon,
        *,
        store_id: str,
        discount_cents: int,
        at: datetime,
        actor: str,
        event: EventData,
        correlation_id: str,
        request_id: str | None = None,
    ) -> bool:
        """Mark the coupon redeemed if still ``issued`` (with audit entry and event); else False."""


# --- templates -------------------------------------------------------------------------------------


def create_template(
    request: CouponTemplateIn, repo: CouponRepository, *, actor: str, now: datetime, shards: int
) -> CouponTemplate:
    count = shard_count(request, shards)
    template = CouponTemplate(
        **request.model_dump(exclude={"store_ids", "tenant_ids"}),
        store_ids=tuple(request.store_ids),
        tenant_ids=tuple(request.tenant_ids),
        budget_shards=count,
        created_at=now,
        created_by=actor,
    )
    if count and not repo.create_template(
        template,
        shard_allotments(request.total_limit, count),
        budget_allotments(request.budget_cents, template.unit_cost_cents, count),
    ):
        raise TemplateExists()
    if not count and not repo.create_template(template, [], []):
        raise TemplateExists()
    return template


def update_template(
    template_id: str, patch: CouponTemplatePatch, repo: CouponRepository, *, actor: str
) -> CouponTemplate:
    template = repo.get_template(template_id)
    if template is None:
        raise TemplateNotFound()
    changes = patch.model_dump(exclude_unset=True, exclude={"add_budget_cents", "add_total_limit"})
    add_counts: list[int] = []
    add_cents: list[int] = []
    if patch.add_total_limit is not None or patch.add_budget_cents is not None:
        if not template.budget_shards:
            raise CouponNotUsable("template_unlimited", "The template has no budget or limit to raise.")
        if patch.add_total_limit is not None:
            if template.total_limit is None:
                raise CouponNotUsable("template_has_no_total_limit", "The template has no total limit.")
            changes["total_limit"] = template.total_limit + patch.add_total_limit
            add_counts = [c or 0 for c in shard_allotments(patch.add_total_limit, template.budget_shards)]
        if patch.add_budget_cents is not None:
            if template.budget_cents is None:
                raise CouponNotUsable("template_has_no_budget", "The template has no budget.")
            changes["budget_cents"] = template.budget_cents + patch.add_budget_cents
            add_cents = [
                c or 0
                for c in budget_allotments(
                    patch.add_budget_cents, template.unit_cost_cents, template.budget_shards
                )
            ]
    updated = template.model_copy(update=changes)
    repo.update_template(updated, add_counts, add_cents, actor=actor)
    return updated


def retire_template(template_id: str, repo: CouponRepository, *, actor: str) -> CouponTemplate:
    """Templates are never deleted (issued coupons point at them): retired ones issue no more."""
    template = repo.get_template(template_id)
    if template is None:
        raise TemplateNotFound()
    updated = template.model_copy(update={"status": "retired"})
    repo.update_template(updated, [], [], actor=actor)
    return updated


# --- issuing ---------------------------------------------------------------------------------------


def issue_coupon(  # noqa: PLR0911 - one return per contract outcome reads best
    *,
    member_id: str,
    template_id: str,
    reason: IssueReason,
    campaign_id: str | None,
    context: IssueContext,
    repo: CouponRepository,
    now: datetime,
    tz: tzinfo,
    new_id: Callable[[], str],
    pseudonymise: Callable[[str], str] | None = None,
    shuffle: Callable[[list[int]], None] = random.shuffle,
) -> IssueAnswer:
    """Issue one coupon of ``template_id`` to ``member_id``; idempotent on ``context.request_id``.

    Refusals are answers, not errors (contract A): unknown, paused, retired or ended templates →
    ``unknown_template`` (nothing issuable by that id now); all shards empty → ``budget_exhausted``;
    the member's limit → ``limit_reached``; an erased member → ``member_erased``.
    """
    previous = repo.get_answer(context.request_id)
    if previous is not None:
        return _replayed(previous)
    template = repo.get_template(template_id)
    window = validity(template, now, tz) if template is not None and template.status == "active" else None
    if template is None or window is None:
        return repo.put_answer(context.request_id, IssueAnswer(issued=False, reason="unknown_template"))

    issued = coupon_for_member(
        template,
        coupon_id=new_id(),
        member_id=member_id,
        reason=reason,
        campaign_id=campaign_id,
        window=window,
        now=now,
    )
    answer, event = issued.answer, issued.event
    guard = pseudonymise(member_id) if pseudonymise else None
    order: list[int | None]
    if template.budget_shards:
        shard_order = list(range(template.budget_shards))
        shuffle(shard_order)
        order = list(shard_order)
    else:
        order = [None]
    for shard in order:
        coupon = issued.coupon.model_copy(update={"budget_shard": shard})
        outcome = repo.issue(coupon, template, answer, context, event, unless_erased=guard)
        if outcome is IssueOutcome.CREATED:
            return answer
        if outcome is IssueOutcome.REQUEST_EXISTS:
            stored = repo.get_answer(context.request_id)
            if stored is None:  # pragma: no cover - the marker was just seen
                raise RuntimeError("issue request marker vanished")
            return _replayed(stored)
        if outcome is IssueOutcome.LIMIT_REACHED:
            return repo.put_answer(context.request_id, IssueAnswer(issued=False, reason="limit_reached"))
        if outcome is IssueOutcome.MEMBER_ERASED:
            return repo.put_answer(context.request_id, IssueAnswer(issued=False, reason="member_erased"))
        # SHARD_EMPTY: try the next shard.
    return repo.put_answer(context.request_id, IssueAnswer(issued=False, reason="budget_exhausted"))


def _replayed(answer: IssueAnswer) -> IssueAnswer:
    if not answer.issued:
        return answer
    return IssueAnswer(
        issued=True,
        coupon_id=answer.coupon_id,
        template_id=answer.template_id,
        valid_from=answer.valid_from,
        valid_until=answer.valid_until,
        replayed=True,
    )


# --- redemption ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redeemed:
    coupon: Coupon
    discount_cents: int
    redeemed_at: datetime
    replayed: bool = False


def _same_redemption(coupon: Coupon, request: RedeemRequest) -> bool:
    return (
        coupon.status == "redeemed"
        and request.request_id is not None
        and coupon.redeem_request_id == request.request_id
        and coupon.member_id == request.member_id
    )


def redeem_coupon(
    request: RedeemRequest,
    repo: CouponRepository,
    *,
    now: datetime,
    actor: str,
    correlation_id: str,
    make_event: Callable[[Coupon, int], EventData],
    stores: StoreCheck | None = None,
) -> Redeemed:
    """Redeem the coupon with ``request.code`` once, for its own member, where and when it is valid.

    ``stores``: the mall's store directory. A till at a store it lacks, or a closed one, or naming
    another tenant than the store's, is refused (422, nothing redeemed) like a purchase there; a
    till that sends no tenant redeems under its store's tenant, so tenant-limited coupons work at
    tills that only know their store."""
    coupon = repo.by_code(normalise_code(request.code))
    if coupon is None:
        raise CouponNotFound()
    if _same_redemption(coupon, request):
        # The till retried after a timeout: its first attempt went through.
        assert coupon.redeemed_at is not None
        return Redeemed(
            coupon=coupon,
            discount_cents=coupon.discount_cents or 0,
            redeemed_at=coupon.redeemed_at,
            replayed=True,
        )
    if stores is not None:
        store = check_store(stores, request.store_id, request.tenant_id)
        if store is not None and request.tenant_id is None:
            request = request.model_copy(update={"tenant_id": store.tenant_id})
    discount = check_redeemable(coupon, request, now)
    if not repo.redeem(
        coupon,
        store_id=request.store_id,
        discount_cents=discount,
        at=now,
        actor=actor,
        event=make_event(coupon, discount),
        correlation_id=correlation_id,
        request_id=request.request_id,
    ):
        # Another till got there first (the condition "still issued" failed) — or this till's
        # own first attempt did, a moment ago.
        again = repo.by_code(coupon.code)
        if again is not None and _same_redemption(again, request):
            assert again.redeemed_at is not None
            return Redeemed(
                coupon=again,
                discount_cents=again.discount_cents or 0,
                redeemed_at=again.redeemed_at,
                replayed=True,
            )
        raise CouponAlreadyRedeemed()
    return Redeemed(coupon=coupon, discount_cents=discount, redeemed_at=now)


# --- expiry (daily job) ----------------------------------------------------------------------------


class ExpiryIndex(Protocol):
    """The coupon expiry index: entries per local day of ``valid_until`` (unredeemed coupons only)."""

    def expiring_on(self, day: str, shards: int) -> list[dict[str, Any]]: ...

    def mark_reminded(
        self, entry: dict[str, Any], event: EventData, correlation_id: str, at: datetime
    ) -> bool: ...

    def expire(self, entry: dict[str, Any], at: datetime) -> bool: ...


@dataclass(frozen=True)
class ExpiryRun:
    reminded: int
    expired: int


CATCH_UP_DAYS = 7
"""A job that did not run for a few days catches up on that many past days."""


def run_coupon_expiry(
    index: ExpiryIndex, *, today: date, days_ahead: int, now: datetime, correlation_id: str
) -> ExpiryRun:
    """``CouponExpiring`` once per coupon expiring within ``days_ahead`` local days (so a missed run
    is caught up the next day), then coupons whose last day has passed become ``expired`` and
    leave the index. Reads only the index's day partitions: no scan, however large the wallet."""
    reminded = expired = 0
    for ahead in range(days_ahead, -1, -1):
        day = today + timedelta(days=ahead)
        for entry in index.expiring_on(day.isoformat(), EXPIRY_INDEX_SHARDS):
            if entry.get("reminded_at"):
                continue
            event = CouponExpiring(
                coupon_id=str(entry["sk"]),
                template_id=str(entry["template_id"]),
                member_id=str(entry["member_id"]),
                valid_until=clock.parse_iso(str(entry["valid_until"])),
                days_left=ahead,
            )
            reminded += index.mark_reminded(entry, event, correlation_id, now)
    for back in range(CATCH_UP_DAYS, 0, -1):
        day = today - timedelta(days=back)
        for entry in index.expiring_on(day.isoformat(), EXPIRY_INDEX_SHARDS):
            if clock.parse_iso(str(entry["valid_until"])) < now:
                expired += index.expire(entry, now)
    return ExpiryRun(reminded=reminded, expired=expired)
