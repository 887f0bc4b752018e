"""Knowledge-base articles in TicketsTable (``KB`` / ``ARTICLE#<id>``) and the search index.

Every change of an article adds 1 to ``KB`` / ``META``'s ``version`` in the same transaction.

**The index is stored pre-built** (:class:`services.tickets.logic.kb.KbSnapshot`, a few MB at
10,000 articles): ``KB`` / ``INDEX`` (the head: ``version``, ``parts``, ``size``, ``sha256``) and
``KB`` / ``INDEX#<version>#<part>`` (binary chunks of ≤ 350 KB, under DynamoDB's 400 KB item
limit). The article routes write it right after a change (:meth:`DynamoKbRepository.refresh`); a
function whose warm copy is older than ``META`` loads the stored one when its version is current
(GetItem head + one Query of the chunks), and only when none is (the refresh failed, or lost a race)
builds from the articles' stored term counts and stores what it built — so one function per
change pays the build, not every cold one. The head moves only forward (conditional Put); the
previous version's chunks are deleted after it moved (a reader caught in between sees a checksum
mismatch and builds). Two refreshes racing past each other can leave a superseded version's chunks
behind: harmless (never read again), removed by nothing — rare enough not to need a sweeper.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from services.tickets.dal.table import TableRepository
from services.tickets.logic.kb import KbSnapshot, article_text, term_counts
from services.tickets.models.entities import KbArticle
from shared import clock
from shared.dynamo import (
    ConditionalCheckFailed,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)
from shared.observability import get_logger

__all__ = ["PART_BYTES", "DynamoKbRepository", "clear_index_cache"]

PART_BYTES = 350_000
_cache_lock = threading.Lock()
_cache: dict[str, KbSnapshot] = {}


def clear_index_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _meta_bump(table: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": to_item({"pk": "KB", "sk": "META"}),
            "UpdateExpression": "ADD version :one",
            "ExpressionAttributeValues": to_item({":one": 1}),
        }
    }


def _item(article: KbArticle) -> dict[str, Any]:
    item = article.model_dump(mode="json")
    item["updated_at"] = clock.to_utc_iso(article.updated_at)
    # The article's search terms, segmented once here rather than by every cold function.
    item["terms"] = term_counts(article_text(article))
    return item | {"pk": "KB", "sk": f"ARTICLE#{article.article_id}", "entity": "kb_article"}


class DynamoKbRepository(TableRepository):
    def get(self, article_id: str) -> KbArticle | None:
        item = self._get_item("KB", f"ARTICLE#{article_id}", consistent=True)
        return KbArticle.model_validate(item) if item else None

    def all(self) -> list[KbArticle]:
        return [a for a, _terms in self._all_with_terms()]

    def _all_with_terms(self) -> list[tuple[KbArticle, dict[str, int] | None]]:
        # Consistent: an index labelled with the version read before must hold that version's
        # articles (an eventually consistent read could miss the change that moved it).
        found = self._query_partition("KB", "ARTICLE#", consistent=True)
        return [(KbArticle.model_validate(i), i.get("terms")) for i in found]

    def put(self, article: KbArticle, expected_version: int | None) -> bool:
        """Create (``expected_version`` None) or replace the version read; False on a conflict."""
        if expected_version is None:
            op = put_op(self.table, _item(article), condition="attribute_not_exists(pk)")
        else:
            op = put_op(self.table, _item(article), condition="version = :v", values={":v": expected_version})
        try:
            transact_write([op, _meta_bump(self.table)], client=self.client)
        except ConditionalCheckFailed:
            return False
        return True

    def delete(self, article_id: str) -> bool:
        op = {
            "Delete": {
                "TableName": self.table,
                "Key": to_item({"pk": "KB", "sk": f"ARTICLE#{article_id}"}),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        try:
            transact_write([op, _meta_bump(self.table)], client=self.client)
        except ConditionalCheckFailed:
            return False
        return True

    def version(self) -> int:
        item = self._get_item("KB", "META")
        return int(item.get("version", 0)) if item else 0

    # --- the pre-built index -------------------------------------------------------------------

    def snapshot(self) -> KbSnapshot:
        """The index and cards of the published articles at the current version: the warm copy, else
        the stored one, else built from the articles (and stored for the next cold function)."""
        version = self.version()
        with _cache_lock:
            cached = _cache.get(self.table)
        if cached is not None and cached.version == version:
            return cached
        snapshot = self.load_stored(version)
        if snapshot is None:
            snapshot = self.build(version)
            try:
                self.store(snapshot)
            except Exception:  # the search answers anyway; the next change or cold function stores it
                get_logger().exception("could not store the knowledge-base index")
        with _cache_lock:
            _cache[self.table] = snapshot
        return snapshot

    def build(self, version: int) -> KbSnapshot:
        return KbSnapshot.build(version, self._all_with_terms())

    def refresh(self) -> KbSnapshot:
        """After an article changed: build the index at the new version and store it (the article
        routes call this, so cold functions load instead of build)."""
        snapshot = self.build(self.version())
        self.store(snapshot)
        with _cache_lock:
            _cache[self.table] = snapshot
        return snapshot

    def _head(self) -> dict[str, Any] | None:
        return self._get_item("KB", "INDEX", consistent=True)

    def load_stored(self, version: int) -> KbSnapshot | None:
        """The stored snapshot if it is at ``version`` and whole; None otherwise."""
        head = self._head()
        if head is None or int(head["version"]) != version:
            return None
        chunks: list[bytes] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": "KB"}, ":p": {"S": f"INDEX#{version:010d}#"}},
            "ConsistentRead": True,
        }
        while True:  # raw pages: the chunks stay bytes (no deserialising of the Binary values)
            page = self.client.query(**request)
            chunks += [bytes(item["data"]["B"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        blob = b"".join(chunks)
        if len(chunks) != int(head["parts"]) or hashlib.sha256(blob).hexdigest() != head["sha256"]:
            return None  # replaced while we read, or a refresh that died half-way
        try:
            return KbSnapshot.from_bytes(blob)
        except ValueError:
            get_logger().exception("stored knowledge-base index unreadable; building")
            return None

    def store(self, snapshot: KbSnapshot) -> bool:
        """Write the chunks, then move the head forward to them; False if the head already names
        this version or a newer one (nothing to do: someone stored it)."""
        previous = self._head()
        if previous is not None and int(previous["version"]) >= snapshot.version:
            return False
        blob = snapshot.to_bytes()
        parts = [blob[i : i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]
        for number, part in enumerate(parts):
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": "KB"},
                    "sk": {"S": f"INDEX#{snapshot.version:010d}#{number:04d}"},
                    "entity": {"S": "kb_index_part"},
                    "data": {"B": part},
                },
            )
        head = {
            "pk": "KB",
            "sk": "INDEX",
            "entity": "kb_index",
            "version": snapshot.version,
            "parts": len(parts),
            "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "built_at": clock.to_utc_iso(clock.now()),
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(head),
                ConditionExpression="attribute_not_exists(pk) OR version < :v",
                ExpressionAttributeValues=to_item({":v": snapshot.version}),
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
            winner = self._head()
            if winner is not None and int(winner["version"]) > snapshot.version:
                self._delete_parts(snapshot.version, len(parts))  # a newer one won: ours is garbage
            return False  # (the same version: another writer wrote the same bytes; keep them)
        if previous is not None:
            self._delete_parts(int(previous["version"]), int(previous["parts"]))
        return True

    def _delete_parts(self, version: int, parts: int) -> None:
        for number in range(parts):
            self.client.delete_item(
                TableName=self.table,
                Key={"pk": {"S": "KB"}, "sk": {"S": f"INDEX#{version:010d}#{number:04d}"}},
            )

    def article_for_intent(self, snapshot: KbSnapshot, intent: str) -> KbArticle | None:
        """The newest published article answering a frequently asked question (one GetItem)."""
        article_id = snapshot.newest_for_intent(intent)
        return self.get(article_id) if article_id else None
