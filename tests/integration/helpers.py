"""Building blocks for in-process handler tests on moto: HTTP API v2 events, signed requests,
SQS-delivered EventBridge events, DynamoDB stream records, a Lambda context, and tables shaped
like the ones in template.yaml."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3

from shared.auth import HEADER_NONCE, HEADER_SIGNATURE, HEADER_SOURCE, HEADER_TIMESTAMP, sign_request
from shared.dynamo import to_item

REGION = "us-east-1"
ACCOUNT = "123456789012"


@cache
def aws(service: str) -> Any:
    """A test-side boto3 client, created once per process (moto intercepts it whenever a mock is
    active; creating clients is the slow part of a test's setup)."""
    return boto3.client(service, region_name=REGION)


def fixed_clock(at: datetime) -> Callable[[], datetime]:
    """A clock for ``shared.clock.set_clock`` that always says ``at`` (bound now, not when called,
    so one can be made per loop iteration)."""
    return lambda: at


@dataclass
class FakeContext:
    """Enough of a Lambda context for Powertools (logger, metrics, batch processor)."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/01/01/[$LATEST]test"
    remaining_ms: int = 900_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    route_key: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; ``claims`` puts a verified JWT in the context."""
    lower_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if body is not None:
        lower_headers.setdefault("content-type", "application/json")
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": "api123",
        "domainName": "api123.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "api123",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "pytest",
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key or f"{method} {path}",
        "stage": "$default",
        "time": "01/Jan/2026:00:00:00 +0000",
        "timeEpoch": 1767225600000,
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": request_context["routeKey"],
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": lower_headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body is not None:
        event["body"] = body.decode("utf-8") if isinstance(body, bytes) else body
    return event


def signed_headers(
    secret: bytes,
    *,
    source: str,
    method: str,
    path: str,
    body: bytes,
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers of an integration request (shared.auth's scheme)."""
    nonce = nonce or uuid.uuid4().hex
    return {
        HEADER_SOURCE: source,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_request(secret, method, path, timestamp, nonce, body),
    }


def bus_event(
    source: str, detail_type: str, detail: Mapping[str, Any] | str, *, event_id: str | None = None
) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it to an SQS target."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": json.loads(detail) if isinstance(detail, str) else dict(detail),
    }


def sqs_event(bodies: Iterable[Mapping[str, Any] | str], queue: str = "test-queue") -> dict[str, Any]:
    """An SQS batch for a Lambda event source mapping; each body is a bus event (or raw text)."""
    records = []
    for index, body in enumerate(bodies):
        records.append(
            {
                "messageId": f"msg-{index}-{uuid.uuid4().hex[:8]}",
                "receiptHandle": f"handle-{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1767225600000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1767225600000",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def stream_event(images: Iterable[Mapping[str, Any]], event_name: str = "INSERT") -> dict[str, Any]:
    """A DynamoDB stream batch whose NewImages are the given (typed) items."""
    records = []
    for index, image in enumerate(images):
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": dict(image),
                    "SequenceNumber": str(100 + index),
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00",
            }
        )
    return {"Records": records}


def create_table(name: str, *, gsi1: bool = False) -> None:
    """A table keyed like every MallCRM table (pk/sk, optional gsi1 on gsi1pk/gsi1sk)."""
    attributes = [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    kwargs: dict[str, Any] = {}
    if gsi1:
        attributes += [
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi1sk", "AttributeType": "S"},
        ]
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    aws("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=attributes,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        **kwargs,
    )


def all_items(table: str) -> list[dict[str, Any]]:
    """Every item of a test table, plain (a Scan is fine in a test)."""
    from shared.dynamo import from_item

    client = aws("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        items += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def put_plain(table: str, item: Mapping[str, Any]) -> None:
    aws("dynamodb").put_item(TableName=table, Item=to_item(item))


def event_detail(
    data: Any, *, occurred_at: datetime | None = None, correlation_id: str = "test"
) -> dict[str, Any]:
    """The EventBridge ``detail`` (envelope) of a contract model, with fresh metadata."""
    metadata = data.new_metadata(correlation_id=correlation_id, producer="tests", occurred_at=occurred_at)
    detail: dict[str, Any] = json.loads(data.detail_json(metadata))
    return detail


def contract_bus_event(data: Any, **kwargs: Any) -> dict[str, Any]:
    """A contract model as the bus delivers it (source and detail-type from the model)."""
    return bus_event(data.SOURCE, data.detail_type(), event_detail(data, **kwargs))


def outbox_stream_event(table: str) -> dict[str, Any]:
    """A stream batch of every outbox item currently in ``table`` (what the filter lets through)."""
    client = aws("dynamodb")
    items = [i for i in client.scan(TableName=table)["Items"] if i.get("entity", {}).get("S") == "outbox"]
    return stream_event(items)


def bus_with_catch_all_queue(bus_name: str) -> str:
    """Create ``bus_name`` with a rule sending every MallCRM event to a queue; the queue URL."""
    events = aws("events")
    sqs = aws("sqs")
    events.create_event_bus(Name=bus_name)
    queue_url: str = sqs.create_queue(QueueName=f"{bus_name}-catch-all")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="catch-all", EventBusName=bus_name, EventPattern=json.dumps({"source": [{"prefix": "mallcrm."}]})
    )
    events.put_targets(Rule="catch-all", EventBusName=bus_name, Targets=[{"Id": "q", "Arn": queue_arn}])
    return queue_url


def received_events(queue_url: str) -> list[dict[str, Any]]:
    sqs = aws("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]
