"""Audience snapshots in S3 (``SNAPSHOT_BUCKET``), and the projection rows they are built from.

``audience/snapshots/<snapshot_id>/shard-<nn>.bin`` (zlib bitmap index, logic/audience_index.py;
expired after 7 days by the bucket's lifecycle) and
``audience/latest.json`` (the manifest, written last).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from services.campaigns.dal.audience import DynamoAttributeRepository, rows_from_items
from services.campaigns.logic.snapshots import Manifest
from services.campaigns.models.audience import MemberAttributes
from shared import clock
from shared.aws import client

MANIFEST_KEY = "audience/latest.json"


def _shard_key(snapshot_id: str, shard: int) -> str:
    return f"audience/snapshots/{snapshot_id}/shard-{shard:02d}.bin"


class S3SnapshotStore:
    """:class:`~services.campaigns.logic.snapshots.SnapshotStore` on S3."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put_shard(self, snapshot_id: str, shard: int, data: bytes) -> None:
        client("s3").put_object(Bucket=self.bucket, Key=_shard_key(snapshot_id, shard), Body=data)

    def get_shard(self, snapshot_id: str, shard: int) -> bytes:
        body = client("s3").get_object(Bucket=self.bucket, Key=_shard_key(snapshot_id, shard))["Body"]
        return bytes(body.read())

    def put_manifest(self, manifest: Manifest) -> None:
        body = {
            "snapshot_id": manifest.snapshot_id,
            "created_at": clock.to_utc_iso(manifest.created_at),
            "members": manifest.members,
            "shards": manifest.shards,
        }
        client("s3").put_object(
            Bucket=self.bucket,
            Key=MANIFEST_KEY,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
        )

    def latest(self) -> Manifest | None:
        s3 = client("s3")
        try:
            body = s3.get_object(Bucket=self.bucket, Key=MANIFEST_KEY)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        raw = json.loads(body)
        return Manifest(
            snapshot_id=raw["snapshot_id"],
            created_at=clock.parse_iso(raw["created_at"]),
            members=int(raw["members"]),
            shards=int(raw["shards"]),
        )


class DynamoRowSource:
    """:class:`~services.campaigns.logic.snapshots.RowSource`: one shard = one Query of gsi2."""

    def __init__(self, table_name: str) -> None:
        self.repo = DynamoAttributeRepository(table_name)

    def shard_rows(self, shard: int) -> Iterable[MemberAttributes]:
        return rows_from_items(self.repo.shard_items(shard))
