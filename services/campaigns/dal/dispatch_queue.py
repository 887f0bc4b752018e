"""Producer side of contract B: SendRequests onto ``CampaignsDispatchQueue``."""

from __future__ import annotations

from collections.abc import Sequence

from services.campaigns.models.dispatch import SendRequest
from shared.aws import client


class SqsDispatchQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, requests: Sequence[SendRequest]) -> None:
        sqs = client("sqs")
        for start in range(0, len(requests), 10):
            chunk = requests[start : start + 10]
            response = sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": r.model_dump_json()} for i, r in enumerate(chunk)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"dispatch queue refused {len(response['Failed'])} message(s)")
