"""Dispatch, pure orchestration: one :class:`SendRequest` through the guardrails to a channel.

Every request has one send record (``SEND#<send_id>``) whose ``status`` moves

    pending ─▶ held ─▶ sending ─▶ sent
       ▲  │      │        │  └──▶ retry ─▶ sending …   (provider failure, with backoff)
       └──┴──────┘        └─────▶ suppressed | failed  (terminal, with a reason)

``pending`` with ``due_at`` in the future is a deferral; ``held`` keeps a frequency-cap slot until
``due_at`` (the decision window, see :mod:`services.campaigns.logic.guardrails`); ``sending`` is a
lease. Every transition is a conditional write on the record's ``version``, so two deliveries of
the same request cannot both move it (the loser raises :class:`Conflict` and is redelivered, then
finds the new state). A message is woken at ``due_at`` by the due index (:class:`Waker`): it comes
back through the dispatch queue and is evaluated again.

At most once towards the member: a record found in ``sending`` after its lease expired may or may
not have reached the provider (the function died in between); it is marked ``failed`` with
``outcome_unknown`` rather than sent a second time.

**Channel fallback.** When members' contact directory holds no address for the chosen channel
(the adapter's ``no_address``: nothing reached the provider), the channel is added to the record's
``tried`` and, if another channel of the request is consented, the message is deferred a moment
(``no_address:<tried>``, its slot given back) and evaluated again from scratch without the tried
channels: consent, quiet hours, the rate, the caps with priority and the decision window apply to
the next channel exactly as to the first choice. With no channel left it fails
``no_address:<tried>``. The record's version guards every move, as for any deferral.

**Batches** (:func:`process_batch`, what the SQS consumer calls): the same decisions for a whole
SQS batch, but the store reads every member's state up front (``BatchGetItem``) and buffers the
writes, which it commits in few ``TransactWriteItems`` (every message's writes in one
transaction, never split); a message whose condition failed — another delivery moved its record
or cap first — is re-read and decided again, alone, and the others commit. Two messages of one
member in a batch are decided in successive rounds, so the second sees the first's slot. The
per-campaign rate tokens a batch needs are taken in one counter update per shard (the first
evaluation parks at the rate check, :class:`NeedRateToken`). Provider calls stay per message,
after the ``sending`` lease of the whole batch is committed (at most once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, Protocol

from services.campaigns.logic.guardrails import (
    ChannelChoice,
    Consents,
    Holder,
    Limits,
    QuietHours,
    ceil_minute,
    choose_channel,
    day_key,
    next_day_start,
    next_week_start,
    not_quiet,
    plan_hold,
    week_key,
)
from services.campaigns.models.dispatch import (
    Channel,
    SendRequest,
    missing_personalisation,
    offer_fields,
    render,
)
from shared import clock

MAX_PRIORITY = 100  # SendRequest.priority's bound
NO_ADDRESS = "no_address"  # the adapters' ProviderError reason: members holds no address there
Status = Literal["pending", "held", "retry", "sending", "sent", "suppressed", "failed"]
TERMINAL: frozenset[str] = frozenset({"sent", "suppressed", "failed"})


class Conflict(RuntimeError):
    """Another delivery of the same request moved its record first (retry the message)."""


class NeedRateToken(Exception):
    """Batch mode: the evaluation reached the per-campaign rate check before the batch's tokens
    were taken. Nothing but the record's creation was buffered yet; the message is evaluated again
    once the tokens are known."""

    def __init__(self, send_id: str, campaign_id: str, minute: datetime, limit: int) -> None:
        super().__init__(send_id)
        self.send_id = send_id
        self.campaign_id = campaign_id
        self.minute = minute
        self.limit = limit


class ProviderError(Exception):
    """A channel provider refused or failed; ``retryable`` failures are retried with backoff."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason[:64]
        self.retryable = retryable


