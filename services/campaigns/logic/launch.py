"""Launching a one-off or scheduled campaign: audience → controls and arms → SendRequests.

1. The audience: the campaign's segment evaluated on the audience snapshot (bitmaps), AND a
   marketing consent on at least one of the campaign's channels (members who cannot be reached
   are not part of the experiment: controls and treatment are drawn from the same population).
2. The global control group is taken out (stable hash, logic/experiments.py); the rest is dealt
   into variants and the holdout (blocked assignment: even splits).
3. The assignment is written first, compactly: members are hashed into buckets of about 400
   (``ASSIGN#<campaign>#<bucket>`` items, one string of member ids per arm), so a million members
   cost ~2,500 item writes (~100 BatchWriteItem calls), not a million — attribution looks a buyer
   up in one bucket (logic/attribution.py).
4. Then, in dealing order, page by page: SendRequests for the treated (SendMessageBatch of 10 to
   dispatch), the cursor saved after each page. Dispatch applies the send-time guardrails
   (consent again, caps with priority, quiet hours, rate) and dedupes on
   ``send_id = cmp#<campaign>#<member>``.
5. The last page closes the launch in one transaction: status ``launched``, the arms' counters,
   the launch index item attribution reads (``LAUNCHES``), and the ``CampaignLaunched`` outbox item.

**Planning-time guardrails** (:class:`LaunchPace`, the worker passes it): a launch does not queue
during the mall's quiet hours — it waits for their end, queueing nothing — and queues no faster
than the campaign's send rate: at most ``per_minute`` requests per run, the next run a minute
later. Dispatch checks both again at send time; without the pace it would defer every message of
a launch started at 22:00 to the morning, and every message beyond the first minute's rate to a
later minute — each deferral a recorded decision and a due-index write per message.

A launch is resumable: the audience and the dealing are a pure function of the campaign and the
snapshot it started with (kept on the campaign), so a worker that runs out of time hands the next
``cursor`` on, and a redelivered job repeats at most one page (bucket items are plain Puts and
dispatch ignores a repeated ``send_id``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from services.campaigns.logic.audience_index import rows_of
from services.campaigns.logic.experiments import (
    CONTROL,
    HOLDOUT,
    NO_VARIANT,
    arm_plan,
    assign_arms,
    assignment_bucket,
    in_global_control,
)
from services.campaigns.logic.guardrails import QuietHours
from services.campaigns.logic.segments import parse_rule
from services.campaigns.logic.snapshots import Audience
from services.campaigns.models.campaigns import Campaign
from services.campaigns.models.dispatch import SendRequest
from shared.events.contracts import CampaignLaunched

PAGE = 5_000
BUCKET_MEMBERS = 400
"""Members per assignment bucket: ~12 KB items (26-character ids), well under DynamoDB's 400 KB."""


@dataclass(frozen=True)
class Target:
    """One member of the audience with the attributes a message is personalised with."""

    member_id: str
    tier: str | None
    points_balance: int | None
    tier_name: str | None = None


@dataclass(frozen=True)
class ResolvedAudience:
    ordered: list[tuple[Target, str]]  # dealing order: (member, arm)

    def counts(self) -> Counter[str]:
        return Counter(arm for _, arm in self.ordered)


def eligible_targets(campaign: Campaign, audience: Audience, now: datetime) -> Iterator[Target]:
    """Members of the segment who granted marketing on one of the campaign's channels."""
    if campaign.segment_rule is None:
        raise ValueError("a one-off or scheduled campaign has a segment")
    rule = parse_rule(campaign.segment_rule)
    consents = [f"marketing:{c}" for c in campaign.channels]
    for shard in audience.shards:
        bits = shard.evaluate(rule, now) & shard.any_of("consents", consents)
        for row in rows_of(bits):
            tier = shard.tiers[row]
            yield Target(
                shard.members[row],
                tier,
                shard.points[row],
                shard.tier_names.get(tier) if tier is not None else None,
            )


