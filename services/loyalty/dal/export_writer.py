"""Writing loyalty's part of a member export to the members' export bucket, and deleting it.

Apart from the reader (dal/exports.py) because the MemberErased consumer deletes parts an erasure
overtook and must not load the export reader's item converters and models to do so (issue 2: cold
imports).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.loyalty.logic.exports import SERVICE
from shared.aws import client


class S3ExportWriter:
    """Loyalty's part of a member export: one JSON object ``<prefix>loyalty.json`` in the members'
    export bucket (SSE-KMS by the bucket's default; overwriting is idempotent)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @staticmethod
    def key_of(prefix: str) -> str:
        return f"{prefix}{SERVICE}.json"

    def delete(self, key: str) -> None:
        client("s3").delete_object(Bucket=self.bucket, Key=key)

    def write(self, prefix: str, part: Mapping[str, Any]) -> str:
        key = self.key_of(prefix)
        client("s3").put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(part, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            ContentType="application/json; charset=utf-8",
        )
        return key
