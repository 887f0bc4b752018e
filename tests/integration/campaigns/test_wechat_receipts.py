"""WeChat receipts on moto: a campaign's subscription message goes out through the dispatch handler
with real channels (``CHANNEL_MODE=aws``; WeChat's HTTP API replaced by a recording fake that
answers ``errcode 0`` with a ``msgid``; members' contact directory by a recorded fake), ``mark_sent``
indexes the send record by the msgid, and WeChat's ``subscribe_msg_sent_event`` pushed to
CampaignsWeChatPushFunction (signed with the Token from Secrets Manager) records the result once:
delivered with MessageDelivered and the campaign's counter, a failure with WeChat's reason; replays,
a bad signature, safe mode and someone else's msgid write nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.campaigns.dal import channels as channels_dal
from services.campaigns.dal import wechat_token
from services.campaigns.dal.campaign_stats import stats_by_variant
from services.campaigns.handlers import dispatch, on_member_privacy, wechat_push_api
from services.campaigns.logic.wechat_push import signature
from shared import clock
from shared import secrets as shared_secrets
from shared.dynamo import to_item
from shared.events.contracts import MemberErased
from tests.integration.helpers import (
    ACCOUNT,
    REGION,
    FakeContext,
    all_items,
    aws,
    contract_bus_event,
    http_event,
    sqs_event,
)

TABLE = "mallcrm-test-campaigns"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
CAMPAIGN = "01HZ5555555555555555555555"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PUSH_TOKEN = "PushToken0123456789abcdefABCDEF"
OPENID = "o-openid-0001"
PATH = "/v1/integrations/wechat/message-push"
MSGIDS = [1700827132819554304, 1864323726461255680]  # the documented samples' MsgIDs (> 2**53)


class RecordedContacts:
    """Stands in for members' contact directory: the member's openid, and what it was asked."""

    asked: list[tuple[str, str, str]] = []

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        RecordedContacts.asked.append((member_id, channel, purpose))
        return OPENID if (member_id, channel) == (MEMBER, "wechat") else None


class FakeWeChatApi:
    """WeChat's two endpoints as the adapter calls them: the stable token, and
    ``subscribeMessage.send`` answering ``{"errcode": 0, "errmsg": "ok", "msgid": …}`` with the next
    msgid. Records every POST."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.msgids = list(MSGIDS)

    def __call__(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((url, payload))
        if url == wechat_token.STABLE_TOKEN_URL:
            return {"access_token": "ACCESS-1", "expires_in": 7200}
        assert url.startswith(channels_dal.WeChatSubscribeAdapter.URL)
        return {"errcode": 0, "errmsg": "ok", "msgid": self.msgids.pop(0)}

    def sends(self) -> list[dict[str, Any]]:
        return [body for url, body in self.calls if url.startswith(channels_dal.WeChatSubscribeAdapter.URL)]


@pytest.fixture
def wechat(campaigns: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeChatApi]:
    url = aws("sqs").create_queue(QueueName="mallcrm-test-campaigns-dispatch")["QueueUrl"]
    secrets = aws("secretsmanager")
    app_arn = secrets.create_secret(
        Name="mallcrm/test/members/wechat-app",
        SecretString=json.dumps({"app_id": "wx-mall", "app_secret": "app-secret-0123456789"}),
    )["ARN"]
    push_arn = secrets.create_secret(
        Name="mallcrm/test/campaigns/wechat-message-push", SecretString=json.dumps({"token": PUSH_TOKEN})
    )["ARN"]
    pseudonym_arn = secrets.create_secret(
        Name="mallcrm/test/campaigns-pseudonym", SecretString="campaigns-pseudonym-key-0123456789abcdef"
    )["ARN"]
    for name, value in {
        "DISPATCH_QUEUE_URL": url,
        "DUE_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:due",
        "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/due",
        "CHANNEL_MODE": "aws",
        "CONTACT_DIRECTORY_FUNCTION": "mallcrm-test-members-contact-directory",
        "DECISION_WINDOW_SECONDS": "0",
        "WECHAT_TEMPLATE_ID": "TPL-1",
        "WECHAT_APP_SECRET_ARN": app_arn,
        "WECHAT_PUSH_SECRET_ARN": push_arn,
        "PSEUDONYM_KEY_SECRET_ARN": pseudonym_arn,
    }.items():
        monkeypatch.setenv(name, value)
    api = FakeWeChatApi()
    monkeypatch.setattr(dispatch, "MembersContactDirectory", RecordedContacts)
    monkeypatch.setattr(dispatch, "_noted", set())
    monkeypatch.setattr(channels_dal, "post_json", api)
    monkeypatch.setattr(wechat_token, "post_json", api)
    RecordedContacts.asked = []
    wechat_token.reset_providers()
    shared_secrets.clear_cache()
    clock.set_clock(lambda: NOW)
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item(
            {
                "pk": f"MEMBER#{MEMBER}",
                "sk": "CONSENT#marketing#wechat",
                "entity": "consent_projection",
                "member_id": MEMBER,
                "purpose": "marketing",
                "channel": "wechat",
                "granted": True,
                "changed_at": "2026-11-01T00:00:00.000000Z",
                "event_id": "e0",
            }
        ),
    )
    yield api
    wechat_token.reset_providers()
    shared_secrets.clear_cache()


