"""The contact directory on moto, through the invoke path: campaigns' real channel adapters ask
``MembersContactDirectoryFunction`` (a moto Lambda whose invocations run the members handler
in-process) for a registered member's phone and openid, send through SNS / WeChat, and members'
audit log holds one ``contact_lookup`` entry per read; e-mail goes through SES v2 to the address the
member gave, only once they verified it. Every channel, for marketing and transactional sends alike,
only while the member's marketing consent on that channel is granted in members at that moment
(withdrawn through members' API → refused at once, whatever campaigns' projection says; never
decided → refused), read in the same one BatchGetItem as the profile. Erased and unknown members,
and e-mail without an address, unverified or without that consent, get no address — the send fails
``no_address``, nothing is sent."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from services.campaigns.dal.channels import (
    MembersContactDirectory,
    SesEmailAdapter,
    SnsSmsAdapter,
    WeChatSubscribeAdapter,
)
from services.campaigns.handlers.dispatch import adapters_from
from services.campaigns.logic.dispatch import OutgoingMessage, ProviderError
from services.campaigns.models.settings import DispatchSettings
from services.members.handlers import contact_directory
from shared.aws import client as shared_client
from tests.integration.helpers import ACCOUNT, FakeContext, aws
from tests.integration.members.identity_support import (
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    login,
    member_event,
    register,
    verify_email,
)

pytestmark = pytest.mark.usefixtures("identity_env")

FUNCTION = "mallcrm-test-members-contact-directory"


def _in_process(self: LambdaFunction, event: str | dict[str, Any] | None = None) -> tuple[str, bool, str]:
    """moto would run the function in Docker: run the members handler here, as Lambda would."""
    payload = event if isinstance(event, dict) else json.loads(event or "{}")
    try:
        result = contact_directory.handler(payload, FakeContext(function_name=FUNCTION))
    except Exception as exc:
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""
    return json.dumps(result), False, ""


@pytest.fixture(autouse=True)
def directory_function(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    request.getfixturevalue("identity_env")  # moto and the members table first
    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", _in_process)
    role = aws("iam").create_role(
        RoleName="contact-directory",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return str(
        aws("lambda").create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": archive.getvalue()},
        )["FunctionArn"]
    )


def marketing(channel: str, granted: bool) -> dict[str, Any]:
    return {"purpose": "marketing", "channel": channel, "granted": granted, "text_version": "mkt-1"}


def lookup(member_id: str, channel: str, purpose: str) -> dict[str, Any]:
    """The directory's raw answer, through Lambda Invoke as dispatch calls it."""
    raw = aws("lambda").invoke(
        FunctionName=FUNCTION,
        Payload=json.dumps({"member_id": member_id, "channel": channel, "purpose": purpose}).encode(),
    )
    answer: dict[str, Any] = json.loads(raw["Payload"].read())
    return answer


def message(member_id: str, send_id: str = "cmp#C1#m", kind: str = "marketing") -> OutgoingMessage:
    return OutgoingMessage(
        send_id=send_id,
        member_id=member_id,
        channel="sms",
        kind=kind,
        title="周末",
        body="您好 周末全场8折",
        link=None,
        campaign_id="C1",
        topic=None,
    )


def audit_entries(member_id: str) -> list[dict[str, Any]]:
    return [i for i in items() if i["pk"] == f"AUDIT#{member_id}" and i.get("action") == "contact_lookup"]


def sms_sent() -> list[tuple[str, str]]:
    backend = sns_backends[ACCOUNT]["us-east-1"]
    return [(phone, text) for phone, text in backend.sms_messages.values()]


def test_sms_goes_to_the_registered_phone_and_the_read_is_audited(directory_function: str) -> None:
    member_id, _ = register("o-alice", phone="13812341234")
    adapter = SnsSmsAdapter(MembersContactDirectory(directory_function))

    delivery = adapter.send(message(member_id, send_id=f"cmp#C1#{member_id}"))

    assert delivery.provider_message_id
    assert sms_sent() == [("+8613812341234", "您好 周末全场8折")]
    [entry] = audit_entries(member_id)
    assert entry["actor_sub"] == "campaigns.dispatch" and entry["actor_kind"] == "integration"
    assert entry["fields"] == ["sms"] and entry["reason"] == f"cmp#C1#{member_id}"
    assert "13812341234" not in json.dumps(entry)