def resolve(
    campaign: Campaign, audience: Audience, now: datetime, *, control_salt: str, control_basis_points: int
) -> ResolvedAudience:
    """The whole audience in dealing order (global control first, then the arms' dealing)."""
    controls: list[Target] = []
    others: dict[str, Target] = {}
    for target in eligible_targets(campaign, audience, now):
        if in_global_control(target.member_id, control_salt, control_basis_points):
            controls.append(target)
        else:
            others[target.member_id] = target
    plan = arm_plan(campaign.variant_names(), campaign.holdout_percent)
    arms = assign_arms(list(others), plan, campaign.campaign_id)
    ordered = [(t, CONTROL) for t in sorted(controls, key=lambda t: t.member_id)]
    # assign_arms returns members in dealing order (dicts keep insertion order).
    ordered += [(others[m], arm) for m, arm in arms.items()]
    return ResolvedAudience(ordered)


def personalisation(target: Target) -> dict[str, str]:
    """The member's own fields. ``{points_balance}``: a member campaigns knows no ledger movement
    of has 0 points (loyalty starts every member at zero). ``{tier}``: the tier's display name
    (its id only if no event named it); a member whose tier campaigns never heard of gets no value,
    and dispatch suppresses a message that needs one (``personalisation_missing:tier``) rather
    than send ``{tier}`` or guess a name."""
    out: dict[str, str] = {"points_balance": str(target.points_balance or 0)}
    if target.tier is not None:
        out["tier"] = target.tier_name or target.tier
    return out


def send_request(  # noqa: PLR0917 - positional at its two call sites
    campaign: Campaign,
    member_id: str,
    arm: str,
    values: dict[str, str],
    now: datetime,
    not_after: datetime | None,
    send_key: str | None = None,
) -> SendRequest:
    """The dispatch request for one treated member (contract B)."""
    variant = campaign.variant(arm)
    content = variant.content if variant is not None and variant.content is not None else campaign.content
    offer = variant.offer if variant is not None and variant.offer is not None else campaign.offer
    offer_values = {"points": str(offer.points)} if offer is not None and offer.type == "points" else {}
    return SendRequest(
        send_id=f"cmp#{campaign.campaign_id}#{member_id}" + (f"#{send_key}" if send_key else ""),
        kind="marketing",
        campaign_id=campaign.campaign_id,
        variant=None if arm == NO_VARIANT else arm,
        member_id=member_id,
        channels=campaign.channels,
        priority=campaign.priority,
        content={c: content[c] for c in campaign.channels},
        personalisation={**values, **offer_values},
        offer=offer,
        not_after=not_after,
        requested_at=now,
        topic="campaign",
    )


class _Requests:
    """SendRequest bodies for one launch. Each arm's request is built and validated once (the
    model); each member's body is that request's JSON with only the member's own fields replaced —
    validating and serialising a million identical contents would be most of a launch's CPU. The
    fields replaced are plain strings (the send id, the member id from the projection, the
    personalisation values), so every body is exactly what ``model_dump_json`` would give."""

    def __init__(self, campaign: Campaign, now: datetime, not_after: datetime | None) -> None:
        self.campaign, self.now, self.not_after = campaign, now, not_after
        self.templates: dict[str, dict[str, Any]] = {}

    def body_for(self, target: Target, arm: str) -> str:
        template = self.templates.get(arm)
        values = personalisation(target)
        if template is None:
            # Built without the member's values: the template keeps only what every member shares.
            request = send_request(self.campaign, target.member_id, arm, {}, self.now, self.not_after)
            template = request.model_dump(mode="json")
            self.templates[arm] = template
        body = dict(template)
        body["send_id"] = f"cmp#{self.campaign.campaign_id}#{target.member_id}"
        body["member_id"] = target.member_id
        body["personalisation"] = {**values, **template["personalisation"]}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def bucket_count(audience: int) -> int:
    return max(1, -(-audience // BUCKET_MEMBERS))


def assignment_buckets(resolved: ResolvedAudience) -> dict[int, dict[str, list[str]]]:
    """bucket → arm → member ids."""
    n = bucket_count(len(resolved.ordered))
    out: dict[int, dict[str, list[str]]] = {}
    for target, arm in resolved.ordered:
        out.setdefault(assignment_bucket(target.member_id, n), {}).setdefault(arm, []).append(
            target.member_id
        )
    return out


class LaunchStore(Protocol):
    def put_assignment_buckets(
        self, campaign: Campaign, buckets: Mapping[int, Mapping[str, Sequence[str]]], at: datetime
    ) -> None: ...

    def save_cursor(self, campaign_id: str, cursor: int) -> None: ...

    def close_cancelled_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], buckets: int, at: datetime
    ) -> bool:
        """A launch a cancellation stopped: the launch index item and counters (once), no event."""

    def finish_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], event: CampaignLaunched, buckets: int
    ) -> bool:
        """launching → launched with the counters, the launch index item and the event (once;
        False if already done)."""