@dataclass(frozen=True)
class SendRecord:
    send_id: str
    status: Status
    version: int
    due_at: datetime | None = None
    channel: Channel | None = None
    attempts: int = 0
    reason: str | None = None
    day: str | None = None  # the cap counters the record holds a slot in
    week: str | None = None
    coupon_id: str | None = None
    # Channels found without an address (in the order tried): never chosen again for this send.
    tried: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class Slots:
    day: dict[str, Holder]
    week: dict[str, Holder]
    day_version: int
    week_version: int


@dataclass(frozen=True)
class OutgoingMessage:
    """What an adapter sends: rendered text, no template placeholders left to the provider."""

    send_id: str
    member_id: str
    channel: Channel
    kind: str
    title: str | None
    body: str
    link: str | None
    campaign_id: str | None
    topic: str | None


@dataclass(frozen=True)
class Delivery:
    provider_message_id: str | None
    delivered: bool = False  # the channel confirms at once (the inbox)


class ChannelAdapter(Protocol):
    def send(self, message: OutgoingMessage) -> Delivery:
        """Hand the message to the provider; raise :class:`ProviderError` on failure."""


@dataclass(frozen=True)
class OfferResult:
    issued: bool
    reason: str | None = None
    coupon_id: str | None = None
    valid_until: datetime | None = None


class Offers(Protocol):
    """Contract A (loyalty's LoyaltyOffersFunction), idempotent on ``request_id``."""

    def issue(self, request: SendRequest) -> OfferResult: ...


class Waker(Protocol):
    def ensure(self, at: datetime) -> None:
        """Make sure the due index is swept at ``at`` (its minute bucket)."""


class DispatchStore(Protocol):
    def get(self, send_id: str) -> SendRecord | None: ...

    def create(self, request: SendRequest, now: datetime) -> SendRecord:
        """Create the pending record, or return the existing one."""

    def consents(self, member_id: str) -> Consents: ...

    def campaign_cancelled(self, campaign_id: str) -> bool:
        """Has the campaign been cancelled? (planning's ``CAMPAIGN#<id>`` / ``CANCELLED`` marker)"""

    def slots(self, member_id: str, channel: Channel, day: str, week: str) -> Slots: ...

    def day_holder(self, member_id: str, channel: Channel, day: str, send_id: str) -> Holder | None:
        """``send_id``'s place in the member's day counter, if it has one. A hold writes the day
        and the week counter together and an eviction frees both, so the day one answers for both
        (the second pass reads only it)."""

    def hold(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        channel: Channel,
        day: str,
        week: str,
        slots: Slots,
        victim: str | None,
        until: datetime,
        now: datetime,
    ) -> SendRecord: ...

    def release(self, record: SendRecord, member_id: str) -> None:
        """Give the record's slot back (it is deferred or suppressed while holding)."""

    def take_rate_token(self, campaign_id: str, send_id: str, minute: datetime, limit: int) -> bool:
        """One token of the campaign's minute (in batch mode: the one granted for ``send_id`` by
        :meth:`take_rate_tokens`, else :class:`NeedRateToken`)."""

    def defer(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        until: datetime,
        reason: str,
        channel: Channel | None,
        now: datetime,
        tried: tuple[Channel, ...] = (),
    ) -> SendRecord:
        """``pending`` until ``until``; a non-empty ``tried`` replaces the record's tried channels."""

    def finish(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        outcome: Literal["suppressed", "failed"],
        reason: str,
        channel: Channel | None,
        now: datetime,
    ) -> None: ...

    def start_sending(
        self, record: SendRecord, request: SendRequest, *, channel: Channel, lease_until: datetime
    ) -> SendRecord:
        """``sending`` with attempts + 1; a held slot is marked sent (it can no longer be taken)."""

    def retry(
        self, record: SendRecord, request: SendRequest, *, until: datetime, reason: str
    ) -> SendRecord: ...

    def mark_sent(
        self,
        record: SendRecord,
        request: SendRequest,
        message: OutgoingMessage,
        delivery: Delivery,
        *,
        coupon_id: str | None,
        now: datetime,
    ) -> None: ...


