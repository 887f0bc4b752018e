"""Writing loyalty's part of a member export to the members' export bucket, and deleting it.

Apart from the reader (dal/exports.py) because the MemberErased consumer deletes parts an erasure
overtook and must not load the export reader's item converters and models to do so (issue 2: cold
imports).
"""

from __future__ import annotations

from services.loyalty.logic.exports import SERVICE
from shared.exports import ExportPartWriter


class S3ExportWriter(ExportPartWriter):
    """Loyalty's part of a member export: ``<prefix>loyalty.json`` in the members' export bucket."""

    def __init__(self, bucket: str) -> None:
        super().__init__(bucket, SERVICE)
