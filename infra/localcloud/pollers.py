"""Event source mappings, run by the cloud: SQS queues and DynamoDB streams into functions.

moto's own mappings are never created (they run inside the writer's PutItem, ignore filters and
starting positions, and delete stream records); these pollers do the work instead, through the
ordinary APIs, when the cloud settles.

SQS: batches of up to ``BatchSize``; ``ReportBatchItemFailures`` partial failures; a failed
message becomes visible again once the queue's ``VisibilityTimeout`` of *virtual* time has passed
(messages are received with a 12-hour real visibility so moto's real-time clock never interferes,
and released with ``ChangeMessageVisibility(0)``); moto moves a message to the dead-letter queue on
the receive after ``maxReceiveCount``, which is logged.

DynamoDB streams: ``StartingPosition``, ``BatchSize``, ``FilterCriteria`` (moto's EventBridge
pattern matcher), ``ReportBatchItemFailures`` (the batch is retried from the first failed
record), ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts`` then a failure record to
``DestinationConfig.OnFailure`` and on to the next records. With unlimited retries (-1) a failing
batch is retried with a virtual-time backoff, blocking its shard as on AWS.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.localcloud import moto_patches
from infra.localcloud.clients import Clients
from infra.localcloud.clock import VirtualClock
from infra.localcloud.provision import EventSourceMapping
from infra.localcloud.runner import InvokeResult, Runner
from infra.localcloud.targets import Dispatcher

__all__ = ["SqsPoller", "StreamPoller", "failed_item_ids"]

LOG = logging.getLogger("infra.localcloud")

_REAL_VISIBILITY = 43200  # seconds: the maximum; moto never makes our messages visible by itself
_MAX_BACKOFF = 60.0


def failed_item_ids(result: InvokeResult, batch_ids: list[str], report: bool) -> list[str]:
    """The ids of a batch that failed: all on an error, the reported ones on a partial failure.

    A response that names an item not in the batch (or an empty id) fails the whole batch, as on AWS.
    """
    if not result.ok:
        return list(batch_ids)
    if not report or not isinstance(result.payload, dict):
        return []
    failures = result.payload.get("batchItemFailures")
    if not failures:
        return []
    if not isinstance(failures, list):
        return list(batch_ids)
    known = set(batch_ids)
    failed: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or str(identifier) not in known:
            LOG.warning(
                "batchItemFailures names %r, which is not in the batch: the whole batch fails", identifier
            )
            return list(batch_ids)
        failed.append(str(identifier))
    return failed


def _base64_binaries(value: Any) -> Any:
    """Binary attribute values (``B`` and ``BS``) as the base64 text the Lambda service sends."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {key: _base64_binaries(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_base64_binaries(item) for item in value]
    return value


@dataclass
class _Invisible:
    deadline: datetime
    message_id: str
    receive_count: int


