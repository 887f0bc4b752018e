"""Event source mappings: SQS batches with partial failures and redrive, DynamoDB streams."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from tests.fixtures.handlers import batch, stream


def _send(cloud: LocalCloud, logical_id: str, *bodies: dict[str, Any]) -> None:
    sqs = cloud.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=cloud.physical_id(logical_id), MessageBody=json.dumps(body))


def _drain(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    url = cloud.physical_id(logical_id)
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _invocations(cloud: LocalCloud, logical_id: str, since: int) -> list[str]:
    return [r.outcome for r in cloud.invocations[since:] if r.logical_id == logical_id]


@pytest.fixture(autouse=True)
def _quiet(basic_cloud: LocalCloud) -> Iterator[None]:
    basic_cloud.advance(3600)  # whatever earlier tests left waiting is over
    batch.SEEN.clear()
    stream.SEEN.clear()
    _drain(basic_cloud, "WorkDLQ")
    _drain(basic_cloud, "StreamDLQ")
    yield


def test_sqs_partial_failure_then_dead_letter_queue_after_max_receive_count(
    basic_cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    cloud = basic_cloud
    since = len(cloud.invocations)
    _send(cloud, "WorkQueue", {"n": 1}, {"n": 2, "fail": True}, {"n": 3}, {"n": 4})
    cloud.settle()
    assert sorted(s["body"]["n"] for s in batch.SEEN) == [1, 2, 3, 4]
    assert _invocations(cloud, "WorkerFunction", since) == ["partial:1 failed"]
    # The failed message stays invisible for the queue's VisibilityTimeout (60 s) of virtual time.
    cloud.settle()
    cloud.advance(59)
    assert len(batch.SEEN) == 4
    cloud.advance(1)
    assert [(s["body"]["n"], s["receives"]) for s in batch.SEEN[4:]] == [(2, "2")]
    with caplog.at_level(logging.WARNING, logger="infra.localcloud"):
        cloud.advance(60)  # third receive, fails again
        cloud.advance(60)  # maxReceiveCount (3) reached: redriven
    assert [(s["body"]["n"], s["receives"]) for s in batch.SEEN[4:]] == [(2, "2"), (2, "3")]
    assert "moved to dead-letter queue fixture-dev-work-dlq" in caplog.text
    assert _drain(cloud, "WorkDLQ") == [{"n": 2, "fail": True}]
    assert _invocations(cloud, "WorkerFunction", since) == ["partial:1 failed"] * 3


def test_sqs_whole_batch_failure_retries_every_message(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    _send(cloud, "WorkQueue", {"n": 10}, {"n": 11, "crash": True})
    cloud.settle()
    assert sorted(s["body"]["n"] for s in batch.SEEN) == [10, 11]
    cloud.advance(60)
    assert sorted(s["body"]["n"] for s in batch.SEEN) == [10, 10, 11, 11]


def test_sqs_batch_size_is_honoured(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    since = len(cloud.invocations)
    _send(cloud, "WorkQueue", *({"n": n} for n in range(12)))
    cloud.settle()
    assert len(batch.SEEN) == 12
    assert len(_invocations(cloud, "WorkerFunction", since)) == 3  # BatchSize 5: 5 + 5 + 2


def _put(cloud: LocalCloud, pk: str, **attributes: str) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "X"}, **{k: {"S": v} for k, v in attributes.items()}}
    cloud.client("dynamodb").put_item(TableName=cloud.physical_id("ItemsTable"), Item=item)


def test_stream_filter_criteria(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    _put(cloud, "A", entity="outbox")
    _put(cloud, "B", entity="member")  # filtered out: not an outbox item
    _put(cloud, "A", entity="outbox", note="changed")  # filtered out: MODIFY
    cloud.settle()
    assert [(s["pk"], s["event"]) for s in stream.SEEN] == [("A", "INSERT")]


def test_stream_records_with_binary_attributes_pass_the_filter_as_base64(basic_cloud: LocalCloud) -> None:
    """Regression: boto3 decodes B attributes to bytes; the filter and the handler must get what
    Lambda sends (base64 text), not crash on bytes."""
    cloud = basic_cloud
    item = {"pk": {"S": "BIN"}, "sk": {"S": "X"}, "entity": {"S": "outbox"}, "blob": {"B": b"\x00\xffvault"}}
    cloud.client("dynamodb").put_item(TableName=cloud.physical_id("ItemsTable"), Item=item)
    cloud.settle()
    assert [(s["pk"], s["event"]) for s in stream.SEEN] == [("BIN", "INSERT")]
    assert stream.SEEN[0]["blob"] == base64.b64encode(b"\x00\xffvault").decode()


def test_stream_retries_then_sends_a_failure_record_and_moves_on(
    basic_cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    cloud = basic_cloud
    since = len(cloud.invocations)
    _put(cloud, "C1", entity="outbox", crash="yes")
    with caplog.at_level(logging.WARNING, logger="infra.localcloud"):
        cloud.settle()
    # MaximumRetryAttempts 2: one attempt and two retries, then the failure destination.
    assert _invocations(cloud, "StreamFunction", since) == ["error:RuntimeError"] * 3
    assert "gave up on records" in caplog.text
    [failure] = _drain(cloud, "StreamDLQ")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == cloud.attribute("ItemsTable", "StreamArn")
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == stream.SEEN[0]["seq"]
    _put(cloud, "C2", entity="outbox")
    cloud.settle()
    assert stream.SEEN[-1]["pk"] == "C2"


def test_stream_partial_failure_retries_from_the_first_failed_record(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    _put(cloud, "P1", entity="outbox")
    _put(cloud, "P2", entity="outbox", fail="yes")
    _put(cloud, "P3", entity="outbox")
    cloud.settle()
    assert [s["pk"] for s in stream.SEEN] == ["P1", "P2", "P3", "P2", "P3", "P2", "P3"]
    [failure] = _drain(cloud, "StreamDLQ")
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 2


def test_stream_bisects_a_failing_batch(basic_cloud: LocalCloud) -> None:
    cloud = basic_cloud
    since = len(cloud.invocations)
    for pk in ("B1", "B2", "B3", "B4"):
        _put(cloud, pk, entity="bisect", **({"crash": "yes"} if pk == "B3" else {}))
    cloud.settle()
    seen = [s["pk"] for s in stream.SEEN]
    # [B1..B4] fails -> [B1, B2] ok -> [B3, B4] fails -> [B3] fails x3 -> given up -> [B4] ok
    assert seen == ["B1", "B2", "B3", "B1", "B2", "B3", "B3", "B3", "B3", "B4"]
    [failure] = _drain(cloud, "StreamDLQ")
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert len(_invocations(cloud, "BisectFunction", since)) == 7


def test_stream_records_trimmed_before_they_were_read_are_skipped(
    basic_cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream keeps 24 h of records (moto_patches' stream-trim, as on AWS): a mapping that had
    not read them goes on from the trim horizon instead of failing on a sequence number that is gone."""
    cloud = basic_cloud
    _put(cloud, "T1", entity="outbox")  # never read: the clock jumps past its 24 h without settling
    cloud.clock.advance(25 * 3600)
    _put(cloud, "T2", entity="outbox")
    with caplog.at_level(logging.WARNING, logger="infra.localcloud"):
        cloud.settle()
    assert [s["pk"] for s in stream.SEEN] == ["T2"]
    assert "were trimmed from the stream (older than 24 h) before they were read" in caplog.text
    _put(cloud, "T3", entity="outbox")
    cloud.settle()
    assert [s["pk"] for s in stream.SEEN] == ["T2", "T3"]