def send_wechat(send_id: str, variant: str = "A") -> str:
    body = {
        "send_id": send_id,
        "kind": "marketing",
        "campaign_id": CAMPAIGN,
        "variant": variant,
        "member_id": MEMBER,
        "channels": ["wechat"],
        "content": {"wechat": {"title": "周末特惠", "body": "周末全场8折"}},
        "requested_at": clock.to_utc_iso(clock.now()),
    }
    assert dispatch.handler(sqs_event([json.dumps(body)]), FakeContext()) == {"batchItemFailures": []}
    item = record(send_id)
    assert item["status"] == "sent" and item["channel"] == "wechat"
    return str(item["provider_message_id"])


def record(send_id: str) -> dict[str, Any]:
    [item] = [i for i in all_items(TABLE) if i["pk"] == f"SEND#{send_id}"]
    return item


def signed_query(token: str = PUSH_TOKEN, at: datetime = NOW, nonce: str = "1514711492") -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def xml_push(msgid: str, code: int = 0, status: str = "success") -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{int(NOW.timestamp()) + 3}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event>"
        "<SubscribeMsgSentEvent><List><TemplateId><![CDATA[TPL-1]]></TemplateId>"
        f"<MsgID>{msgid}</MsgID><ErrorCode>{code}</ErrorCode><ErrorStatus><![CDATA[{status}]]></ErrorStatus>"
        "</List></SubscribeMsgSentEvent></xml>"
    )


def json_push(msgid: str, code: int = 0, status: str = "success") -> str:
    return json.dumps(
        {
            "ToUserName": "gh_123456789abc",
            "FromUserName": OPENID,
            "CreateTime": str(int(NOW.timestamp()) + 3),
            "MsgType": "event",
            "Event": "subscribe_msg_sent_event",
            "List": {"TemplateId": "TPL-1", "MsgID": msgid, "ErrorCode": str(code), "ErrorStatus": status},
        }
    )


def push(body: str, query: dict[str, str] | None = None, content_type: str = "text/xml") -> dict[str, Any]:
    event = http_event(
        "POST",
        PATH,
        body=body,
        query=signed_query() if query is None else query,
        headers={"content-type": content_type},
    )
    answer: dict[str, Any] = wechat_push_api.handler(event, FakeContext())
    return answer


def outbox(detail_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i.get("detail_type") == detail_type
    ]


def counters() -> dict[str, Any]:
    items = [
        i for i in all_items(TABLE) if i["pk"] == f"CAMPAIGN#{CAMPAIGN}" and i["sk"].startswith("STATS#")
    ]
    return stats_by_variant(items)


def test_a_delivered_wechat_message_is_counted_once_and_replays_are_ignored(wechat: FakeWeChatApi) -> None:
    send = f"cmp#{CAMPAIGN}#{MEMBER}"
    msgid = send_wechat(send)
    assert msgid == str(MSGIDS[0])  # exact, although beyond a double's precision
    assert [b["touser"] for b in wechat.sends()] == [OPENID]
    assert RecordedContacts.asked == [(MEMBER, "wechat", send)]
    item = record(send)
    assert (item["gsi1pk"], item["gsi1sk"]) == (f"WXMSG#{msgid}", "SEND")  # mark_sent indexed it
    assert "delivered_at" not in item
    assert outbox("MessageDelivered") == []  # WeChat's errcode 0 is acceptance; the push decides
    assert counters()["A"].get("delivered", 0) == 0

    answer = push(xml_push(msgid), query=signed_query() | {"openid": OPENID})  # WeChat may add openid
    assert (answer["statusCode"], answer["body"]) == (200, "success")
    assert answer["headers"]["Content-Type"].startswith("text/plain")
    for _ in range(2):  # WeChat's retries, or the same push again
        assert push(xml_push(msgid))["body"] == "success"

    [event] = outbox("MessageDelivered")
    assert (event["send_id"], event["channel"], event["variant"]) == (send, "wechat", "A")
    assert event["delivered_at"] == "2026-11-23T02:00:03.000000Z"  # the push's CreateTime
    stats = counters()["A"]
    assert (stats["sent"], stats["delivered"]) == (1, 1)
    assert record(send)["delivered_at"] == "2026-11-23T02:00:03.000000Z"
    assert OPENID not in json.dumps(all_items(TABLE), default=str)  # the push's openid is not kept