class BatchStore(DispatchStore, Protocol):
    """A store that can read a batch's state at once and buffer its writes (see module doc)."""

    def begin(self, requests: list[SendRequest], now: datetime, zone: tzinfo) -> None:
        """Forget what was read, read every state the requests need, buffer writes from now on."""

    def take_rate_tokens(self, demands: list[NeedRateToken]) -> dict[str, bool]:
        """Take the tokens the parked messages asked for: ``send_id`` → granted."""

    def commit(self) -> dict[str, Exception]:
        """Write what was buffered; returns the messages whose writes did not commit (``send_id`` →
        :class:`Conflict` when a condition failed, else the error). Buffering goes on."""

    def discard(self, send_id: str) -> None:
        """Drop what was buffered for ``send_id`` (its evaluation raised)."""

    def end(self) -> None:
        """Stop buffering and forget the batch (nothing may be left uncommitted)."""


@dataclass(frozen=True)
class Policy:
    zone: tzinfo
    limits: Limits
    quiet: QuietHours
    decision_window: timedelta = timedelta(seconds=60)
    rate_per_minute: int = 180_000
    max_attempts: int = 4
    lease: timedelta = timedelta(minutes=5)
    retry_base: timedelta = timedelta(minutes=1)
    # How long after a request an absent consent projection means "not arrived yet" (deferred
    # minute by minute) rather than "no consent" (suppressed).
    consent_grace: timedelta = timedelta(minutes=5)


@dataclass
class Dependencies:
    store: DispatchStore
    channels: dict[str, ChannelAdapter]
    offers: Offers
    waker: Waker
    notes: list[str] = field(default_factory=list)
    # Batch mode: messages whose ``sending`` lease is buffered, delivered after it is committed.
    ready: list[Ready] | None = None


@dataclass(frozen=True)
class Ready:
    """A message whose lease is written (or buffered): the offer and the provider call come next."""

    record: SendRecord
    request: SendRequest
    channel: Channel


def retry_delay(policy: Policy, attempts: int) -> timedelta:
    """1, 4, 16 … minutes after the ``attempts``-th failure."""
    factor: int = 4 ** max(0, attempts - 1)
    return policy.retry_base * factor


def process(request: SendRequest, deps: Dependencies, policy: Policy, now: datetime) -> str:  # noqa: PLR0911 - one return per state
    """Evaluate ``request`` once; returns what happened (for logs and metrics)."""
    store = deps.store
    record = store.get(request.send_id) or store.create(request, now)
    if record.status in TERMINAL:
        return "duplicate"
    if record.due_at is not None and record.due_at > now:
        # A redelivery of a deferred or held message (or of one in flight): its wake-up brings it
        # back. Re-arming the wake-up covers a crash between the record write and the schedule.
        if record.status != "sending":
            deps.waker.ensure(record.due_at)
        return "not_due"
    if record.status == "sending":
        store.finish(
            record, request, outcome="failed", reason="outcome_unknown", channel=record.channel, now=now
        )
        return "failed"
    if cancelled_campaign(request, store):
        return _finish_holding(record, request, "campaign_cancelled", record.channel, deps, now)
    if record.status == "retry" and record.channel is not None:
        return _send(record, request, record.channel, deps, policy, now)
    if request.kind == "transactional":
        consents = store.consents(request.member_id)
        choice = choose_channel(request, consents, record.tried)
        if _consents_pending(choice, consents, request, policy, now):
            return _defer(record, request, _next_look(now), "consent_pending", None, deps, now)
        if choice.channel is None:
            store.finish(
                record,
                request,
                outcome="suppressed",
                reason=choice.reason or "no_consent",
                channel=None,
                now=now,
            )
            return "suppressed"
        return _send(record, request, choice.channel, deps, policy, now)
    return _marketing(record, request, deps, policy, now)


MAX_ROUND_ATTEMPTS = 3


