# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""The tickets part of a member export against an erasure that overtakes it (handlers on moto).

Members deletes the parts it finds when the member erases, but tickets' export consumer may write
its part later. Like loyalty's and campaigns', the part is written through
``shared.exports.write_part_guarded``: a pointer ``MEMBER#<id>`` / ``EXPORT#<export_id>`` first,
then the object, then a second look — here at the exported tickets themselves (tickets keep no
erasure tombstone by member id). Whatever order the export and the erasure run in, no part with
the member's data outlives the erasure, and no pointer with the member id either.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.tickets.dal.adapters import S3ExportWriter
from services.tickets.dal.exports import DynamoTicketsExportPointers
from services.tickets.dal.tickets import DynamoTicketsRepository
from services.tickets.handlers import on_events
from shared import clock
from shared.events.contracts import MemberErased, MemberExportRequested
from shared.events.samples import sample_data
from tests.integration.helpers import FakeContext, aws, contract_bus_event, sqs_event
from tests.integration.tickets.support import MEMBER, TABLE, Clock, items, open_ticket

BUCKET = "exports"
EXPORT_ID = "01HXA0000000000000000000EX"
PART = f"exports/{EXPORT_ID}/tickets.json"


@pytest.fixture
def exports(tickets_env: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    aws("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("MEMBER_EXPORTS_BUCKET", BUCKET)
    return tickets_env


def request(member_id: str = MEMBER, export_id: str = EXPORT_ID) -> MemberExportRequested:
    return MemberExportRequested.model_validate(
        sample_data(
            "MemberExportRequested",
            {
                "member_id": member_id,
                "export_id": export_id,
                "object_prefix": f"exports/{export_id}/",
                "expires_at": "2026-11-30T02:00:00Z",
            },
        )
    )


ERASED = MemberErased.model_validate(sample_data("MemberErased", {"member_id": MEMBER}))


def deliver(*models: Any) -> dict[str, Any]:
    result: dict[str, Any] = on_events.handler(
        sqs_event([contract_bus_event(m) for m in models]), FakeContext()
    )
    return result


def erase() -> None:
    assert on_events.handler(sqs_event([contract_bus_event(ERASED)]), FakeContext()) == {
        "batchItemFailures": []
    }


def keys() -> list[str]:
    return sorted(o["Key"] for o in aws("s3").list_objects_v2(Bucket=BUCKET).get("Contents", []))


def pointers() -> list[dict[str, Any]]:
    return [i for i in items() if str(i["sk"]).startswith("EXPORT#")]


def with_member_id() -> list[dict[str, Any]]:
    return [i for i in items() if MEMBER in json.dumps(i, default=repr) and i.get("entity") != "outbox"]


@pytest.mark.usefixtures("exports")
def test_a_part_with_data_is_remembered_in_the_members_partition() -> None:
    open_ticket("停车场收费员态度很差")
    assert deliver(request()) == {"batchItemFailures": []}
    assert keys() == [PART]
    [pointer] = pointers()
    assert (pointer["pk"], pointer["object_key"], pointer["entity"]) == (
        f"MEMBER#{MEMBER}",
        PART,
        "export_part_ref",
    )
    assert pointer["ttl"] == int(clock.now().timestamp()) + 8 * 86_400  # objects live 7 days


@pytest.mark.usefixtures("exports")
def test_a_part_without_data_needs_no_pointer() -> None:
    assert deliver(request()) == {"batchItemFailures": []}
    assert keys() == [PART]
    assert pointers() == []


@pytest.mark.usefixtures("exports")
def test_an_erasure_after_the_part_was_written_deletes_it_and_its_pointer() -> None:
    """Members' own sweep ran before the part existed: the pointer is how tickets finds it."""
    open_ticket("停车场收费员态度很差")
    deliver(request())
    other = request(member_id="01HX0000000000000000000001", export_id="01HXA0000000000000000000OT")
    deliver(other)
    erase()
    assert keys() == ["exports/01HXA0000000000000000000OT/tickets.json"]  # only the other member's
    assert pointers() == []
    assert with_member_id() == []


@pytest.mark.usefixtures("exports")
def test_an_erasure_that_overtakes_the_write_deletes_the_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """The erasure runs completely between the export's read and its write (so its sweep found no
    pointer yet): the second look sees the tickets pseudonymised and removes the object."""
    open_ticket("我叫王芳，停车场收费员态度很差")
    original = DynamoTicketsRepository.messages

    def read_then_erase(self: DynamoTicketsRepository, ticket_id: str, *, include_internal: bool) -> Any:
        found = original(self, ticket_id, include_internal=include_internal)
        if not include_internal:  # the export's read (the erasure reads with internal notes)
            monkeypatch.setattr(DynamoTicketsRepository, "messages", original)
            erase()
        return found

    monkeypatch.setattr(DynamoTicketsRepository, "messages", read_then_erase)
    assert deliver(request()) == {"batchItemFailures": []}
    assert keys() == []
    assert pointers() == []
    assert with_member_id() == []  # not even the pointer


@pytest.mark.usefixtures("exports")
def test_an_erasure_that_sweeps_while_the_object_is_written_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The erasure runs right after the object is written: its sweep finds the pointer (written
    first) and deletes the object; the export's second look deletes it again, harmlessly."""
    open_ticket("停车场收费员态度很差")
    original = S3ExportWriter.write

    def write_then_erase(self: S3ExportWriter, prefix: str, part: Any) -> str:
        key = original(self, prefix, part)
        erase()
        return key

    monkeypatch.setattr(S3ExportWriter, "write", write_then_erase)
    assert (
        on_events.write_export(
            DynamoTicketsRepository(TABLE),
            S3ExportWriter(BUCKET),
            request(),
            DynamoTicketsExportPointers(TABLE),
        )
        is None
    )
    assert keys() == []
    assert pointers() == []


@pytest.mark.usefixtures("exports")
def test_an_erased_member_gets_an_empty_part_and_no_pointer() -> None:
    open_ticket("停车场收费员态度很差")
    erase()
    assert deliver(request()) == {"batchItemFailures": []}
    part = json.loads(aws("s3").get_object(Bucket=BUCKET, Key=PART)["Body"].read())
    assert (part["data"], part["note"]) == (None, "no data")
    assert pointers() == []


@pytest.mark.usefixtures("exports")
def test_without_a_bucket_an_erasure_with_parts_to_delete_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    open_ticket("停车场收费员态度很差")
    deliver(request())
    monkeypatch.delenv("MEMBER_EXPORTS_BUCKET")
    result = on_events.handler(sqs_event([contract_bus_event(ERASED)]), FakeContext())
    assert len(result["batchItemFailures"]) == 1
    assert keys() == [PART] and len(pointers()) == 1  # nothing lost: the retry deletes them
    monkeypatch.setenv("MEMBER_EXPORTS_BUCKET", BUCKET)
    erase()
    assert keys() == [] and pointers() == []
