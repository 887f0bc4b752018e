"""Moto world for the planning side: CampaignsTable with gsi1 and gsi2, the audience bucket, the
launch and dispatch queues, the pseudonym secret, and the environment every planning function reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.campaigns.dal import planning_adapters
from services.campaigns.logic.campaigns import TemplateInfo
from services.campaigns.logic.snapshots import _CACHE
from tests.integration.helpers import ACCOUNT, REGION, FakeContext, aws, http_event

TABLE = "mallcrm-test-campaigns"
BUCKET = "mallcrm-test-campaigns-audience"
KEY = "campaigns-pseudonym-key-0123456789abcdef"


@dataclass
class Planning:
    launch_queue: str
    dispatch_queue: str
    secret_arn: str


def create_campaigns_table() -> None:
    indexes = []
    attributes = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")]
    for gsi in ("gsi1", "gsi2"):
        attributes += [{"AttributeName": f"{gsi}pk", "AttributeType": "S"}]
        attributes += [{"AttributeName": f"{gsi}sk", "AttributeType": "S"}]
        indexes.append(
            {
                "IndexName": gsi,
                "KeySchema": [
                    {"AttributeName": f"{gsi}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{gsi}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    aws("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=attributes,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=indexes,
    )


class FakeOffers:
    """Stands in for LoyaltyOffersFunction's describe_template (moto cannot run the function)."""

    templates = {"tpl-10off": TemplateInfo(True, "discount", 14, "active")}

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def describe_template(self, template_id: str) -> TemplateInfo:
        return self.templates.get(template_id, TemplateInfo(False))


def planning_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Planning]:
    """The body of a ``planning`` fixture (inside ``moto_aws``)."""
    create_campaigns_table()
    aws("s3").create_bucket(Bucket=BUCKET)
    sqs = aws("sqs")
    launch = sqs.create_queue(QueueName="mallcrm-test-campaigns-launch")["QueueUrl"]
    dispatch = sqs.create_queue(QueueName="mallcrm-test-campaigns-dispatch")["QueueUrl"]
    secret = aws("secretsmanager").create_secret(Name="mallcrm/test/campaigns-key", SecretString=KEY)["ARN"]
    for name, value in {
        "SERVICE_NAME": "campaigns",
        "POWERTOOLS_SERVICE_NAME": "campaigns",
        "TABLE_NAME": TABLE,
        "SNAPSHOT_BUCKET": BUCKET,
        "LAUNCH_QUEUE_URL": launch,
        "LAUNCH_QUEUE_ARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:mallcrm-test-campaigns-launch",
        "LAUNCH_SCHEDULE_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/launch-schedules",
        "LOYALTY_OFFERS_FUNCTION": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:loyalty-offers",
        "DISPATCH_QUEUE_URL": dispatch,
        "PSEUDONYM_KEY_SECRET_ARN": secret,
        "GLOBAL_CONTROL_BASIS_POINTS": "0",
        # These tests run on the wall clock at any hour: no quiet hours for the launch's pace
        # (start == end); the paced tests set the clock and the hours themselves.
        "QUIET_START_HOUR": "0",
        "QUIET_END_HOUR": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(planning_adapters, "LambdaOfferCatalogue", FakeOffers)
    _CACHE.clear()
    yield Planning(launch, dispatch, secret)
    _CACHE.clear()


def staff(*groups: str) -> dict[str, Any]:
    return {"sub": "staff-sub-1", "cognito:groups": f"[{' '.join(groups)}]", "client_id": "console"}


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    route: str | None = None,
    params: dict[str, str] | None = None,
    groups: tuple[str, ...] = ("marketer",),
) -> tuple[int, Any]:
    from services.campaigns.handlers import api  # imported inside the moto world

    event = http_event(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={"content-type": "application/json"} if body is not None else None,
        path_parameters=params,
        route_key=f"{method} {route or path}",
        claims=staff(*groups),
    )
    response = api.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message body on the queue (received and deleted)."""
    sqs = aws("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append({"id": m["MessageId"], "body": json.loads(m["Body"])})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
