"""Outbox item → (simulated) stream batch → published on the bus → deleted from the table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import aws, dynamo
from shared.events import MemberRegistered, PurchaseRecorded, consume
from shared.outbox import outbox_item, publish_stream_batch
from tests.unit.shared.aws_fakes import BUS, BusWithQueue, RecordingEventsClient
from tests.unit.shared.helpers import stream_event

NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
TABLE = "mallcrm-test-loyalty"  # service_env's TABLE_NAME


def registered(n: int) -> MemberRegistered:
    return MemberRegistered(member_id=f"member-{n}", registered_at=NOW, channel="mini_program")


@pytest.fixture
def table(bus: BusWithQueue) -> str:
    """An empty table keyed like every MallCRM table (inside the bus fixture's moto)."""
    aws.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return TABLE


def stored(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Put ``items`` in the table (as the producers' transactions did) and return their stream batch."""
    for item in items:
        aws.client("dynamodb").put_item(TableName=TABLE, Item=dynamo.to_item(item))
    return stream_event(items)


def outbox_left() -> list[str]:
    page = aws.client("dynamodb").scan(TableName=TABLE)["Items"]
    return sorted(i["event_id"]["S"] for i in page if i.get("entity", {}).get("S") == "outbox")


def test_outbox_item_shape():
    data = PurchaseRecorded.model_validate(PurchaseRecorded.EXAMPLE)
    item = outbox_item(data, correlation_id="req-1", producer="LoyaltyApiFunction", now=NOW)
    assert item["pk"] == f"OUTBOX#{item['event_id']}"
    assert item["sk"] == "OUTBOX"
    assert item["entity"] == "outbox"
    assert item["source"] == "mallcrm.loyalty"
    assert item["detail_type"] == "PurchaseRecorded"
    assert item["ttl"] == int(NOW.timestamp()) + 7 * 86400
    metadata, parsed = consume(PurchaseRecorded, json.loads(item["detail"]))
    assert parsed == data
    assert metadata.event_id == item["event_id"]
    assert metadata.occurred_at == NOW
    assert metadata.producer == "LoyaltyApiFunction"
    assert dynamo.to_item(item)["ttl"] == {"N": str(item["ttl"])}


def test_outbox_item_uses_the_clock_by_default(fake_clock):
    item = outbox_item(registered(1), correlation_id="c", producer="p")
    assert json.loads(item["detail"])["metadata"]["occurred_at"] == "2024-05-01T04:00:00.000000Z"


def test_given_outbox_inserts_when_the_stream_batch_runs_then_they_are_on_the_bus_and_deleted(
    bus, table, service_env
):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(12)]
    result = publish_stream_batch(stored(items), None)
    assert result == {"batchItemFailures": []}
    assert outbox_left() == []  # TABLE_NAME read from the environment
    received = bus.received()
    assert sorted(r["detail"]["data"]["member_id"] for r in received) == sorted(
        f"member-{n}" for n in range(12)
    )
    assert {r["detail-type"] for r in received} == {"MemberRegistered"}
    assert {r["source"] for r in received} == {"mallcrm.members"}


def test_an_item_kept_in_a_members_partition_is_published_and_left_to_its_ttl_or_erasure(
    bus, table, service_env
):
    """The publishers may delete only ``OUTBOX#*`` keys (IAM); campaigns keeps its per-member
    events under ``MEMBER#<id>`` so that the member's erasure deletes them (dal/dispatch.outbox_ops)."""
    own = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    kept = outbox_item(registered(2), correlation_id="c", producer="p", now=NOW)
    kept = {**kept, "pk": "MEMBER#member-2", "sk": f"OUTBOX#{kept['event_id']}"}
    assert publish_stream_batch(stored([own, kept]), None) == {"batchItemFailures": []}
    assert sorted(r["detail"]["data"]["member_id"] for r in bus.received()) == ["member-1", "member-2"]
    assert outbox_left() == [kept["event_id"]]


def test_the_bus_and_table_names_are_read_from_the_environment_at_call_time(
    bus, table, service_env, monkeypatch
):
    aws.client("events").create_event_bus(Name="other-bus")
    monkeypatch.setenv("EVENT_BUS_NAME", "other-bus")
    monkeypatch.setenv("TABLE_NAME", "other-table")
    client = RecordingEventsClient(aws.client("events"))
    item = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)

    class Deletes:
        tables: list[str] = []

        def batch_write_item(self, **kwargs):
            self.tables.extend(kwargs["RequestItems"])
            return {"UnprocessedItems": {}}

    deletes = Deletes()
    publish_stream_batch(stream_event([item]), None, client=client, dynamodb=deletes)
    assert client.calls[0][0]["EventBusName"] == "other-bus"
    assert deletes.tables == ["other-table"]


def test_given_a_failed_entry_then_it_and_every_later_record_are_reported_in_order(bus, table):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(15)]
    event = stored(items)
    client = RecordingEventsClient(aws.client("events"), fail_indexes={12})
    result = publish_stream_batch(event, None, bus_name=BUS, client=client, table_name=table)
    expected = [r["dynamodb"]["SequenceNumber"] for r in event["Records"][12:]]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == expected
    assert len(bus.received()) == 14  # 12 before the failure, 2 after it in the same chunk
    # Deleted: the 12 before the failure. Kept: the failed one and the three retried with it.
    assert outbox_left() == sorted(i["event_id"] for i in items[12:])


