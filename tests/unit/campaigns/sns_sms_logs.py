"""What a CloudWatch Logs subscription filter on SNS's SMS delivery status log groups hands a Lambda
function, built the documented way (tests only).

* The records are shaped like the examples in AWS's documentation of SNS SMS delivery logs (Amazon
  SNS Developer Guide, "SMS delivery monitoring with CloudWatch metrics and logs", and the AWS
  Knowledge Center article "monitor-sns-texts-cloudwatch"): ``notification`` (``messageId``,
  ``timestamp``), ``delivery`` (``phoneCarrier``, ``mnc``, ``mcc``, ``destination``,
  ``priceInUSD``, ``smsType``, ``providerResponse``, ``dwellTimeMs``,
  ``dwellTimeMsUntilDeviceAck``), ``status`` (``SUCCESS`` | ``FAILURE``).
* The envelope is the subscription payload of the CloudWatch Logs User Guide: ``{"awslogs":
  {"data": base64(gzip(JSON))}}`` with ``messageType``, ``owner``, ``logGroup``, ``logStream``,
  ``subscriptionFilters`` and ``logEvents`` (``id``, ``timestamp`` in epoch ms, ``message``).
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
DELIVERED_GROUP = f"sns/{REGION}/{ACCOUNT}/DirectPublishToPhoneNumber"
FAILED_GROUP = f"{DELIVERED_GROUP}/Failure"


def sms_record(
    message_id: str,
    *,
    status: str = "SUCCESS",
    published: datetime,
    destination: str = "+8613800000001",
    provider_response: str | None = None,
) -> dict[str, Any]:
    success = status == "SUCCESS"
    delivery: dict[str, Any] = {
        "mnc": 0 if not success else 1,
        "destination": destination,
        "priceInUSD": 0.00645,
        "smsType": "Promotional",
        "mcc": 460,
        "providerResponse": provider_response
        or (
            "Message has been accepted by phone carrier"
            if success
            else "Unknown error attempting to reach phone"
        ),
        "dwellTimeMs": 599,
        "dwellTimeMsUntilDeviceAck": 1344,
    }
    if success:
        delivery["phoneCarrier"] = "China Mobile"
    return {
        "notification": {
            "messageId": message_id,
            "timestamp": published.strftime("%Y-%m-%d %H:%M:%S.") + f"{published.microsecond // 1000:03d}",
        },
        "delivery": delivery,
        "status": status,
    }


def awslogs_event(
    records: list[tuple[dict[str, Any] | str, datetime]],
    *,
    log_group: str = DELIVERED_GROUP,
    message_type: str = "DATA_MESSAGE",
) -> dict[str, Any]:
    """The Lambda event for one batch: each record (a dict is serialised as SNS writes it, a string
    is used as is) with its log event time (epoch ms)."""
    events = [
        {
            "id": f"{3795384032019841234567890123456789012345678901234567890 + i}",
            "timestamp": int(at.timestamp() * 1000),
            "message": record if isinstance(record, str) else json.dumps(record, separators=(",", ":")),
        }
        for i, (record, at) in enumerate(records)
    ]
    body = {
        "messageType": message_type,
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": "5ae1c8f0-3b7c-4d7e-9a0c-2f9a6f4c1d22",
        "subscriptionFilters": ["mallcrm-test-campaigns-sms-receipts"],
        "logEvents": events,
    }
    data = base64.b64encode(gzip.compress(json.dumps(body).encode())).decode()
    return {"awslogs": {"data": data}}
