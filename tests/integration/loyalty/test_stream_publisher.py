"""LoyaltyStreamPublisherFunction: the outbox item written by the API reaches the bus intact, and
is then deleted from the table — read here from the table's real (moto) stream, as Lambda would."""

from __future__ import annotations

from typing import Any

import pytest

from services.loyalty.handlers import stream_publisher
from shared.events import PurchaseRecorded, consume
from shared.outbox import publish_stream_batch
from tests.integration.helpers import (
    FakeContext,
    all_items,
    aws,
    bus_with_catch_all_queue,
    outbox_stream_event,
    received_events,
)
from tests.integration.loyalty.conftest import TABLE
from tests.integration.loyalty.test_api_purchases import post, purchase_body
from tests.unit.shared.aws_fakes import RecordingEventsClient

MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


class TableStream:
    """LoyaltyTable's stream (NEW_AND_OLD_IMAGES, as in the template), read from where it was last
    read: each :meth:`batch` is the next records as Lambda would hand them to the function."""

    def __init__(self) -> None:
        aws("dynamodb").update_table(
            TableName=TABLE,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.arn = aws("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        self.after: str | None = None

    def batch(self) -> dict[str, Any]:
        streams = aws("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        position: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.after}
            if self.after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard, **position)["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        if records:
            self.after = records[-1]["dynamodb"]["SequenceNumber"]
        return {"Records": records}


def outbox_items() -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i.get("entity") == "outbox"]


@pytest.mark.usefixtures("loyalty")
def test_recorded_purchase_is_published_as_purchase_recorded() -> None:
    queue = bus_with_catch_all_queue("mallcrm-test")
    _, created = post(purchase_body())

    result = stream_publisher.handler(outbox_stream_event(TABLE), FakeContext())

    assert result == {"batchItemFailures": []}
    (delivered,) = received_events(queue)
    assert (delivered["source"], delivered["detail-type"]) == ("mallcrm.loyalty", "PurchaseRecorded")
    _, data = consume(PurchaseRecorded, delivered["detail"])
    assert (data.purchase_id, data.member_id) == (created["purchase_id"], MEMBER)


@pytest.mark.usefixtures("loyalty")
def test_a_published_item_is_deleted_and_its_remove_record_publishes_nothing() -> None:
    stream = TableStream()
    queue = bus_with_catch_all_queue("mallcrm-test")
    _, created = post(purchase_body())
    assert len(outbox_items()) == 1

    inserts = stream.batch()  # the purchase's whole transaction; the publisher skips all but the outbox
    assert stream_publisher.handler(inserts, FakeContext()) == {"batchItemFailures": []}
    (delivered,) = received_events(queue)
    assert delivered["detail"]["data"]["purchase_id"] == created["purchase_id"]
    assert outbox_items() == []  # the member id no longer waits 7 days in the table
    assert [i for i in all_items(TABLE) if i.get("entity") == "purchase"]  # the business items stay

    removes = stream.batch()
    assert [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in removes["Records"]] == [
        ("REMOVE", "OUTBOX")
    ]
    assert stream_publisher.handler(removes, FakeContext()) == {"batchItemFailures": []}
    assert received_events(queue) == []

    # The shard replayed from the start (a retry after a later failure): the event goes out again
    # with the same id (consumers dedupe on it) and the delete of an item already gone is a no-op.
    stream.after = None
    assert stream_publisher.handler(stream.batch(), FakeContext()) == {"batchItemFailures": []}
    (again,) = received_events(queue)
    assert again["detail"]["metadata"]["event_id"] == delivered["detail"]["metadata"]["event_id"]


@pytest.mark.usefixtures("loyalty")
def test_an_item_whose_put_events_entry_failed_stays_in_the_table() -> None:
    stream = TableStream()
    bus_with_catch_all_queue("mallcrm-test")
    post(purchase_body())
    batch = stream.batch()
    rejecting = RecordingEventsClient(aws("events"), fail_indexes={0})

    result = publish_stream_batch(batch, None, client=rejecting)

    [outbox_record] = [r for r in batch["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == "OUTBOX"]
    assert result["batchItemFailures"][0] == {"itemIdentifier": outbox_record["dynamodb"]["SequenceNumber"]}
    assert len(outbox_items()) == 1  # kept for the retry
    assert stream.batch() == {"Records": []}  # nothing deleted: no REMOVE on the stream
