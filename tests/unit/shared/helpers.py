"""Builders for the AWS events the shared package handles (HTTP API v2, SQS, DynamoDB streams)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from shared import dynamo


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    claims: Mapping[str, Any] | None = None,
    lambda_context: Mapping[str, Any] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the gateway sends it to Lambda."""
    all_headers = {"content-type": "application/json", "user-agent": "pytest"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    if isinstance(body, Mapping):
        body = json.dumps(body)
    if isinstance(body, bytes) or base64_body:
        raw = body if isinstance(body, bytes) else (body or "").encode()
        body, encoded = base64.b64encode(raw).decode(), True
    else:
        encoded = False
    authorizer: dict[str, Any] = {}
    if claims is not None:
        authorizer["jwt"] = {"claims": dict(claims), "scopes": None}
    if lambda_context is not None:
        authorizer["lambda"] = dict(lambda_context)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.test",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/May/2024:04:00:00 +0000",
            "timeEpoch": 1714536000000,
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if body is not None:
        event["body"] = body
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    return event


def sqs_event(bodies: Iterable[str | Mapping[str, Any]]) -> dict[str, Any]:
    """An SQS batch event whose message bodies are ``bodies`` (dicts are JSON-encoded)."""
    records = []
    for index, body in enumerate(bodies):
        records.append(
            {
                "messageId": f"msg-{index}",
                "receiptHandle": f"handle-{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1714536000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1714536000001",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def stream_event(items: Iterable[Mapping[str, Any]], *, event_name: str = "INSERT") -> dict[str, Any]:
    """A DynamoDB stream batch with one record per plain item (NEW_IMAGE view)."""
    records = []
    for index, item in enumerate(items):
        image = dynamo.to_item(item)
        records.append(
            {
                "eventID": f"evt-{index}",
                "eventName": event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": image,
                    "SequenceNumber": f"{100 + index:021d}",
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024",
            }
        )
    return {"Records": records}


def response_json(response: Mapping[str, Any]) -> Any:
    """The decoded JSON body of a resolver response."""
    return json.loads(response["body"])
