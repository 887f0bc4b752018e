"""Moto-backed fixtures and thin fakes around real (moto) clients."""

from __future__ import annotations

import json
from typing import Any

from shared import aws

BUS = "mallcrm-test"


class RecordingEventsClient:
    """Passes calls to a real (moto) EventBridge client and remembers each PutEvents batch."""

    def __init__(self, inner: Any, *, fail_indexes: set[int] | frozenset[int] = frozenset()) -> None:
        self.inner = inner
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_indexes = fail_indexes  # positions, across all calls, that EventBridge "rejects"
        self._seen = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        accepted = [e for i, e in enumerate(Entries) if self._seen + i not in self.fail_indexes]
        response = self.inner.put_events(Entries=accepted) if accepted else {"Entries": []}
        results = iter(response["Entries"])
        merged = []
        for i in range(len(Entries)):
            if self._seen + i in self.fail_indexes:
                merged.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"})
            else:
                merged.append(next(results))
        self._seen += len(Entries)
        failed = sum(1 for r in merged if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": merged}


class BusWithQueue:
    """A moto bus whose rule sends every mallcrm event to a queue, to see what was published."""

    def __init__(self) -> None:
        self.events = aws.client("events")
        self.sqs = aws.client("sqs")
        self.events.create_event_bus(Name=BUS)
        self.queue_url = self.sqs.create_queue(QueueName="tap")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.put_rule(
            Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [{"prefix": "mallcrm."}]})
        )
        self.events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
