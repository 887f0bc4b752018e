"""Launches never target a member erased since their audience snapshot was taken.

An audience snapshot (S3, logic/snapshots.py) keeps the member ids it was built from until the
bucket's lifecycle deletes it (7 days), and a launch may use one up to ``snapshot_max_age_hours``
old (or, resuming, the one fixed on the campaign). The erasure deletes the member's projection rows,
so every *later* materialisation leaves them out — but a snapshot taken before the erasure still
lists them, and a launch from it would write their id into an assignment bucket and queue a
SendRequest whose send record brings the id back into CampaignsTable after the erasure cleaned it.

So the erasure also records the member, by campaigns' pseudonym (HMAC; the tombstone holds the
same), in a small set of the last 8 days' erasures (dal/recent_erasures.py) — longer than any
snapshot lives. The launch worker wraps its store and dispatch ports (:class:`SkipErasedStore`,
:class:`SkipErasedDispatch`): members in the set are left out of the assignment buckets and get no
SendRequest. The dealing itself is untouched (arms and the cursor stay a pure function of the
campaign and the snapshot, so a resumed launch deals exactly as before); the set is read again for
every page, so an erasure during a launch stops the member's message from the next page on.
Applying the whole set to any snapshot is safe: an erased member is in no newer snapshot anyway.

**Erased while the launch runs.** The buckets are written once, at the launch's start, and the
erasure looks for buckets through the launch index — which a launch enters only at its end. So
the launch registers itself (``LaunchErasures.register_launch``, ``LAUNCHING`` / ``<campaign>``)
*before* its bucket writes, and the erasure also visits every registered launch
(dal/recent_erasures.py). The one window left — an erasure whose look at the registrations came
before the buckets existed — is closed by the launch reading the set once more *after* writing
them: anyone erased in between is taken out of their bucket there (an optimistic edit of the one
bucket, like the erasure's own, so the two never overwrite each other).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from services.campaigns.logic.launch import bucket_count

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.campaigns.logic.launch import Dispatch, LaunchStore
    from services.campaigns.models.campaigns import Campaign
    from services.campaigns.models.dispatch import SendRequest
    from shared.events.contracts import CampaignLaunched

__all__ = ["LaunchErasures", "RecentErasures", "SkipErasedDispatch", "SkipErasedStore", "split_erased"]

BUCKETS_OUTLIVE_WINDOW = timedelta(days=2)  # as the buckets' own TTL (dal/planning.py)


class LaunchErasures(Protocol):
    def register_launch(self, campaign_id: str, buckets: int, buckets_expire_at: datetime) -> None:
        """This launch holds (or is about to write) ``buckets`` assignment buckets until then."""

    def forget_in_launch(self, campaign_id: str, buckets: int, member_id: str) -> bool:
        """The member out of their bucket of this launch (optimistic, idempotent)."""


class RecentErasures:
    """Is a member among the recently erased? ``load`` reads the set of pseudonyms (one Query);
    ``pseudonymiser`` gives the member id → pseudonym function and is called once, the first time
    the set is not empty (it reads campaigns' key)."""

    def __init__(
        self, load: Callable[[], frozenset[str]], pseudonymiser: Callable[[], Callable[[str], str]]
    ) -> None:
        self._load = load
        self._pseudonymiser = pseudonymiser
        self._pseudonym_of: Callable[[str], str] | None = None
        self.pseudonyms: frozenset[str] = frozenset()
        self.skipped = 0

    def refresh(self) -> None:
        self.pseudonyms = self._load()
        if self.pseudonyms and self._pseudonym_of is None:
            self._pseudonym_of = self._pseudonymiser()

    def erased(self, member_id: str) -> bool:
        return self.among(member_id, self.pseudonyms)

    def among(self, member_id: str, pseudonyms: frozenset[str]) -> bool:
        return self._pseudonym_of is not None and self._pseudonym_of(member_id) in pseudonyms

    def keep(self, member_ids: Sequence[str]) -> list[str]:
        kept = [m for m in member_ids if not self.erased(m)]
        self.skipped += len(member_ids) - len(kept)
        return kept


class SkipErasedStore:
    """A :class:`~services.campaigns.logic.launch.LaunchStore` whose assignment buckets leave out the
    recently erased (everything else passes through)."""

    def __init__(
        self, inner: LaunchStore, erasures: RecentErasures, launches: LaunchErasures | None = None
    ) -> None:
        self.inner = inner
        self.erasures = erasures
        self.launches = launches

    def put_assignment_buckets(
        self, campaign: Campaign, buckets: Mapping[int, Mapping[str, Sequence[str]]], at: datetime
    ) -> None:
        # Every dealt member is in exactly one bucket (launch.assignment_buckets), so the count of
        # buckets the dealing used follows from the members — the erasure needs it to find one.
        dealt = sum(len(ids) for arms in buckets.values() for ids in arms.values())
        count = bucket_count(dealt)
        if self.launches is not None:  # registered first: see the module doc
            expire = at + timedelta(days=campaign.attribution_days) + BUCKETS_OUTLIVE_WINDOW
            self.launches.register_launch(campaign.campaign_id, count, expire)
        self.erasures.refresh()
        known = self.erasures.pseudonyms
        if known:
            kept: dict[int, dict[str, Sequence[str]]] = {}
            for bucket, arms in buckets.items():
                members = {arm: self.erasures.keep(ids) for arm, ids in arms.items()}
                if any(members.values()):
                    kept[bucket] = {arm: ids for arm, ids in members.items() if ids}
            buckets = kept
        self.inner.put_assignment_buckets(campaign, buckets, at)
        if self.launches is None:
            return
        self.erasures.refresh()
        late = self.erasures.pseudonyms - known
        if not late:
            return
        # Erased between the two reads (rare): one pseudonym per dealt member to find them.
        for arms in buckets.values():
            for ids in arms.values():
                for member_id in ids:
                    if self.erasures.among(member_id, late):
                        self.launches.forget_in_launch(campaign.campaign_id, count, member_id)
                        self.erasures.skipped += 1

    def save_cursor(self, campaign_id: str, cursor: int) -> None:
        self.inner.save_cursor(campaign_id, cursor)

    def close_cancelled_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], buckets: int, at: datetime
    ) -> bool:
        return self.inner.close_cancelled_launch(campaign, arm_counts, buckets, at)

    def finish_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], event: CampaignLaunched, buckets: int
    ) -> bool:
        return self.inner.finish_launch(campaign, arm_counts, event, buckets)