class Dispatch(Protocol):
    def enqueue(self, requests: Sequence[SendRequest]) -> None:
        """SendMessageBatch in tens; raises if some could not be queued after retries."""

    def enqueue_bodies(self, bodies: Sequence[str]) -> None:
        """The same for bodies already serialised (SendRequest JSON)."""


@dataclass(frozen=True)
class LaunchProgress:
    done: bool
    cursor: int
    queued: int
    cancelled: bool = False
    # Not done and paced (quiet hours, or this minute's share queued): continue at this time.
    resume_at: datetime | None = None
    # Not done because a run queued its minute's share (``budget``), not for lack of time.
    paced: bool = False


@dataclass(frozen=True)
class LaunchPace:
    """The planning-time guardrails of a launch: not during quiet hours, not faster than the rate."""

    per_minute: int
    quiet: QuietHours
    zone: tzinfo

    def quiet_until(self, now: datetime) -> datetime | None:
        return self.quiet.end_if_quiet(now, self.zone)


def run_launch(
    campaign: Campaign,
    resolved: ResolvedAudience,
    *,
    store: LaunchStore,
    dispatch: Dispatch,
    now: datetime,
    deferral: timedelta,
    snapshot_id: str | None,
    cursor: int = 0,
    keep_going: Callable[[], bool] = lambda: True,
    page: int = PAGE,
    cancelled: Callable[[], bool] = lambda: False,
    budget: int | None = None,
) -> LaunchProgress:
    """Process pages from ``cursor`` while ``keep_going()``; close the launch after the last.

    ``cancelled()`` is asked before each page (one small read per 5,000 members): a cancelled
    campaign stops there, its launch entered in the index without ``CampaignLaunched`` (what was
    queued already is suppressed by dispatch, which reads the same marker). With ``budget``, the
    run stops (``paced``) once it has queued that many requests; pages shrink to fit it."""
    ordered = resolved.ordered
    if budget is not None:
        page = max(1, min(page, budget))
    requests_for = _Requests(campaign, now, now + deferral)
    queued = 0
    if cursor == 0:
        store.put_assignment_buckets(campaign, assignment_buckets(resolved), now)
    while cursor < len(ordered):
        if cancelled():
            store.close_cancelled_launch(campaign, dict(resolved.counts()), bucket_count(len(ordered)), now)
            return LaunchProgress(done=True, cursor=cursor, queued=queued, cancelled=True)
        chunk = ordered[cursor : cursor + page]
        bodies = [requests_for.body_for(t, arm) for t, arm in chunk if arm not in {CONTROL, HOLDOUT}]
        dispatch.enqueue_bodies(bodies)
        queued += len(bodies)
        cursor += len(chunk)
        if cursor < len(ordered):
            store.save_cursor(campaign.campaign_id, cursor)
            if budget is not None and queued + page > budget:
                return LaunchProgress(done=False, cursor=cursor, queued=queued, paced=True)
            if not keep_going():
                return LaunchProgress(done=False, cursor=cursor, queued=queued)
    counts = resolved.counts()
    treated = sum(n for arm, n in counts.items() if arm not in {CONTROL, HOLDOUT})
    event = CampaignLaunched(
        campaign_id=campaign.campaign_id,
        kind=campaign.kind,
        segment_id=campaign.segment_id,
        audience=len(ordered),
        queued=treated,
        control=counts.get(CONTROL, 0),
        holdout=counts.get(HOLDOUT, 0),
        variants=campaign.variant_names(),
        snapshot_id=snapshot_id,
        launched_at=now,
    )
    store.finish_launch(campaign, dict(counts), event, bucket_count(len(ordered)))
    return LaunchProgress(done=True, cursor=cursor, queued=queued)


# --- the launch job (CampaignsLaunchFunction) ------------------------------------------------------


class LaunchCampaigns(Protocol):
    def get_with_cursor(self, campaign_id: str) -> tuple[Campaign, int] | None: ...

    def start_launch(self, campaign_id: str, now: datetime) -> Campaign: ...

    def set_snapshot(self, campaign_id: str, snapshot_id: str) -> str: ...

    def is_cancelled(self, campaign_id: str) -> bool: ...