def test_a_refused_message_is_a_final_failure_with_wechats_reason(wechat: FakeWeChatApi) -> None:
    send = f"cmp#{CAMPAIGN}#{MEMBER}"
    msgid = send_wechat(send, variant="B")
    refused = json_push(msgid, code=10005, status="fail:user refuse to accept the msg")
    assert push(refused, content_type="application/json")["body"] == "success"
    item = record(send)
    assert (item["bounce_reason"], "delivered_at" in item) == ("user_refuse_to_accept_the_msg", False)
    # A later, contradicting result counts nothing: one final status per message.
    assert push(json_push(msgid), content_type="application/json")["body"] == "success"
    stats = counters()["B"]
    assert (stats["sent"], stats.get("bounced"), stats.get("delivered", 0)) == (1, 1, 0)
    assert outbox("MessageDelivered") == []


def test_a_bad_signature_is_refused_and_nothing_is_recorded(wechat: FakeWeChatApi) -> None:
    send = f"cmp#{CAMPAIGN}#{MEMBER}"
    msgid = send_wechat(send)
    before = all_items(TABLE)
    stale = signed_query(at=datetime(2026, 11, 23, 1, 50, tzinfo=UTC))  # ten minutes old
    for query in (
        signed_query(token="not-the-token"),
        {k: v for k, v in signed_query().items() if k != "signature"},
        {},
        stale,
    ):
        answer = push(xml_push(msgid), query=query)
        assert answer["statusCode"] == 401
        assert json.loads(answer["body"])["error"]["code"] == "invalid_signature"
    assert all_items(TABLE) == before


def test_safe_mode_and_unreadable_bodies_are_400_and_unknown_msgids_write_nothing(
    wechat: FakeWeChatApi,
) -> None:
    send = f"cmp#{CAMPAIGN}#{MEMBER}"
    send_wechat(send)
    before = all_items(TABLE)
    aes = push(
        '{"ToUserName": "gh_1", "Encrypt": "c2VjcmV0"}', query=signed_query() | {"encrypt_type": "aes"}
    )
    assert (aes["statusCode"], json.loads(aes["body"])["error"]["code"]) == (
        400,
        "wechat_safe_mode_unsupported",
    )
    broken = push("<xml><Event>", content_type="text/xml")
    assert (broken["statusCode"], json.loads(broken["body"])["error"]["code"]) == (
        400,
        "wechat_push_unreadable",
    )
    # Someone else's msgid (another sender of the mini-program) and other pushes: acknowledged.
    assert push(xml_push("999"))["body"] == "success"
    popup = '{"MsgType": "event", "Event": "subscribe_msg_popup_event", "List": []}'
    assert push(popup, content_type="application/json")["body"] == "success"
    assert all_items(TABLE) == before


def test_the_url_check_echoes_echostr_only_when_signed(wechat: FakeWeChatApi) -> None:
    query = signed_query() | {"echostr": "4375120948345356249"}
    answer = wechat_push_api.handler(http_event("GET", PATH, query=query), FakeContext())
    assert (answer["statusCode"], answer["body"]) == (200, "4375120948345356249")
    assert answer["headers"]["Content-Type"].startswith("text/plain")
    forged = query | {"signature": "0" * 40}
    answer = wechat_push_api.handler(http_event("GET", PATH, query=forged), FakeContext())
    assert answer["statusCode"] == 401


def test_a_result_for_an_erased_members_message_writes_nothing(wechat: FakeWeChatApi) -> None:
    send = f"cmp#{CAMPAIGN}#{MEMBER}"
    msgid = send_wechat(send)
    erased = MemberErased(member_id=MEMBER, erased_at=NOW, requested_by="member")
    assert on_member_privacy.handler(sqs_event([contract_bus_event(erased)]), FakeContext()) == {
        "batchItemFailures": []
    }
    before = all_items(TABLE)
    # The send record, and with it its WeChat index entry, went with the member.
    assert not [i for i in before if i.get("gsi1pk") == f"WXMSG#{msgid}"]
    assert push(xml_push(msgid))["body"] == "success"
    assert all_items(TABLE) == before