class SkipErasedDispatch:
    """A :class:`~services.campaigns.logic.launch.Dispatch` that drops requests for the recently
    erased; the set is read again for every page the launch queues."""

    def __init__(self, inner: Dispatch, erasures: RecentErasures) -> None:
        self.inner = inner
        self.erasures = erasures

    def enqueue(self, requests: Sequence[SendRequest]) -> None:
        self.erasures.refresh()
        if self.erasures.pseudonyms:
            kept = set(self.erasures.keep([r.member_id for r in requests]))
            requests = [r for r in requests if r.member_id in kept]
        self.inner.enqueue(requests)

    def enqueue_bodies(self, bodies: Sequence[str]) -> None:
        self.erasures.refresh()
        if self.erasures.pseudonyms:
            # Parsed only while someone was erased lately (~8 µs a body, plus the HMAC).
            kept = [b for b in bodies if not self.erasures.erased(str(json.loads(b)["member_id"]))]
            self.erasures.skipped += len(bodies) - len(kept)
            bodies = kept
        self.inner.enqueue_bodies(bodies)


def split_erased(requests: Sequence[SendRequest], erasures: RecentErasures) -> tuple[list[int], list[int]]:
    """Dispatch's check (indexes into ``requests``): (kept, erased). A request queued before its
    member's erasure — a launch page in flight, a journey step, a due deferral — must not create a
    send record, a ``MessageSuppressed`` event or a contact after it: those would bring the member
    id back into campaigns' table and onto the bus once the erasure has cleaned them. The set is
    read once per batch (one consistent Query, usually of a few items)."""
    erasures.refresh()
    if not erasures.pseudonyms:
        return list(range(len(requests))), []
    kept: list[int] = []
    erased: list[int] = []
    for i, request in enumerate(requests):
        (erased if erasures.erased(request.member_id) else kept).append(i)
    erasures.skipped += len(erased)
    return kept, erased
