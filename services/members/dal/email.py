"""E-mail verification: the code senders and the pending item in MembersTable.

* :class:`SesVerificationMail` — the real sender: Amazon SES v2 ``SendEmail`` (API reference,
  "SendEmail"; boto3 ``sesv2.send_email``) with simple content: ``FromEmailAddress`` (a verified
  SES identity, setting ``EMAIL_FROM``), ``Destination.ToAddresses`` (one 7-bit ASCII address —
  SES has no SMTPUTF8, which is why members accepts ASCII addresses only), ``Content.Simple``
  (``Subject``/``Body.Text`` with ``Charset: UTF-8``), optional ``ConfigurationSetName`` and
  ``EmailTags``. The answer's ``MessageId`` is returned. Documented errors:
  ``TooManyRequestsException`` / ``LimitExceededException`` (throttled, sending quota),
  ``SendingPausedException`` / ``AccountSuspendedException`` / ``MailFromDomainNotVerifiedException``
  / ``NotFoundException`` / ``MessageRejected`` (our configuration, see ``REJECTED``) → 503
  ``email_unavailable``; ``BadRequestException`` → 422 ``email_rejected``. Not retried here: the
  code is stored before it is sent, the member asks again.
* :class:`FakeVerificationMail` — the local cloud's and the tests': sends nothing, records each
  message in ``sent`` and as one record on the logger ``mallcrm.local_outbox``
  (docs/contracts/outbox.md: ``GET /_local/outbox``), so a person or a local flow reads the code.

| item | pk | sk |
|---|---|---|
| pending verification | ``MEMBER#<id>`` | ``EMAILVERIFY`` (code MAC, the address's keyed hash, counters) |
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from services.members.logic.email_verification import PENDING_SK, CodeRequest
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)
from shared.errors import Conflict, MallCrmError, Unprocessable

SUBJECT = "MallCRM 邮箱验证码 / e-mail verification code"


def body_text(code: str) -> str:
    return (
        f"您的邮箱验证码为 {code}, 30 分钟内有效。如非本人操作, 请忽略本邮件。\n\n"
        f"Your code is {code}. It is valid for 30 minutes. "
        "If you did not add this address to a MallCRM membership, ignore this message."
    )


class EmailSender(Protocol):
    def send_code(self, address: str, code: str) -> str:
        """Send a verification code; returns the provider's message id."""
        ...


class EmailUnavailable(MallCrmError):
    def __init__(self) -> None:
        super().__init__(503, "email_unavailable", "The e-mail could not be sent; try again later.")


class SesVerificationMail:
    # BadRequestException: SES found the input invalid — with a fixed sender and text, that is the
    # member's address → 422. Every other documented error is ours → 503: throttling and quotas,
    # sending paused, account suspended, MAIL FROM domain or configuration set not found, and
    # MessageRejected, which SES also answers for an unverified sender identity or, in the sandbox,
    # an unverified recipient — blaming the member's address for those would be wrong.
    REJECTED = frozenset({"BadRequestException"})

    def __init__(self, from_address: str, configuration_set: str | None = None) -> None:
        self.from_address = from_address
        self.configuration_set = configuration_set

    def request(self, address: str, code: str) -> dict[str, Any]:
        """The ``SendEmail`` parameters of one code mail."""
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": {"ToAddresses": [address]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": SUBJECT, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body_text(code), "Charset": "UTF-8"}},
                }
            },
            "EmailTags": [{"Name": "purpose", "Value": "email_verification"}],
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        return kwargs

    def send_code(self, address: str, code: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - loaded with boto3

        try:
            response = client("sesv2").send_email(**self.request(address, code))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in self.REJECTED:
                raise Unprocessable("email_rejected", "This address cannot receive our e-mail.") from None
            raise EmailUnavailable() from None
        except BotoCoreError:
            raise EmailUnavailable() from None
        return str(response.get("MessageId") or "")


@dataclass(frozen=True)
class SentEmail:
    """One message the fake was asked to send."""

    to: str
    subject: str
    text: str
    sent_at: datetime
    message_id: str


class FakeVerificationMail:
    """Local cloud and tests only: records what it was asked to send, sends nothing."""

    sent: ClassVar[list[SentEmail]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def send_code(self, address: str, code: str) -> str:
        message_id = f"fake-email-{uuid.uuid4().hex[:12]}"
        record = SentEmail(
            to=address, subject=SUBJECT, text=body_text(code), sent_at=clock.now(), message_id=message_id
        )
        with self._lock:
            self.sent.append(record)
        logging.getLogger("mallcrm.local_outbox").info(
            "local outbox: email to %s",
            address,
            extra={
                "outbox": {
                    "service": "members",
                    "adapter": type(self).__name__,
                    "channel": "email",
                    "to": address,
                    "kind": "verification_code",
                    "title": SUBJECT,
                    "body": record.text,
                    "provider_message_id": message_id,
                }
            },
        )
        return message_id


class DynamoEmailVerificationRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def pending(self, member_id: str) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": PENDING_SK}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return from_item(item) if item else None

    def save_request(self, request: CodeRequest) -> None:
        """The pending item, on condition that it is unchanged since read (two requests at once:
        one wins, the other is 409 and sends nothing)."""
        if request.expected_version is None:
            op = put_op(self.table_name, request.item, condition="attribute_not_exists(pk)")
        else:
            op = put_op(
                self.table_name,
                request.item,
                condition="#version = :read",
                names={"#version": "version"},
                values={":read": request.expected_version},
            )
        try:
            transact_write([op])
        except ConditionalCheckFailed:
            raise Conflict(
                "email_verification_conflict", "Another code request won meanwhile; try again."
            ) from None

    def count_wrong_attempt(self, member_id: str, attempts_read: int) -> bool:
        """Add one wrong attempt (condition: the count read); False when another counted first."""
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": PENDING_SK}),
                UpdateExpression="SET attempts = :next",
                ConditionExpression="attempts = :read",
                ExpressionAttributeValues=to_item({":next": attempts_read + 1, ":read": attempts_read}),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True