def test_wechat_goes_to_the_openid_sealed_at_the_first_login_after_registration(
    directory_function: str,
) -> None:
    member_id, _ = register("o-bob", phone="13812345678", consents=[marketing("wechat", True)])
    posted: list[dict[str, Any]] = []

    def post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
        posted.append(payload)
        return {"errcode": 0, "msgid": 7}

    adapter = WeChatSubscribeAdapter(
        MembersContactDirectory(directory_function), "TPL", token_provider=lambda: "tok", http_post=post
    )
    # Registration knows only the openid's keyed hash: nothing to send to yet.
    with pytest.raises(ProviderError) as refused:
        adapter.send(message(member_id))
    assert refused.value.reason == "no_address" and not refused.value.retryable
    assert posted == []

    login("o-bob")  # the mini-program's next wx.login(): the openid is sealed into the profile
    profile = next(i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "PROFILE")
    assert "wechat_openid_ct" in profile and "o-bob" not in json.dumps(profile)

    login("o-bob")  # later logins read the profile and write nothing
    again = next(i for i in items() if i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "PROFILE")
    assert again["wechat_openid_ct"] == profile["wechat_openid_ct"]

    adapter.send(message(member_id))
    assert [p["touser"] for p in posted] == ["o-bob"]
    assert [e["fields"] for e in audit_entries(member_id)] == [["wechat"], ["wechat"]]


def emails_sent() -> list[tuple[list[str], str]]:
    backend = ses_backends[ACCOUNT]["us-east-1"]
    return [(list(m.destinations["ToAddresses"]), m.subject) for m in backend.sent_messages]


def email_consent(granted: bool) -> dict[str, Any]:
    return marketing("email", granted)


@pytest.fixture
def ses_sender() -> SesEmailAdapter:
    aws("sesv2").create_email_identity(EmailIdentity="mall@example.com")
    return SesEmailAdapter(MembersContactDirectory(FUNCTION), "mall@example.com")


def test_email_without_an_address_is_not_held_so_nothing_is_sent(ses_sender: SesEmailAdapter) -> None:
    member_id, _ = register("o-carol", phone="13812340000", consents=[email_consent(True)])
    with pytest.raises(ProviderError) as refused:
        ses_sender.send(message(member_id))
    assert refused.value.reason == "no_address"
    assert [e["fields"] for e in audit_entries(member_id)] == [["email"]]
    assert emails_sent() == []


def test_email_goes_to_the_verified_address_the_member_gave_while_they_consent(
    ses_sender: SesEmailAdapter,
) -> None:
    member_id, context = register(
        "o-erin", phone="13812340001", email="Erin.Li@Example.COM", consents=[email_consent(True)]
    )
    # Not verified yet: nothing to send to.
    with pytest.raises(ProviderError) as unverified:
        ses_sender.send(message(member_id, send_id=f"cmp#C0#{member_id}"))
    assert unverified.value.reason == "no_address"
    raw = aws("lambda").invoke(
        FunctionName=FUNCTION,
        Payload=json.dumps({"member_id": member_id, "channel": "email", "purpose": "p"}).encode(),
    )
    assert json.loads(raw["Payload"].read()) == {"found": False, "reason": "not_verified"}

    assert verify_email(context)["email_verified"] is True
    delivery = ses_sender.send(message(member_id, send_id=f"cmp#C1#{member_id}"))
    assert delivery.provider_message_id
    assert emails_sent() == [(["Erin.Li@example.com"], "周末")]
    assert [e["fields"] for e in audit_entries(member_id)] == [["email"], ["email"], ["email"]]
    assert {e["actor_sub"] for e in audit_entries(member_id)} == {"campaigns.dispatch"}
    assert "Erin" not in json.dumps(audit_entries(member_id))

    # Withdrawn in members: no address, whatever campaigns' projection still says.
    status, _ = call(
        member_event("PUT", "/v1/members/me/consents", context, {"consents": [email_consent(False)]})
    )
    assert status == 200
    with pytest.raises(ProviderError) as refused:
        ses_sender.send(message(member_id, send_id=f"cmp#C2#{member_id}"))
    assert refused.value.reason == "no_address" and not refused.value.retryable
    raw = aws("lambda").invoke(
        FunctionName=FUNCTION,
        Payload=json.dumps({"member_id": member_id, "channel": "email", "purpose": "p"}).encode(),
    )
    assert json.loads(raw["Payload"].read()) == {"found": False, "reason": "not_consented"}
    assert len(emails_sent()) == 1

    # Granted again, then a new address: unverified until confirmed, so nothing goes out.
    call(member_event("PUT", "/v1/members/me/consents", context, {"consents": [email_consent(True)]}))
    assert call(member_event("PATCH", "/v1/members/me", context, {"email": "erin@example.org"}))[0] == 200
    with pytest.raises(ProviderError):
        ses_sender.send(message(member_id, send_id=f"cmp#C3#{member_id}"))
    verify_email(context)
    ses_sender.send(message(member_id, send_id=f"cmp#C4#{member_id}"))
    assert [to for to, _ in emails_sent()] == [["Erin.Li@example.com"], ["erin@example.org"]]


