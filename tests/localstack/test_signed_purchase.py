"""A signed POS purchase through the stack deployed on LocalStack (`make deploy-localstack`).

LocalStack's free image (4.14.0) has no API Gateway v2 (HTTP API) and no Cognito: its
CloudFormation skips those resources. The request then goes to the deployed LoyaltyApiFunction as
API Gateway would hand it over (an HTTP API payload 2.0 event, through Lambda Invoke), which still
runs the real signature check, the DynamoDB transaction with the outbox item, the stream publisher,
the bus, the members rule, its queue and consumer. Where the HTTP API exists (a LocalStack image
with API Gateway v2), the same request goes over HTTP.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from shared.auth import HEADER_NONCE, HEADER_SIGNATURE, HEADER_SOURCE, HEADER_TIMESTAMP, sign_request
from tests.localstack.conftest import ENDPOINT

pytestmark = pytest.mark.localstack

PATH = "/v1/integrations/purchases"
SOURCE = "pos"
MEMBER_ID = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


def _purchase(external_id: str) -> bytes:
    body = {
        "external_id": external_id,
        "source_system": SOURCE,
        "store_id": "store-0101",
        "member_id": MEMBER_ID,
        "amount_cents": 25900,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 25900}],
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(body).encode("utf-8")


def _signed_headers(key: bytes, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    nonce = secrets.token_urlsafe(24)
    return {
        "content-type": "application/json",
        HEADER_SOURCE.lower(): SOURCE,
        HEADER_TIMESTAMP.lower(): timestamp,
        HEADER_NONCE.lower(): nonce,
        HEADER_SIGNATURE.lower(): sign_request(key, "POST", PATH, timestamp, nonce, body),
    }


def _http_api_event(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": f"POST {PATH}",
        "rawPath": PATH,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "localstack",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": "POST",
                "path": PATH,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"POST {PATH}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body.decode("utf-8"),  # HTTP API passes JSON bodies as text
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def integration_key(localstack: Callable[[str], Any], stack: dict[str, Any]) -> bytes:
    secret_id = stack["resources"]["IntegrationKeysSecret"]
    keys = json.loads(localstack("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    return str(keys[SOURCE]).encode("utf-8")


@pytest.fixture(scope="module")
def post(
    localstack: Callable[[str], Any], stack: dict[str, Any]
) -> Callable[[dict[str, str], bytes], tuple[int, dict[str, Any]]]:
    """POST the purchase: over the HTTP API when LocalStack has one, else straight to the function."""
    api_id = stack["resources"].get("MallApi", "")
    try:
        apis = {a["ApiId"] for a in localstack("apigatewayv2").get_apis().get("Items", [])}
    except Exception:  # the free image answers API Gateway v2 calls with an error
        apis = set()
    if api_id in apis:
        # LocalStack's host-style URL for an API's $default stage (not exercised with the free image).
        port = urlparse(ENDPOINT).port or 4566
        url = f"http://{api_id}.execute-api.localhost.localstack.cloud:{port}{PATH}"

        def over_http(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
            response = requests.post(url, data=body, headers=headers, timeout=60)
            return response.status_code, response.json()

        return over_http

    function = stack["resources"]["LoyaltyApiFunction"]
    lambda_client = localstack("lambda")

    def invoke(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(_http_api_event(headers, body)).encode("utf-8")
        response = lambda_client.invoke(FunctionName=function, Payload=payload)
        result = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, result
        return int(result["statusCode"]), json.loads(result["body"])

    return invoke


def test_a_signed_purchase_is_recorded_once_and_reaches_members(localstack, stack, integration_key, post):
    external_id = f"POS-LS-{uuid.uuid4().hex[:12]}"
    body = _purchase(external_id)

    status, recorded = post(_signed_headers(integration_key, body), body)
    assert status == 201, recorded
    assert recorded["external_id"] == external_id
    assert recorded["replayed"] is False

    status, replayed = post(_signed_headers(integration_key, body), body)  # same purchase, new nonce
    assert status == 200, replayed
    assert replayed["purchase_id"] == recorded["purchase_id"]
    assert replayed["replayed"] is True

    # Outbox -> stream publisher -> bus -> MembersPurchaseEventsRule -> queue -> statistics.
    dynamodb = localstack("dynamodb")
    table = stack["resources"]["MembersTable"]
    key = {"pk": {"S": f"MEMBER#{MEMBER_ID}"}, "sk": {"S": "STATS"}}
    deadline = time.monotonic() + 120
    item = None
    while time.monotonic() < deadline and item is None:
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            time.sleep(2)
    assert item is not None, (
        "the purchase never reached the members' statistics (check the stream publisher and rule)"
    )


def test_a_bad_signature_is_refused(stack, integration_key, post):
    body = _purchase(f"POS-LS-{uuid.uuid4().hex[:12]}")
    headers = _signed_headers(integration_key, body)
    headers[HEADER_SIGNATURE.lower()] = "0" * 64
    status, refused = post(headers, body)
    assert status == 401, refused
    assert refused["error"]["code"] == "signature_invalid"
