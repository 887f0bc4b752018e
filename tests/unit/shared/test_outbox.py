"""Outbox item → (simulated) stream batch → published on the bus."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared import aws, dynamo
from shared.events import MemberRegistered, PurchaseRecorded, consume
from shared.outbox import outbox_item, publish_stream_batch
from tests.unit.shared.aws_fakes import BUS, RecordingEventsClient
from tests.unit.shared.helpers import stream_event

NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


def registered(n: int) -> MemberRegistered:
    return MemberRegistered(member_id=f"member-{n}", registered_at=NOW, channel="mini_program")


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


def test_given_outbox_inserts_when_the_stream_batch_runs_then_they_are_on_the_bus(bus, service_env):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(12)]
    result = publish_stream_batch(stream_event(items), None)
    assert result == {"batchItemFailures": []}
    received = bus.received()
    assert sorted(r["detail"]["data"]["member_id"] for r in received) == sorted(
        f"member-{n}" for n in range(12)
    )
    assert {r["detail-type"] for r in received} == {"MemberRegistered"}
    assert {r["source"] for r in received} == {"mallcrm.members"}


def test_the_bus_name_is_read_from_the_environment_at_call_time(bus, service_env, monkeypatch):
    aws.client("events").create_event_bus(Name="other-bus")
    monkeypatch.setenv("EVENT_BUS_NAME", "other-bus")
    client = RecordingEventsClient(aws.client("events"))
    item = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    publish_stream_batch(stream_event([item]), None, client=client)
    assert client.calls[0][0]["EventBusName"] == "other-bus"


def test_given_a_failed_entry_then_it_and_every_later_record_are_reported_in_order(bus):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(15)]
    event = stream_event(items)
    client = RecordingEventsClient(aws.client("events"), fail_indexes={12})
    result = publish_stream_batch(event, None, bus_name=BUS, client=client)
    expected = [r["dynamodb"]["SequenceNumber"] for r in event["Records"][12:]]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == expected
    assert len(bus.received()) == 14  # 12 before the failure, 2 after it in the same chunk


def test_given_a_failed_first_chunk_then_later_chunks_are_not_published(bus):
    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(25)]
    event = stream_event(items)
    client = RecordingEventsClient(aws.client("events"), fail_indexes={4})
    result = publish_stream_batch(event, None, bus_name=BUS, client=client)
    assert len(result["batchItemFailures"]) == 21
    assert len(client.calls) == 1  # stopped: what follows is retried anyway


def test_non_outbox_and_non_insert_records_are_ignored(bus):
    other = {"pk": "MEMBER#1", "sk": "PROFILE", "entity": "member"}
    outbox = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    event = stream_event([other, outbox])
    event["Records"] += stream_event([outbox], event_name="MODIFY")["Records"]
    assert publish_stream_batch(event, None, bus_name=BUS) == {"batchItemFailures": []}
    assert len(bus.received()) == 1


def test_a_malformed_outbox_record_fails_with_everything_after_it(bus):
    good = outbox_item(registered(1), correlation_id="c", producer="p", now=NOW)
    broken = {**outbox_item(registered(2), correlation_id="c", producer="p", now=NOW), "detail": "{not json"}
    event = stream_event([good, broken, good])
    result = publish_stream_batch(event, None, bus_name=BUS)
    expected = [r["dynamodb"]["SequenceNumber"] for r in event["Records"][1:]]
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == expected
    assert len(bus.received()) == 1


@pytest.mark.usefixtures("bus")
def test_a_put_events_exception_fails_the_batch_from_the_chunk_on():
    class Exploding:
        def put_events(self, Entries):
            raise ConnectionError("endpoint unreachable")

    items = [outbox_item(registered(n), correlation_id="c", producer="p", now=NOW) for n in range(3)]
    result = publish_stream_batch(stream_event(items), None, bus_name=BUS, client=Exploding())
    assert len(result["batchItemFailures"]) == 3