class SqsPoller:
    """One SQS event source mapping."""

    kind = "sqs"

    def __init__(
        self,
        mapping: EventSourceMapping,
        runner: Runner,
        clients: Clients,
        clock: VirtualClock,
        *,
        account_id: str,
        region: str,
    ) -> None:
        self.mapping = mapping
        self.runner = runner
        self.clients = clients
        self.clock = clock
        self.account_id = account_id
        self.region = region
        self.queue_name = mapping.source_arn.rsplit(":", 1)[1]
        self.queue_url = (
            f"https://sqs.{region}.amazonaws.com/{mapping.source_arn.split(':')[4]}/{self.queue_name}"
        )
        attributes = clients("sqs").get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
        self.visibility_timeout = int(attributes.get("VisibilityTimeout", "30"))
        redrive = json.loads(attributes["RedrivePolicy"]) if attributes.get("RedrivePolicy") else {}
        self.max_receive_count = int(redrive.get("maxReceiveCount", 0)) or None
        self.dead_letter_arn: str | None = redrive.get("deadLetterTargetArn")
        self._invisible: dict[str, _Invisible] = {}

    @property
    def name(self) -> str:
        return self.mapping.logical_id

    def has_work(self) -> bool:
        if not self.mapping.enabled:
            return False
        return moto_patches.sqs_visible_count(self.account_id, self.region, self.queue_name) > 0

    def next_deadline(self) -> datetime | None:
        if not self._invisible:
            return None
        return min(item.deadline for item in self._invisible.values())

    def release_due(self) -> int:
        """Make failed messages visible again once their virtual visibility timeout has passed."""
        if not self._invisible:
            return 0
        now = self.clock.now()
        released = 0
        sqs = self.clients("sqs")
        for receipt, item in list(self._invisible.items()):
            if item.deadline > now:
                continue
            del self._invisible[receipt]
            try:
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
            except Exception as exc:  # deleted meanwhile (a handler, a purge)
                LOG.debug("message %s no longer in %s: %s", item.message_id, self.queue_name, exc)
                continue
            released += 1
            if self.max_receive_count is not None and item.receive_count >= self.max_receive_count:
                LOG.warning(
                    "%s %s message %s failed %d receive(s): moved to dead-letter queue %s",
                    now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    self.queue_name,
                    item.message_id,
                    item.receive_count,
                    (self.dead_letter_arn or "?").rsplit(":", 1)[-1],
                )
        return released

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
        message_attributes: dict[str, Any] = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            binary = value.get("BinaryValue")
            message_attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType"),
            }
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.source_arn,
            "awsRegion": self.region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def poll(self) -> int:
        """Receive one batch and run the function on it. Returns the number of messages handled."""
        if not self.has_work():
            return 0
        sqs = self.clients("sqs")
        messages: list[dict[str, Any]] = []
        while len(messages) < self.mapping.batch_size:
            received = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.mapping.batch_size - len(messages)),
                VisibilityTimeout=_REAL_VISIBILITY,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        if not messages:
            return 0
        records = [self._record(m) for m in messages]
        result = self.runner.invoke(self.mapping.function, {"Records": records}, trigger="sqs")
        ids = [m["MessageId"] for m in messages]
        failed = set(failed_item_ids(result, ids, self.mapping.report_batch_item_failures))
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            moto_patches.forget_deleted_receipts(
                self.account_id, self.region, self.queue_name, *(m["ReceiptHandle"] for m in chunk)
            )
        deadline = self.clock.now() + timedelta(seconds=self.visibility_timeout)
        for message in messages:
            if message["MessageId"] in failed:
                count = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
                self._invisible[message["ReceiptHandle"]] = _Invisible(deadline, message["MessageId"], count)
        return len(messages)


