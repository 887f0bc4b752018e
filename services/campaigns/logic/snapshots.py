"""Audience snapshots: the member-attribute projection materialised as bitmap shards.

A snapshot is written by the materialisation (daily schedule, and before a launch when the latest
is older than ``snapshot_max_age_hours``): for each of the 16 shards, one paginated Query of the
sparse audience index → rows → :class:`ShardIndex` → one S3 object; then a manifest names the new
snapshot as the latest. Readers (previews, launches) load the manifest and the shards, and keep
them in the container while the manifest names the same snapshot.

Freshness: a snapshot is as old as its ``created_at``; every message is checked again at send time
(consent, caps, quiet hours — dispatch), so a stale row can only make a member *eligible* who is then
suppressed, never send to one who withdrew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.campaigns.logic.audience_index import ShardIndex, build_shard
from services.campaigns.models.audience import AUDIENCE_SHARDS, MemberAttributes


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    created_at: datetime
    members: int
    shards: int


class SnapshotStore(Protocol):
    def put_shard(self, snapshot_id: str, shard: int, data: bytes) -> None: ...

    def get_shard(self, snapshot_id: str, shard: int) -> bytes: ...

    def put_manifest(self, manifest: Manifest) -> None: ...

    def latest(self) -> Manifest | None: ...


class RowSource(Protocol):
    def shard_rows(self, shard: int) -> Iterable[MemberAttributes]: ...


def snapshot_id_for(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"


def materialise(source: RowSource, store: SnapshotStore, now: datetime) -> Manifest:
    """Write every shard, then the manifest (readers never see half a snapshot)."""
    snapshot_id = snapshot_id_for(now)
    total = 0
    for shard in range(AUDIENCE_SHARDS):
        rows = list(source.shard_rows(shard))
        total += len(rows)
        store.put_shard(snapshot_id, shard, build_shard(rows).dumps())
    manifest = Manifest(snapshot_id=snapshot_id, created_at=now, members=total, shards=AUDIENCE_SHARDS)
    store.put_manifest(manifest)
    return manifest


@dataclass(frozen=True)
class Audience:
    manifest: Manifest
    shards: list[ShardIndex]


_CACHE: dict[str, Audience] = {}


def load_audience(store: SnapshotStore, manifest: Manifest) -> Audience:
    """The snapshot's shards, from the container's cache when it holds this snapshot."""
    cached = _CACHE.get(manifest.snapshot_id)
    if cached is not None:
        return cached
    shards = [ShardIndex.loads(store.get_shard(manifest.snapshot_id, s)) for s in range(manifest.shards)]
    audience = Audience(manifest, shards)
    _CACHE.clear()  # one snapshot per container: a million members is memory enough
    _CACHE[manifest.snapshot_id] = audience
    return audience


def current_audience(
    store: SnapshotStore,
    now: datetime,
    max_age_seconds: float | None,
    rematerialise: Callable[[], Manifest] | None = None,
) -> Audience | None:
    """The latest snapshot; re-materialised first when older than ``max_age_seconds`` and a
    ``rematerialise`` is given. None when there is no snapshot at all and none may be made."""
    manifest = store.latest()
    stale = manifest is None or (
        max_age_seconds is not None and (now - manifest.created_at).total_seconds() > max_age_seconds
    )
    if stale and rematerialise is not None:
        manifest = rematerialise()
    return load_audience(store, manifest) if manifest is not None else None