def process_batch(
    requests: list[SendRequest], deps: Dependencies, policy: Policy, now: datetime
) -> list[str | Exception]:
    """:func:`process` for a whole SQS batch: one outcome (or the error that stopped it) per
    request, in order. With a :class:`BatchStore`, reads and writes are batched (module doc);
    with any other store the requests are processed one by one."""
    outcomes: list[str | Exception] = [Conflict("not evaluated")] * len(requests)
    store = deps.store
    if not hasattr(store, "begin"):
        for i, request in enumerate(requests):
            try:
                outcomes[i] = process(request, deps, policy, now)
            except Exception as exc:  # reported per message (the SQS record fails alone)
                outcomes[i] = exc
        return outcomes
    batch_store: BatchStore = store  # type: ignore[assignment]
    # Round k holds the k-th message of each member: a member's cap counters are read and written
    # once per round, so two campaigns for one member in one batch still compete as they would
    # arriving one after the other.
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, request in enumerate(requests):
        k = seen.get(request.member_id, 0)
        seen[request.member_id] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(i)
    try:
        for indexes in rounds:
            _round(indexes, requests, outcomes, batch_store, deps, policy, now)
    finally:
        deps.ready = None
        batch_store.end()
    return outcomes


def _round(  # noqa: PLR0912, PLR0917 - one round of a batch, read top down
    indexes: list[int],
    requests: list[SendRequest],
    outcomes: list[str | Exception],
    store: BatchStore,
    deps: Dependencies,
    policy: Policy,
    now: datetime,
) -> None:
    pending = list(indexes)
    for _attempt in range(MAX_ROUND_ATTEMPTS):
        store.begin([requests[i] for i in pending], now, policy.zone)
        deps.ready = []
        decided: dict[int, str] = {}
        parked: list[tuple[int, NeedRateToken]] = []
        for i in pending:
            try:
                decided[i] = process(requests[i], deps, policy, now)
            except NeedRateToken as need:
                parked.append((i, need))
            except Exception as exc:
                store.discard(requests[i].send_id)
                outcomes[i] = exc
        if parked:
            store.take_rate_tokens([need for _, need in parked])
            for i, _ in parked:
                try:
                    decided[i] = process(requests[i], deps, policy, now)
                except Exception as exc:
                    store.discard(requests[i].send_id)
                    outcomes[i] = exc
        ready, deps.ready = deps.ready, None
        failed = store.commit()
        retry: list[int] = []
        for i, outcome in decided.items():
            error = failed.get(requests[i].send_id)
            if error is None:
                outcomes[i] = outcome
            elif isinstance(error, Conflict):
                retry.append(i)  # re-read and decided again, alone
            else:
                outcomes[i] = error
        # The leases are written: now the offers and the provider calls, one message at a time.
        position = {requests[i].send_id: i for i in decided}
        for item in ready:
            i = position[item.request.send_id]
            if item.request.send_id in failed:
                continue
            try:
                outcomes[i] = deliver(item.record, item.request, item.channel, deps, policy, now)
            except Exception as exc:  # the lease stays: never sent twice (outcome_unknown)
                store.discard(item.request.send_id)
                outcomes[i] = exc
        for send_id, error in store.commit().items():
            # After the provider call nothing is evaluated again: the SQS record fails and its
            # redelivery finds the lease (not_due, then outcome_unknown), never a second send.
            outcomes[position[send_id]] = error
        if not retry:
            return
        pending = retry
    for i in pending:
        outcomes[i] = Conflict(f"{requests[i].send_id}: moved again in {MAX_ROUND_ATTEMPTS} attempts")


def cancelled_campaign(request: SendRequest, store: DispatchStore) -> bool:
    """A campaign's message (launched or triggered) whose campaign was cancelled since it was
    queued: suppressed ``campaign_cancelled`` at its next evaluation — on arrival, after a
    deferral, at the end of the decision window or before a provider retry — never sent.
    Journeys and notifications carry no campaign and are not asked about."""
    return request.campaign_id is not None and store.campaign_cancelled(request.campaign_id)


