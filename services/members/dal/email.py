"""E-mail verification: the code senders.

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
  (docs/contracts/outbox.md: ``GET /_local/outbox``), so a person or a local flow reads the code
  (the recording step is shared with the SMS fake: :mod:`services.members.dal.local_outbox`).

The pending verification, ``MEMBER#<id>`` / ``EMAILVERIFY`` (code MAC, the address's keyed hash,
counters), is written and read by :mod:`services.members.dal.one_time_code`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from services.members.dal.local_outbox import record_fake_send
from shared.aws import client
from shared.errors import MallCrmError, Unprocessable

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

    def send_code(self, address: str, code: str) -> str:
        text = body_text(code)
        return record_fake_send(
            self.sent,
            lambda message_id, at: SentEmail(
                to=address, subject=SUBJECT, text=text, sent_at=at, message_id=message_id
            ),
            adapter=type(self).__name__,
            channel="email",
            to=address,
            title=SUBJECT,
            body=text,
        )