class StreamPoller:
    """One DynamoDB stream event source mapping."""

    kind = "dynamodb"

    def __init__(
        self,
        mapping: EventSourceMapping,
        runner: Runner,
        clients: Clients,
        clock: VirtualClock,
        dispatcher: Dispatcher,
        *,
        account_id: str,
        region: str,
    ) -> None:
        self.mapping = mapping
        self.runner = runner
        self.clients = clients
        self.clock = clock
        self.dispatcher = dispatcher
        self.account_id = account_id
        self.region = region
        self.table_name = mapping.source_arn.split(":", 5)[5].split("/")[1]
        start = moto_patches.dynamodb_stream_start(account_id, region, self.table_name)
        length = moto_patches.dynamodb_stream_length(account_id, region, self.table_name)
        self.position = start if mapping.starting_position == "TRIM_HORIZON" else start + length
        self._matchers: list[Callable[[dict[str, Any]], bool]] = [
            moto_patches.event_pattern_matcher(pattern) for pattern in mapping.filters
        ]
        self._shard_id: str | None = None
        self._attempts = 0
        self._limit = mapping.batch_size
        self._backoff_until: datetime | None = None

    @property
    def name(self) -> str:
        return self.mapping.logical_id

    def _unread(self) -> int:
        # The start moves on as the stream is trimmed (records older than 24 h); the end does not.
        start = moto_patches.dynamodb_stream_start(self.account_id, self.region, self.table_name)
        length = moto_patches.dynamodb_stream_length(self.account_id, self.region, self.table_name)
        return start + length - max(self.position, start)

    def _skip_trimmed(self) -> None:
        """Records before the stream's trim horizon are gone (as on AWS after 24 h): go on from it."""
        start = moto_patches.dynamodb_stream_start(self.account_id, self.region, self.table_name)
        if self.position >= start:
            return
        LOG.warning(
            "%s %s: records %d..%d were trimmed from the stream (older than 24 h) before they were read",
            self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            self.mapping.logical_id,
            self.position,
            start - 1,
        )
        self._advance(start)

    def has_work(self) -> bool:
        if not self.mapping.enabled or self._unread() <= 0:
            return False
        return self._backoff_until is None or self._backoff_until <= self.clock.now()

    def next_deadline(self) -> datetime | None:
        if self._backoff_until is not None and self._unread() > 0:
            return self._backoff_until
        return None

    def release_due(self) -> int:
        return 0

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        # boto3 decodes binary attributes to bytes; Lambda receives them base64-encoded in JSON.
        dynamodb = _base64_binaries(dict(record["dynamodb"]))
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = float(int(created.timestamp()))
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": dynamodb,
            "eventSourceARN": self.mapping.source_arn,
        }

    def _matches(self, record: dict[str, Any]) -> bool:
        return not self._matchers or any(match(record) for match in self._matchers)

    def poll(self) -> int:
        """Read one batch, filter it, run the function. Returns the number of records consumed."""
        if not self.has_work():
            return 0
        self._skip_trimmed()
        streams = self.clients("dynamodbstreams")
        if self._shard_id is None:
            description = streams.describe_stream(StreamArn=self.mapping.source_arn)["StreamDescription"]
            self._shard_id = description["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(
            StreamArn=self.mapping.source_arn,
            ShardId=self._shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=str(self.position),
        )["ShardIterator"]
        response = streams.get_records(ShardIterator=iterator, Limit=max(1, self._limit))
        moto_patches.forget_shard_iterators(
            self.account_id, self.region, iterator, response.get("NextShardIterator", "")
        )
        raw = response.get("Records", [])
        if not raw:
            return 0
        records = [self._lambda_record(r) for r in raw]
        end = int(records[-1]["dynamodb"]["SequenceNumber"])
        matched = [r for r in records if self._matches(r)]
        if self.mapping.maximum_record_age >= 0 and matched:
            oldest = self.clock.timestamp() - self.mapping.maximum_record_age
            expired = [
                r for r in matched if r["dynamodb"].get("ApproximateCreationDateTime", oldest) < oldest
            ]
            if expired:
                self._report_failure(expired, None, "RecordAgeExceeded")
                matched = [r for r in matched if r not in expired]
        if not matched:
            self._advance(end + 1)
            return len(records)
        result = self.runner.invoke(self.mapping.function, {"Records": matched}, trigger="stream")
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in matched]
        failed = failed_item_ids(result, sequence_numbers, self.mapping.report_batch_item_failures)
        if not failed:
            self._advance(end + 1)
            return len(records)
        self._attempts += 1
        first_failed = min(int(s) for s in failed)
        limit = self.mapping.maximum_retry_attempts
        if limit >= 0 and self._attempts > limit:
            self._give_up(matched, result, end)
            return len(records)
        # Records before the first failure are done; retry from it.
        self.position = first_failed
        if self.mapping.bisect_on_error and not result.ok and len(matched) > 1:
            self._limit = max(1, len(records) // 2)
        if limit < 0:
            delay = min(_MAX_BACKOFF, 2.0 ** (self._attempts - 1))
            self._backoff_until = self.clock.now() + timedelta(seconds=delay)
        return len(records)

    def _advance(self, position: int) -> None:
        self.position = position
        self._attempts = 0
        self._limit = self.mapping.batch_size
        self._backoff_until = None

    def _give_up(self, matched: list[dict[str, Any]], result: InvokeResult, end: int) -> None:
        self._report_failure(matched, result, "RetryAttemptsExhausted")
        self._advance(end + 1)

    def _report_failure(
        self, matched: list[dict[str, Any]], result: InvokeResult | None, condition: str
    ) -> None:
        """Send the OnFailure record for records the mapping gives up on (and log it)."""
        first, last = matched[0]["dynamodb"], matched[-1]["dynamodb"]
        spec = self.runner.find(self.mapping.function)
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

        def arrival(image: dict[str, Any]) -> str:
            seconds = image.get("ApproximateCreationDateTime")
            if isinstance(seconds, (int, float)):
                return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return stamp

        failure: dict[str, Any] = {
            "requestContext": {
                "requestId": result.record.request_id if result is not None else None,
                "functionArn": spec.arn,
                "condition": condition,
                "approximateInvokeCount": self._attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if result is not None and not result.ok else "",
            },
            "version": "1.0",
            "timestamp": stamp,
            "DDBStreamBatchInfo": {
                "shardId": self._shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(first),
                "approximateArrivalOfLastRecord": arrival(last),
                "batchSize": len(matched),
                "streamArn": self.mapping.source_arn,
            },
        }
        destination = self.mapping.on_failure_arn
        LOG.warning(
            "%s %s gave up on records %s..%s (%s after %d attempt(s))%s",
            self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            self.mapping.logical_id,
            first["SequenceNumber"],
            last["SequenceNumber"],
            condition,
            self._attempts,
            f"; failure record sent to {destination.rsplit(':', 1)[-1]}"
            if destination
            else "; records dropped",
        )
        if destination:
            self.dispatcher.deliver(
                destination, json.dumps(failure), trigger="stream", origin=self.mapping.logical_id
            )