def _marketing(  # noqa: PLR0911, PLR0912 - one return per guardrail
    record: SendRecord, request: SendRequest, deps: Dependencies, policy: Policy, now: datetime
) -> str:
    store = deps.store
    bumped = False
    if record.status == "held" and record.channel is not None and record.day and record.week:
        mine = store.day_holder(request.member_id, record.channel, record.day, request.send_id)
        if mine is not None and mine.state == "held":
            return _send_held(record, request, deps, policy, now)
        bumped = True  # a higher-priority message took the slot during the window
    if request.not_after is not None and now > request.not_after:
        return _finish_holding(record, request, "expired", record.channel, deps, now)
    consents = store.consents(request.member_id)
    choice = choose_channel(request, consents, record.tried)
    if _consents_pending(choice, consents, request, policy, now):
        return _finish_or_defer_pending(record, request, deps, now)
    if choice.channel is None:
        return _finish_holding(record, request, choice.reason or "no_consent", None, deps, now)
    channel = choice.channel
    missing = missing_personalisation(
        request.content[channel], request.personalisation, offer_fields(request.offer)
    )
    if missing:  # never "{points_balance}" in a member's message: suppressed, with the field named
        return _finish_holding(
            record, request, f"personalisation_missing:{missing[0]}"[:64], channel, deps, now
        )
    quiet_end = policy.quiet.end_if_quiet(now, policy.zone)
    if quiet_end is not None:
        return _defer(record, request, quiet_end, "quiet_hours", channel, deps, now)
    if request.campaign_id and not store.take_rate_token(
        request.campaign_id,
        request.send_id,
        now.replace(second=0, microsecond=0),
        request.rate_per_minute or policy.rate_per_minute,
    ):
        return _defer(
            record, request, ceil_minute(now + timedelta(seconds=1)), "rate_limit", channel, deps, now
        )
    day, week = day_key(now, policy.zone), week_key(now, policy.zone)
    slots = store.slots(request.member_id, channel, day, week)
    plan = plan_hold(
        slots.day, slots.week, policy.limits, request.send_id, request.priority, now=clock.to_utc_iso(now)
    )
    if not plan.ok:
        if plan.reason == "frequency_cap_week":
            until = next_week_start(now, policy.zone)
        else:
            until = next_day_start(now, policy.zone)
        reason = "bumped" if bumped else (plan.reason or "frequency_cap_day")
        return _defer(
            record, request, not_quiet(until, policy.quiet, policy.zone), reason, channel, deps, now
        )
    # Nobody can outrank the top priority (a holder is only taken by a strictly higher one), so
    # its window would decide nothing: it is held and sent in this pass.
    window = policy.decision_window if request.priority < MAX_PRIORITY else timedelta(0)
    until = ceil_minute(now + window) if window else now
    held = store.hold(
        record,
        request,
        channel=channel,
        day=day,
        week=week,
        slots=slots,
        victim=plan.victim,
        until=until,
        now=now,
    )
    if plan.victim:
        deps.notes.append(f"took the slot of {plan.victim}")
    if until > now:
        deps.waker.ensure(until)
        return "held"
    return _send_held(held, request, deps, policy, now)


def _consents_pending(
    choice: ChannelChoice, consents: Consents, request: SendRequest, policy: Policy, now: datetime
) -> bool:
    """No channel allowed, but only because campaigns has not heard of the member's consents yet,
    and the request is recent enough for them to be on their way."""
    return (
        choice.channel is None
        and choice.reason == "no_consent"
        and not consents.known
        and now < request.requested_at + policy.consent_grace
    )


def _next_look(now: datetime) -> datetime:
    return ceil_minute(now + timedelta(seconds=1))


def _finish_or_defer_pending(
    record: SendRecord, request: SendRequest, deps: Dependencies, now: datetime
) -> str:
    if record.status == "held":  # a held slot is for a channel: give it back while waiting
        deps.store.release(record, request.member_id)
    return _defer(record, request, _next_look(now), "consent_pending", None, deps, now)


