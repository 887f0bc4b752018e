"""Members' contracts F and G and the phone change, through the local cloud on the real template.

A shopper registers with a birthday tomorrow (mall time) and marketing by SMS and WeChat; another
without a birthday. When the virtual clock passes 09:00 in Asia/Shanghai, EventBridge Scheduler runs
MembersBirthdayFunction and exactly one MemberBirthdayToday reaches the bus, for her, with
``birthday_on`` = that local date. She then switches marketing by SMS off in one
``PUT /v1/members/me/preferences``: MemberConsentChanged flows to campaigns, whose consent
projection shows SMS withdrawn and WeChat still granted. Finally she changes her phone: the code
arrives in ``GET /_local/outbox`` (the fake SMS adapter), she confirms it, and staff find her by
the new number only. She logs out everywhere: her old token is refused at the gateway.

E-mail: four more shoppers register — one gives an address, grants marketing by e-mail and confirms
the address with the code members mails to it (read from ``GET /_local/outbox``); one gives an
address but grants SMS only; one grants e-mail but gives no address; one gives an address and grants
e-mail but never confirms it. Campaigns' dispatch, switched to its real channel adapters
(``CHANNEL_MODE=aws``: the contact directory, then SES v2, here moto's SES), sends one e-mail
campaign message to each: exactly one mail goes out, to the first shopper's address; the second is
suppressed ``no_consent`` before members is even asked; the third and fourth fail
``no_address:email``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.localcloud.cloud import LocalCloud
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
MALL = ZoneInfo("Asia/Shanghai")
ADMIN = "contracts.admin"
NEW_PHONE = "13900007777"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _call(cloud: LocalCloud, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    status, _, raw = cloud.http(method, path, headers, json.dumps(body).encode() if body is not None else b"")
    return status, json.loads(raw) if raw else None


def _next_nine(now: datetime) -> datetime:
    local = now.astimezone(MALL)
    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
    return nine if nine > local else nine + timedelta(days=1)


@pytest.fixture(scope="module")
def flowed() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT)
    try:
        facts: dict[str, Any] = {"cloud": cloud}
        flow._create_staff_user(cloud, ADMIN, "admin")
        birthday_run = _next_nine(cloud.clock.now())
        facts["birthday_on"] = birthday_run.date().isoformat()
        born = birthday_run.date().replace(year=1992)  # 1992 is a leap year: any month-day exists
        consents = [
            {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-1"},
            {"purpose": "marketing", "channel": "wechat", "granted": True, "text_version": "mkt-1"},
        ]
        status, login = flow.wechat_login(cloud, "o-contracts-a")
        assert status == 200
        status, a = _call(
            cloud,
            "POST",
            "/v1/members",
            login["token"],
            {"phone": "13900006666", "name": "周杰", "birthday": born.isoformat(), "consents": consents},
        )
        assert status == 201, a
        status, b = flow.register(cloud, "o-contracts-b", "13900006667", consents[:1], name="林一")
        assert status == 201, b
        facts["a"], facts["b"] = a["member"]["member_id"], b["member"]["member_id"]
        cloud.settle()
        cloud.advance((birthday_run - cloud.clock.now()).total_seconds() + 600)
        facts["birthdays"] = [e for e in cloud.events if e.get("detail-type") == "MemberBirthdayToday"]
        # a fresh token (the registration one has expired by now)
        status, login = flow.wechat_login(cloud, "o-contracts-a")
        token = login["token"]
        facts["preferences"] = _call(
            cloud,
            "PUT",
            "/v1/members/me/preferences",
            token,
            {"text_version": "prefs-2", "marketing": {"sms": False}},
        )
        cloud.settle()
        ddb = cloud.client("dynamodb")
        table = cloud.physical_id("CampaignsTable")
        facts["projection"] = {
            channel: ddb.get_item(
                TableName=table,
                Key={"pk": {"S": f"MEMBER#{facts['a']}"}, "sk": {"S": f"CONSENT#marketing#{channel}"}},
            ).get("Item")
            for channel in ("sms", "wechat")
        }
        facts["code_request"] = _call(
            cloud, "POST", "/v1/members/me/phone/verification", token, {"phone": NEW_PHONE}
        )
        status, _, raw = cloud.http("GET", "/_local/outbox", {}, b"")
        facts["outbox"] = json.loads(raw)["messages"]
        sms = [
            m for m in facts["outbox"] if m.get("service") == "members" and m.get("to") == "+86" + NEW_PHONE
        ]
        code = "000000"
        if sms:
            found = re.search(r"\b(\d{6})\b", sms[-1]["body"])
            assert found is not None, sms[-1]  # the verification SMS carries its code
            code = found.group(1)
        facts["confirm"] = _call(cloud, "POST", "/v1/members/me/phone", token, {"code": code})
        admin = flow.staff_token(cloud, ADMIN)
        facts["search_new"] = _call(cloud, "GET", f"/v1/admin/members?phone={NEW_PHONE}", admin)
        facts["search_old"] = _call(cloud, "GET", "/v1/admin/members?phone=13900006666", admin)
        cloud.settle()
        facts["revoke"] = _call(cloud, "POST", "/v1/members/me/tokens/revoke", token)
        cloud.advance(61)  # past the gateway's authorizer cache (60 s)
        facts["after_revoke"] = _call(cloud, "GET", "/v1/members/me", token)
        yield facts
    finally:
        cloud.stop()


def test_one_birthday_event_for_her_with_the_local_date(flowed):
    events = flowed["birthdays"]
    assert [e["detail"]["data"]["member_id"] for e in events] == [flowed["a"]]
    data = events[0]["detail"]["data"]
    assert (data["birthday_on"], data["mode"]) == (flowed["birthday_on"], "day")
    assert events[0]["source"] == "mallcrm.members"


def test_preferences_withdraw_sms_and_campaigns_projection_follows(flowed):
    status, body = flowed["preferences"]
    assert status == 200, body
    assert body["marketing"] == {"sms": False, "email": False, "wechat": True, "inbox": False}
    projection = flowed["projection"]
    assert projection["sms"] is not None and projection["sms"]["granted"]["BOOL"] is False
    assert projection["wechat"]["granted"]["BOOL"] is True


def test_the_phone_change_code_is_in_the_local_outbox_and_moves_the_lookup(flowed):
    assert flowed["code_request"][0] == 202, flowed["code_request"]
    sms = [m for m in flowed["outbox"] if m.get("service") == "members"]
    assert sms and sms[-1]["adapter"] == "FakeSmsSender" and sms[-1]["kind"] == "verification_code"
    status, me = flowed["confirm"]
    assert status == 200, me
    assert me["phone"] == "+86" + NEW_PHONE
    assert [m["member_id"] for m in flowed["search_new"][1]["members"]] == [flowed["a"]]
    assert flowed["search_old"][1]["members"] == []


def test_log_out_everywhere_is_enforced_at_the_gateway(flowed):
    assert flowed["revoke"][0] == 204
    assert flowed["after_revoke"][0] == 403


MAIL_FROM = "news@mall.example"


@pytest.fixture(scope="module")
def emailed(flowed: dict[str, Any]) -> dict[str, Any]:
    from dataclasses import replace

    from moto.ses.models import ses_backends

    cloud: LocalCloud = flowed["cloud"]
    email_yes = {"purpose": "marketing", "channel": "email", "granted": True, "text_version": "mkt-1"}
    sms_yes = {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-1"}
    shoppers = {
        "consented": ("o-mail-e", "13900008881", "Mei.Chen@Example.COM", [email_yes]),
        "not_consented": ("o-mail-f", "13900008882", "fang@example.com", [sms_yes]),
        "no_address": ("o-mail-g", "13900008883", None, [email_yes]),
        "unverified": ("o-mail-h", "13900008884", "hong@example.com", [email_yes]),
    }
    facts: dict[str, Any] = {"members": {}, "answers": {}}
    for label, (openid, phone, email, consents) in shoppers.items():
        status, login = flow.wechat_login(cloud, openid)
        assert status == 200, login
        body: dict[str, Any] = {"phone": phone, "name": "陈美", "consents": consents}
        if email is not None:
            body["email"] = email
        status, answer = _call(cloud, "POST", "/v1/members", login["token"], body)
        assert status == 201, answer
        facts["members"][label] = answer["member"]["member_id"]
        facts["answers"][label] = answer["member"]
        if label == "consented":  # confirms the address with the code mailed to it
            token = answer["token"]
            facts["code_sent"] = _call(cloud, "POST", "/v1/members/me/email/verification", token)
            status, _, raw = cloud.http("GET", "/_local/outbox", {}, b"")
            mails = [
                m
                for m in json.loads(raw)["messages"]
                if m.get("service") == "members" and m.get("channel") == "email"
            ]
            facts["code_mail"] = mails[-1] if mails else {}
            code = re.search(r"\b(\d{6})\b", str(facts["code_mail"].get("body")))
            facts["confirmed"] = _call(
                cloud,
                "POST",
                "/v1/members/me/email/confirmation",
                token,
                {"code": code.group(1) if code else "000000"},
            )
    cloud.settle()  # MemberConsentChanged → campaigns' consent projection

    dispatch = cloud.functions["CampaignsDispatchFunction"]
    cloud.runner.register(
        replace(
            dispatch, environment={**dispatch.environment, "CHANNEL_MODE": "aws", "EMAIL_FROM": MAIL_FROM}
        )
    )
    try:
        cloud.client("sesv2").create_email_identity(EmailIdentity=MAIL_FROM)
        started = cloud.clock.now()
        for member_id in facts["members"].values():
            request = {
                "send_id": f"cmp#MAIL1#{member_id}",
                "kind": "marketing",
                "campaign_id": "MAIL1",
                "member_id": member_id,
                "channels": ["email"],
                "priority": 50,
                "content": {"email": {"title": "双十二", "body": "{name}, 双十二会员日"}},
                "personalisation": {"name": "陈美"},
                "requested_at": started.isoformat(),
            }
            cloud.client("sqs").send_message(
                QueueUrl=cloud.physical_id("CampaignsDispatchQueue"), MessageBody=json.dumps(request)
            )
        cloud.settle()
        cloud.advance(180)  # past the decision window: the held slot is confirmed and sent
        cloud.settle()
    finally:
        cloud.runner.register(dispatch)
    backend = ses_backends[cloud.account_id][cloud.region]
    facts["ses"] = [
        (list(m.destinations["ToAddresses"]), m.source, m.subject, m.body) for m in backend.sent_messages
    ]
    facts["sent"] = [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == "MessageSent"]
    facts["suppressed"] = [
        e["detail"]["data"] for e in cloud.events if e.get("detail-type") == "MessageSuppressed"
    ]
    audit: dict[str, list[str]] = {}
    for label, member_id in facts["members"].items():
        entries = cloud.client("dynamodb").query(
            TableName=cloud.physical_id("MembersTable"),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"AUDIT#{member_id}"}},
        )["Items"]
        audit[label] = [i["action"]["S"] for i in entries]
    facts["audit"] = audit
    return facts


def test_registration_keeps_the_normalised_address_and_the_code_mail_confirms_it(emailed):
    assert emailed["answers"]["consented"]["email"] == "Mei.Chen@example.com"
    assert emailed["answers"]["not_consented"]["email"] == "fang@example.com"
    assert emailed["answers"]["no_address"]["email"] is None
    assert emailed["code_sent"][0] == 202, emailed["code_sent"]
    mail = emailed["code_mail"]
    assert (mail["to"], mail["adapter"], mail["kind"]) == (
        "Mei.Chen@example.com",
        "FakeVerificationMail",
        "verification_code",
    )
    status, member = emailed["confirmed"]
    assert status == 200 and member["email_verified"] is True, member


def test_an_email_campaign_message_reaches_ses_only_for_the_consenting_member_with_an_address(emailed):
    assert emailed["ses"] == [(["Mei.Chen@example.com"], MAIL_FROM, "双十二", "陈美, 双十二会员日")]
    consented = emailed["members"]["consented"]
    assert [(s["member_id"], s["channel"]) for s in emailed["sent"] if s["campaign_id"] == "MAIL1"] == [
        (consented, "email")
    ]
    assert emailed["audit"]["consented"] == ["contact_lookup"]


def test_no_mail_without_the_email_consent_or_without_an_address(emailed):
    outcomes = {
        s["member_id"]: (s["outcome"], s["reason"])
        for s in emailed["suppressed"]
        if s["campaign_id"] == "MAIL1" and s["outcome"] != "deferred"
    }
    members = emailed["members"]
    assert outcomes[members["not_consented"]] == ("suppressed", "no_consent")
    # E-mail was the message's only channel: no fallback, the reason names the channel tried.
    assert outcomes[members["no_address"]] == ("failed", "no_address:email")
    assert outcomes[members["unverified"]] == ("failed", "no_address:email")
    assert members["consented"] not in outcomes
    # Campaigns stopped the unconsented send on its own projection: members was never asked.
    assert emailed["audit"]["not_consented"] == []
    assert emailed["audit"]["no_address"] == ["contact_lookup"]
    assert emailed["audit"]["unverified"] == ["contact_lookup"]


def test_nothing_ended_in_a_dead_letter_queue(flowed):
    cloud = flowed["cloud"]
    sqs = cloud.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.endswith("-dlq"):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0", url