class LaunchRequeue(Protocol):
    def request_launch(self, campaign_id: str, cursor: int = 0) -> None: ...

    def resume_launch(self, campaign_id: str, cursor: int, at: datetime) -> None:
        """Continue the launch from ``cursor`` at ``at`` (a one-time schedule; idempotent)."""


@dataclass(frozen=True)
class LaunchJob:
    campaign_id: str
    cursor: int = 0
    scheduled: bool = False


_last_resolved: dict[tuple[str, str, str, str, int], ResolvedAudience] = {}


def _resolved_for(
    key: tuple[str, str, str, str, int], compute: Callable[[], ResolvedAudience]
) -> ResolvedAudience:
    """The resolved audience of the launch this container worked on last. A paced launch runs
    once a minute from the same campaign and snapshot, usually in the same warm container; the
    dealing is a pure function of the key, so keeping it spares ~12 s of CPU per million members
    per run. One entry: a container works on one launch at a time (BatchSize 1)."""
    found = _last_resolved.get(key)
    if found is None:
        _last_resolved.clear()
        found = _last_resolved[key] = compute()
    return found


def launch_job(
    job: LaunchJob,
    *,
    campaigns: LaunchCampaigns,
    store: LaunchStore,
    audience_for: Callable[[str | None], Audience],
    dispatch: Dispatch,
    requeue: LaunchRequeue,
    now: datetime,
    control_salt: str,
    control_basis_points: int,
    deferral: timedelta,
    keep_going: Callable[[], bool] = lambda: True,
    page: int = PAGE,
    pace: LaunchPace | None = None,
) -> LaunchProgress | None:
    """One run of a launch job; None when there is nothing (more) to do for this campaign.

    ``audience_for(snapshot_id)`` loads that snapshot, or with None the current one (materialised
    first if too old). With ``pace``, a run in quiet hours queues nothing and continues at their
    end, and a run queues at most ``pace.per_minute`` requests, the next run a minute later."""
    loaded = campaigns.get_with_cursor(job.campaign_id)
    if loaded is None:
        return None
    campaign, saved_cursor = loaded
    if job.scheduled:
        # The schedule's own job starts the launch; if someone launched early (or cancelled), the
        # schedule is stale and must not run a second worker beside the first.
        if campaign.status != "scheduled":
            return None
        campaign = campaigns.start_launch(job.campaign_id, now)
        saved_cursor = 0
    if campaign.status != "launching" or campaign.launched_at is None:
        return None  # launched already, cancelled, or a stale schedule
    cursor = max(job.cursor, saved_cursor)
    quiet_end = pace.quiet_until(now) if pace is not None else None
    if quiet_end is not None:
        # Before the snapshot is fixed: the audience is taken when the messages can go out.
        requeue.resume_launch(job.campaign_id, cursor, quiet_end)
        return LaunchProgress(done=False, cursor=cursor, queued=0, resume_at=quiet_end)
    at = campaign.launched_at
    if campaign.snapshot_id is None:
        fresh = audience_for(None)
        snapshot_id = campaigns.set_snapshot(job.campaign_id, fresh.manifest.snapshot_id)
        audience = fresh if snapshot_id == fresh.manifest.snapshot_id else audience_for(snapshot_id)
    else:
        snapshot_id = campaign.snapshot_id
        audience = audience_for(snapshot_id)
    resolved = _resolved_for(
        (campaign.campaign_id, snapshot_id, at.isoformat(), control_salt, control_basis_points),
        lambda: resolve(
            campaign, audience, at, control_salt=control_salt, control_basis_points=control_basis_points
        ),
    )
    progress = run_launch(
        campaign,
        resolved,
        store=store,
        dispatch=dispatch,
        now=at,
        deferral=deferral,
        snapshot_id=snapshot_id,
        cursor=cursor,
        keep_going=keep_going,
        page=page,
        cancelled=lambda: campaigns.is_cancelled(job.campaign_id),
        budget=pace.per_minute if pace is not None else None,
    )
    if progress.paced:
        resume_at = now + timedelta(minutes=1)
        requeue.resume_launch(job.campaign_id, progress.cursor, resume_at)
        return LaunchProgress(
            done=False, cursor=progress.cursor, queued=progress.queued, resume_at=resume_at, paced=True
        )
    if not progress.done:
        requeue.request_launch(job.campaign_id, progress.cursor)
    return progress