def _send_held(
    record: SendRecord, request: SendRequest, deps: Dependencies, policy: Policy, now: datetime
) -> str:
    """The decision window is over and the slot is still ours: last checks, then send."""
    store = deps.store
    channel = record.channel
    assert channel is not None
    if request.not_after is not None and now > request.not_after:
        return _finish_holding(record, request, "expired", channel, deps, now)
    # Consent may have been withdrawn during the window: the send-time check is the one that counts.
    choice = choose_channel(request, store.consents(request.member_id), record.tried)
    if choice.channel != channel:
        if choice.channel is None:
            return _finish_holding(record, request, choice.reason or "no_consent", channel, deps, now)
        store.release(record, request.member_id)
        # Re-evaluated a minute later from scratch, for the channel now allowed.
        return _defer(
            record, request, now + timedelta(seconds=1), "channel_changed", choice.channel, deps, now
        )
    quiet_end = policy.quiet.end_if_quiet(now, policy.zone)
    if quiet_end is not None:
        store.release(record, request.member_id)
        return _defer(record, request, quiet_end, "quiet_hours", channel, deps, now)
    return _send(record, request, channel, deps, policy, now)


def _finish_holding(  # noqa: PLR0917 - steps of one flow share its state
    record: SendRecord,
    request: SendRequest,
    reason: str,
    channel: Channel | None,
    deps: Dependencies,
    now: datetime,
) -> str:
    if record.status == "held":
        deps.store.release(record, request.member_id)
    deps.store.finish(record, request, outcome="suppressed", reason=reason, channel=channel, now=now)
    return "suppressed"


def _defer(  # noqa: PLR0917 - steps of one flow share its state
    record: SendRecord,
    request: SendRequest,
    until: datetime,
    reason: str,
    channel: Channel | None,
    deps: Dependencies,
    now: datetime,
    tried: tuple[Channel, ...] = (),
) -> str:
    if request.not_after is not None and until > request.not_after:
        deps.store.finish(record, request, outcome="suppressed", reason="expired", channel=channel, now=now)
        return "suppressed"
    deps.store.defer(record, request, until=until, reason=reason, channel=channel, now=now, tried=tried)
    deps.waker.ensure(until)
    return "deferred"


def personalise(request: SendRequest, offer: OfferResult | None, zone: tzinfo) -> dict[str, str]:
    fields = dict(request.personalisation)
    if offer is not None and offer.issued:
        if offer.coupon_id:
            fields.setdefault("coupon_id", offer.coupon_id)
        if offer.valid_until is not None:
            fields.setdefault("coupon_valid_until", offer.valid_until.astimezone(zone).date().isoformat())
    if request.offer is not None and request.offer.type == "points":
        fields.setdefault("points", str(request.offer.points))
    return fields


def outgoing(request: SendRequest, channel: Channel, fields: dict[str, str]) -> OutgoingMessage:
    content = request.content[channel]
    return OutgoingMessage(
        send_id=request.send_id,
        member_id=request.member_id,
        channel=channel,
        kind=request.kind,
        title=render(content.title, fields) if content.title else None,
        body=render(content.body, fields),
        link=request.link,
        campaign_id=request.campaign_id,
        topic=request.topic,
    )


def _send(  # noqa: PLR0917 - steps of one flow share its state
    record: SendRecord,
    request: SendRequest,
    channel: Channel,
    deps: Dependencies,
    policy: Policy,
    now: datetime,
) -> str:
    sending = deps.store.start_sending(record, request, channel=channel, lease_until=now + policy.lease)
    if deps.ready is not None:  # batch mode: delivered once the batch's leases are committed
        deps.ready.append(Ready(sending, request, channel))
        return "sending"
    return deliver(sending, request, channel, deps, policy, now)