def test_email_given_without_the_email_consent_gets_no_address(ses_sender: SesEmailAdapter) -> None:
    member_id, context = register("o-frank", phone="13812340002", email="frank@example.com")  # SMS only
    verify_email(context)
    with pytest.raises(ProviderError):
        ses_sender.send(message(member_id))
    # Granted later, then the address removed: still nothing to send to.
    call(member_event("PUT", "/v1/members/me/consents", context, {"consents": [email_consent(True)]}))
    assert call(member_event("PATCH", "/v1/members/me", context, {"email": None}))[0] == 200
    with pytest.raises(ProviderError):
        ses_sender.send(message(member_id, send_id="cmp#C3#x"))
    assert emails_sent() == []


def test_erased_and_unknown_members_get_no_address(directory_function: str) -> None:
    member_id, context = register("o-dave", phone="13812349999")
    status, _ = call(member_event("DELETE", "/v1/members/me", context))
    assert status == 204
    directory = MembersContactDirectory(directory_function)

    assert directory.address(member_id, "sms", "cmp#C1#x") is None
    assert directory.address("01HZZZZZZZZZZZZZZZZZZZZZZZ", "sms", "cmp#C1#y") is None
    raw = aws("lambda").invoke(
        FunctionName=directory_function,
        Payload=json.dumps({"member_id": member_id, "channel": "sms", "purpose": "p"}).encode(),
    )
    assert json.loads(raw["Payload"].read()) == {"found": False, "reason": "erased"}
    adapter = SnsSmsAdapter(directory)
    with pytest.raises(ProviderError):
        adapter.send(message(member_id))
    assert sms_sent() == []


def test_a_malformed_request_is_refused_and_a_failing_directory_is_retryable(directory_function: str) -> None:
    directory = MembersContactDirectory(directory_function)
    with pytest.raises(ProviderError) as refused:
        directory.address("01HX9ZK3M5N7P9Q1R3S5T7V9WX", "inbox", "p")
    assert refused.value.reason == "contact_directory_refused" and not refused.value.retryable

    with pytest.raises(ProviderError) as unavailable:
        MembersContactDirectory("mallcrm-test-no-such-function").address(
            "01HX9ZK3M5N7P9Q1R3S5T7V9WX", "sms", "p"
        )
    assert unavailable.value.retryable