def test_given_a_failed_first_chunk_then_later_chunks_are_not_published(bus, table):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(25)]
    event = stored(items)
    client = RecordingEventsClient(aws.client("events"), fail_indexes={4})
    result = publish_stream_batch(event, None, bus_name=BUS, client=client, table_name=table)
    assert len(result["batchItemFailures"]) == 21
    assert len(client.calls) == 1  # stopped: what follows is retried anyway
    assert outbox_left() == sorted(i["event_id"] for i in items[4:])


def test_the_retry_of_a_failed_batch_publishes_and_deletes_the_rest(bus, table):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(5)]
    event = stored(items)
    failing = RecordingEventsClient(aws.client("events"), fail_indexes={2})
    first = publish_stream_batch(event, None, bus_name=BUS, client=failing, table_name=table)
    retried = {f["itemIdentifier"] for f in first["batchItemFailures"]}
    # Lambda restarts the shard at the first failed record: records 2..4 come again.
    retry = {"Records": [r for r in event["Records"] if r["dynamodb"]["SequenceNumber"] in retried]}
    assert publish_stream_batch(retry, None, bus_name=BUS, table_name=table) == {"batchItemFailures": []}
    assert outbox_left() == []


def test_a_replayed_record_is_published_again_with_its_event_id_and_the_delete_is_a_no_op(bus, table, caplog):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(3)]
    event = stored(items)
    assert publish_stream_batch(event, None, bus_name=BUS, table_name=table) == {"batchItemFailures": []}
    assert publish_stream_batch(event, None, bus_name=BUS, table_name=table) == {"batchItemFailures": []}
    ids = [r["detail"]["metadata"]["event_id"] for r in bus.received()]
    assert sorted(ids) == sorted(2 * [i["event_id"] for i in items])  # consumers dedupe on these
    assert outbox_left() == []
    assert "not deleted" not in caplog.text


def test_a_failed_delete_leaves_the_item_to_its_ttl_and_does_not_fail_the_batch(bus, table, caplog):
    class DeniedDeletes:
        def __init__(self) -> None:
            self.calls = 0

        def batch_write_item(self, **kwargs):
            self.calls += 1
            raise aws.client("dynamodb").exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchWriteItem"
            )

    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(3)]
    denied = DeniedDeletes()
    result = publish_stream_batch(stored(items), None, bus_name=BUS, table_name=table, dynamodb=denied)
    assert result == {"batchItemFailures": []}  # published: failing would only publish them again
    assert denied.calls == 1  # one BatchWriteItem for the three
    assert len(bus.received()) == 3
    assert outbox_left() == sorted(i["event_id"] for i in items)
    [logged] = [r for r in caplog.records if "not deleted" in r.getMessage()]
    assert (logged.levelname, logged.not_deleted, logged.error_code) == ("ERROR", 3, "AccessDeniedException")


def test_without_a_table_name_the_items_are_published_and_left_to_their_ttl(bus, table, caplog):
    items = [outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)]
    result = publish_stream_batch(stored(items), None, bus_name=BUS, table_name="")
    assert result == {"batchItemFailures": []}
    assert len(bus.received()) == 1
    assert outbox_left() == [items[0]["event_id"]]
    assert "TABLE_NAME is not set" in caplog.text


def test_non_outbox_and_non_insert_records_are_ignored(bus, table):
    other = {"pk": "MEMBER#1", "sk": "PROFILE", "entity": "member"}
    outbox = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    event = stream_event([other, outbox])
    event["Records"] += stream_event([outbox], event_name="MODIFY")["Records"]
    assert publish_stream_batch(event, None, bus_name=BUS, table_name=table) == {"batchItemFailures": []}
    assert len(bus.received()) == 1


def remove_record(item: dict[str, Any], *, by_ttl: bool) -> dict[str, Any]:
    """A REMOVE record as DynamoDB Streams writes it: keys and the old image, no new image;
    TTL deletions carry DynamoDB's service principal."""
    image = dynamo.to_item(item)
    record: dict[str, Any] = {
        "eventID": "remove-1",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "OldImage": image,
            "SequenceNumber": "000000000000000000999",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    if by_ttl:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record


def test_remove_records_of_the_publishers_own_deletes_and_of_the_ttl_are_ignored(bus, table):
    class NoDeletes:
        def batch_write_item(self, **kwargs):
            raise AssertionError("a REMOVE record must not lead to a delete")

    item = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    event = {"Records": [remove_record(item, by_ttl=False), remove_record(item, by_ttl=True)]}
    result = publish_stream_batch(event, None, bus_name=BUS, table_name=table, dynamodb=NoDeletes())
    assert result == {"batchItemFailures": []}
    assert bus.received() == []


def test_a_malformed_outbox_record_fails_with_everything_after_it(bus, table):
    good = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    broken = {**outbox_item(registered(2), correlation_id="c", producer="p", now=NOW), "detail": "{not json"}
    later = outbox_item(registered(3), correlation_id="c", producer="p", now=NOW)
    event = stored([good, broken, later])
    result = publish_stream_batch(event, None, bus_name=BUS, table_name=table)
    expected = [r["dynamodb"]["SequenceNumber"] for r in event["Records"][1:]]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == expected
    assert len(bus.received()) == 1
    assert outbox_left() == sorted([broken["event_id"], later["event_id"]])


def test_a_put_events_exception_fails_the_batch_from_the_chunk_on_and_deletes_nothing(bus, table):
    class Exploding:
        def put_events(self, Entries):
            raise ConnectionError("endpoint unreachable")

    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(3)]
    result = publish_stream_batch(stored(items), None, bus_name=BUS, client=Exploding(), table_name=table)
    assert len(result["batchItemFailures"]) == 3
    assert outbox_left() == sorted(i["event_id"] for i in items)