def deliver(  # noqa: PLR0911, PLR0917 - steps of one flow share its state
    sending: SendRecord,
    request: SendRequest,
    channel: Channel,
    deps: Dependencies,
    policy: Policy,
    now: datetime,
) -> str:
    """The lease is written: issue the offer, call the provider, record the outcome."""
    store = deps.store
    offer: OfferResult | None = None
    if request.offer is not None:
        try:
            offer = deps.offers.issue(request)
        except Exception as exc:  # loyalty unavailable: like a provider failure, retried
            return _provider_failed(
                sending, request, ProviderError(f"offer_error:{type(exc).__name__}"), deps, policy, now
            )
        if not offer.issued:
            store.finish(
                sending,
                request,
                outcome="suppressed",
                reason=f"offer_{offer.reason or 'refused'}",
                channel=channel,
                now=now,
            )
            return "suppressed"
    fields = personalise(request, offer, policy.zone)
    missing = missing_personalisation(request.content[channel], fields) if request.kind == "marketing" else []
    if missing:  # an issued offer without the value its text needs (e.g. no validity date)
        store.finish(
            sending,
            request,
            outcome="suppressed",
            reason=f"personalisation_missing:{missing[0]}"[:64],
            channel=channel,
            now=now,
        )
        return "suppressed"
    message = outgoing(request, channel, fields)
    adapter = deps.channels.get(channel)
    if adapter is None:
        store.finish(
            sending, request, outcome="failed", reason="channel_unavailable", channel=channel, now=now
        )
        return "failed"
    try:
        delivery = adapter.send(message)
    except ProviderError as exc:
        if exc.reason == NO_ADDRESS:
            return _no_address(sending, request, channel, deps, now)
        return _provider_failed(sending, request, exc, deps, policy, now)
    store.mark_sent(
        sending, request, message, delivery, coupon_id=offer.coupon_id if offer else None, now=now
    )
    return "sent"


def _no_address(
    sending: SendRecord, request: SendRequest, channel: Channel, deps: Dependencies, now: datetime
) -> str:
    """No address for ``channel`` (nothing reached the provider): on to the next consented channel
    through a fresh evaluation, or failed when none is left (module doc, "Channel fallback")."""
    store = deps.store
    tried = (*sending.tried, channel)
    reason = f"{NO_ADDRESS}:{','.join(tried)}"
    # The lease marked the held slot sent; nothing was sent on that channel, so it is given back.
    store.release(sending, request.member_id)
    choice = choose_channel(request, store.consents(request.member_id), tried)
    if choice.channel is None:
        store.finish(sending, request, outcome="failed", reason=reason, channel=channel, now=now)
        return "failed"
    return _defer(sending, request, _next_look(now), reason, choice.channel, deps, now, tried=tried)


def _provider_failed(  # noqa: PLR0917 - steps of one flow share its state
    record: SendRecord,
    request: SendRequest,
    error: ProviderError,
    deps: Dependencies,
    policy: Policy,
    now: datetime,
) -> str:
    if not error.retryable or record.attempts >= policy.max_attempts:
        deps.store.finish(
            record, request, outcome="failed", reason=error.reason, channel=record.channel, now=now
        )
        return "failed"
    until = now + retry_delay(policy, record.attempts)
    deps.store.retry(record, request, until=until, reason=error.reason)
    deps.waker.ensure(until)
    return "retry"


def offer_payload(request: SendRequest, reason: str) -> dict[str, Any]:
    """Contract A's payload for the request's offer (``request_id`` = the send id: idempotent)."""
    assert request.offer is not None
    if request.offer.type == "coupon":
        return {
            "action": "issue_coupon",
            "request_id": request.send_id,
            "member_id": request.member_id,
            "template_id": request.offer.template_id,
            "campaign_id": request.campaign_id,
            "reason": reason,
        }
    return {
        "action": "award_points",
        "request_id": request.send_id,
        "member_id": request.member_id,
        "points": request.offer.points,
        "reason": reason,
        "campaign_id": request.campaign_id,
    }


def offer_reason(request: SendRequest) -> str:
    """Contract A's ``reason`` for this send's offer."""
    if request.journey == "birthday":
        return "birthday"
    if request.journey == "churn_warning":
        return "win_back"
    return "campaign"