def test_dispatch_in_aws_mode_uses_the_directory_for_every_real_channel(
    directory_function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = DispatchSettings.model_validate(
        {
            "stage": "test",
            "service_name": "campaigns",
            "event_bus_name": "bus",
            "table_name": "campaigns",
            "dispatch_queue_url": "https://sqs/q",
            "due_function_arn": "arn:due",
            "scheduler_role_arn": "arn:role",
            "channel_mode": "aws",
            "contact_directory_function": directory_function,
            "email_from": "mall@example.com",
            "ses_configuration_set": "mallcrm-test-campaigns-email",
            "wechat_template_id": "TPL",
            "wechat_app_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wechat-app",
        }
    )
    adapters = adapters_from(settings)
    # Sent through the receipts configuration set, or no delivery or click would ever come back.
    assert getattr(adapters["email"], "configuration_set", None) == "mallcrm-test-campaigns-email"
    directories = {name: getattr(a, "contacts", None) for name, a in adapters.items()}
    assert {n: type(d).__name__ for n, d in directories.items() if d} == {
        "sms": "MembersContactDirectory",
        "email": "MembersContactDirectory",
        "wechat": "MembersContactDirectory",
    }
    with pytest.raises(RuntimeError, match="CONTACT_DIRECTORY_FUNCTION"):
        adapters_from(settings.model_copy(update={"contact_directory_function": None}))


def test_sms_and_wechat_follow_the_members_consent_now_for_marketing_and_transactional_sends(
    directory_function: str,
) -> None:
    member_id, context = register(
        "o-gina", phone="13812340003", consents=[marketing("sms", True), marketing("wechat", True)]
    )
    login("o-gina")  # seals the openid
    purposes = (f"cmp#C1#{member_id}", f"jrn#birthday#{member_id}#2026", "ntf#01HTICKETREPLY0000000000")
    for purpose in purposes:
        assert lookup(member_id, "sms", purpose)["address"] == "+8613812340003"
        assert lookup(member_id, "wechat", purpose)["address"] == "o-gina"

    # SMS withdrawn in members: refused from the next lookup on — campaigns' projection has not even
    # been told yet (no event consumer runs here) — while WeChat, still granted, is answered.
    status, _ = call(
        member_event("PUT", "/v1/members/me/consents", context, {"consents": [marketing("sms", False)]})
    )
    assert status == 200
    for purpose in purposes:
        assert lookup(member_id, "sms", purpose) == {"found": False, "reason": "not_consented"}
        assert lookup(member_id, "wechat", purpose)["found"] is True
    transactional = message(member_id, send_id="ntf#01HTICKETREPLY0000000001", kind="transactional")
    with pytest.raises(ProviderError) as refused:
        SnsSmsAdapter(MembersContactDirectory(directory_function)).send(transactional)
    assert refused.value.reason == "no_address" and not refused.value.retryable
    assert sms_sent() == []

    # Granted again: a ticket reply by SMS goes out (transactional sends use the same consent).
    call(member_event("PUT", "/v1/members/me/consents", context, {"consents": [marketing("sms", True)]}))
    SnsSmsAdapter(MembersContactDirectory(directory_function)).send(transactional)
    assert sms_sent() == [("+8613812340003", "您好 周末全场8折")]
    # Every lookup was audited, refused or not, with its purpose.
    assert len(audit_entries(member_id)) == 4 * len(purposes) + 2


def test_a_channel_never_decided_is_not_consented(directory_function: str) -> None:
    member_id, _ = register("o-hank", phone="13812340004", consents=[])
    login("o-hank")
    for channel in ("sms", "wechat"):
        for purpose in (f"cmp#C1#{member_id}", "ntf#01HTICKETREPLY0000000002"):
            assert lookup(member_id, channel, purpose) == {"found": False, "reason": "not_consented"}
    mine = [i["sk"] for i in items() if i["pk"] == f"MEMBER#{member_id}"]
    assert not any(sk.startswith("CONSENT#marketing") for sk in mine)  # truly never decided


def test_one_lookup_is_one_batch_get_one_audit_put_and_one_kms_decrypt(directory_function: str) -> None:
    member_id, _ = register("o-iris", phone="13812340005")  # SMS granted, WeChat never decided
    login("o-iris")  # the openid is held: only the consent refuses WeChat
    calls: list[str] = []

    def count(**kwargs: Any) -> None:
        calls.append(kwargs["event_name"].removeprefix("before-call."))

    hooked = [(shared_client(service), service) for service in ("dynamodb", "kms")]
    for aws_client, service in hooked:
        aws_client.meta.events.register(f"before-call.{service}", count)
    try:
        assert lookup(member_id, "sms", f"cmp#C1#{member_id}")["found"] is True
        answered = sorted(calls)
        calls.clear()
        assert lookup(member_id, "wechat", f"cmp#C1#{member_id}") == {
            "found": False,
            "reason": "not_consented",
        }
        refused = sorted(calls)
    finally:
        for aws_client, service in hooked:
            aws_client.meta.events.unregister(f"before-call.{service}", count)
    # The consent rides in the profile's BatchGetItem (consistent): no extra round trip for it.
    assert answered == ["dynamodb.BatchGetItem", "dynamodb.PutItem", "kms.Decrypt"]
    assert refused == ["dynamodb.BatchGetItem", "dynamodb.PutItem"]  # no data key unwrapped
