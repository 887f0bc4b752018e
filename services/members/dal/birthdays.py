"""The birthday job's reads and writes in MembersTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| profile (index) | ``MEMBER#<id>`` | ``PROFILE`` — gsi2 ``BDAY#<MMDD>`` / ``<id>`` (sparse, keys only) |
| yearly marker | ``MEMBER#<id>`` | ``BIRTHDAY#<year>`` (no date: ``ttl`` = Jan 31 of the next year) |
| checkpoint | ``JOB#birthdays`` | ``<run key>`` (``day#2026-11-23`` / ``month#2026-11``) |
| outbox | ``OUTBOX#<event id>`` | ``OUTBOX`` |

Per batch of members one TransactWriteItems: per member a ConditionCheck on the profile (still
active, still born on this MMDD — the index is eventually consistent and the member may have
been erased or changed the birthday since), the marker Put (``attribute_not_exists``) and the
outbox Put. A batch cancelled by a condition is retried member by member, so one member already
marked (a re-run) does not hold back the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from services.members.logic.birthdays import (
    BirthdayMode,
    Checkpoint,
    Due,
    index_key,
    marker_year,
)
from shared import clock
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, to_item, transact_write
from shared.events.contracts import MemberBirthdayToday
from shared.outbox import outbox_item

JOB_PK = "JOB#birthdays"
MARKER_PREFIX = "BIRTHDAY#"
PRODUCER = "members.birthdays"


def marker_sk(year: int) -> str:
    return f"{MARKER_PREFIX}{year}"


class DynamoBirthdayRepository:
    def __init__(self, table_name: str, *, correlation_id: str, now: datetime | None = None) -> None:
        self.table_name = table_name
        self.correlation_id = correlation_id
        self.now = now or clock.now()

    def checkpoint(self, run_key: str) -> Checkpoint | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name, Key=to_item({"pk": JOB_PK, "sk": run_key}), ConsistentRead=True
            )
            .get("Item")
        )
        if not item:
            return None
        plain = from_item(item)
        return Checkpoint(frozenset(plain.get("done") or []), complete=bool(plain.get("complete")))

    def save_checkpoint(self, run_key: str, checkpoint: Checkpoint) -> None:
        item: dict[str, Any] = {
            "pk": JOB_PK,
            "sk": run_key,
            "entity": "job_checkpoint",
            "done": sorted(checkpoint.done),
            "complete": checkpoint.complete,
            "updated_at": clock.to_utc_iso(self.now),
            "ttl": clock.epoch_seconds(self.now) + 90 * 86_400,
        }
        client("dynamodb").put_item(TableName=self.table_name, Item=to_item(item))

    def members_born_on(self, month_day: str) -> Iterator[list[str]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": index_key(month_day)}),
        }
        ddb = client("dynamodb")
        while True:
            page = ddb.query(**kwargs)
            ids = [str(from_item(raw)["gsi2sk"]) for raw in page.get("Items", [])]
            if ids:
                yield ids
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _ops(self, member_id: str, due: Due, mode: BirthdayMode) -> list[dict[str, Any]]:
        year = marker_year(due.birthday_on)
        event = MemberBirthdayToday(member_id=member_id, birthday_on=due.birthday_on, mode=mode)
        record = outbox_item(event, correlation_id=self.correlation_id, producer=PRODUCER, now=self.now)
        expires = datetime(year + 1, 1, 31, tzinfo=UTC)
        marker = {"pk": f"MEMBER#{member_id}", "sk": marker_sk(year), "entity": "birthday_marker"}
        return [
            {
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": to_item({"pk": f"MEMBER#{member_id}", "sk": "PROFILE"}),
                    "ConditionExpression": "#status = :active AND gsi2pk = :bday",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item(
                        {":active": "active", ":bday": index_key(due.month_day)}
                    ),
                }
            },
            put_op(
                self.table_name,
                {**marker, "ttl": clock.epoch_seconds(expires)},
                condition="attribute_not_exists(pk)",
            ),
            put_op(self.table_name, record, condition="attribute_not_exists(pk)"),
        ]

    def publish(self, due: Due, member_ids: Sequence[str], *, mode: BirthdayMode) -> tuple[int, int]:
        try:
            transact_write([op for m in member_ids for op in self._ops(m, due, mode)])
            return len(member_ids), 0
        except ConditionalCheckFailed:
            if len(member_ids) == 1:
                return 0, 1
        published = skipped = 0
        for member_id in member_ids:
            try:
                transact_write(self._ops(member_id, due, mode))
                published += 1
            except ConditionalCheckFailed:
                skipped += 1
        return published, skipped
