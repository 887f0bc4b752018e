"""WeChat's message push, pure parts: the signature (with WeChat's documented vectors), the
documented subscribe_msg_sent_event samples in XML and JSON, safe mode refused, and what a result
becomes (delivered, or a failure with WeChat's ErrorStatus as the reason)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from services.campaigns.logic.receipts import Receipt, SentMessage
from services.campaigns.logic.wechat_push import (
    MAX_BODY_BYTES,
    PushError,
    SafeModeUnsupported,
    SentResult,
    SignatureRejected,
    apply_sent_result,
    failure_reason,
    parse_push,
    receipt_kind,
    refuse_safe_mode,
    signature,
    verify,
)

RECEIVED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

# The mini-program guide "订阅消息" (subscribe-message.html), section 3, verbatim samples.
XML_SAMPLE = """<xml>
    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
    <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
    <CreateTime>1610969468</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[subscribe_msg_sent_event]]></Event>
    <SubscribeMsgSentEvent>
        <List>       <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
            <MsgID>1700827132819554304</MsgID>
            <ErrorCode>0</ErrorCode>
            <ErrorStatus><![CDATA[success]]></ErrorStatus>
        </List>
    </SubscribeMsgSentEvent>
</xml>"""

JSON_SAMPLE = """{
    "ToUserName": "gh_123456789abc",
    "FromUserName": "o7esq5PHRGBQYmeNyfG064wEFVpQ",
    "CreateTime": "1620963428",
    "MsgType": "event",
    "Event": "subscribe_msg_sent_event",
    "List": {
        "TemplateId": "BEwX0BO-T3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8",
        "MsgID": "1864323726461255680",
        "ErrorCode": "0",
        "ErrorStatus": "success"
      }

}"""


def test_the_signature_is_the_documented_sha1_of_the_sorted_strings() -> None:
    # WeChat's own examples (message push guide): the URL check and a plaintext push.
    assert signature("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert signature("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    # …and the algorithm itself: sorted lexicographically, joined, SHA-1 hex.
    joined = "".join(sorted(["tok", "1700000000", "42"])).encode()
    assert signature("tok", "1700000000", "42") == hashlib.sha1(joined).hexdigest()


def _query(token: str, timestamp: str, nonce: str = "1514711492") -> dict[str, str]:
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def test_verify_accepts_a_fresh_signed_query_and_refuses_the_rest() -> None:
    now = datetime.fromtimestamp(1714036504 + 10, tz=UTC)
    good = _query("AAAAA", "1714036504")
    verify("AAAAA", good, now=now, max_skew_seconds=300)
    verify("AAAAA", good | {"signature": good["signature"].upper()}, now=now, max_skew_seconds=300)
    refused = [
        good | {"signature": "0" * 40},  # wrong
        {k: v for k, v in good.items() if k != "signature"},  # missing
        {k: v for k, v in good.items() if k != "nonce"},
        good | {"nonce": "1514711493"},  # another nonce: the signature no longer matches
    ]
    for query in refused:
        with pytest.raises(SignatureRejected):
            verify("AAAAA", query, now=now, max_skew_seconds=300)
    with pytest.raises(SignatureRejected):  # another token
        verify("BBBBB", good, now=now, max_skew_seconds=300)
    with pytest.raises(SignatureRejected):  # an empty token never verifies
        verify("", _query("", "1714036504"), now=now, max_skew_seconds=300)
    late = datetime.fromtimestamp(1714036504 + 301, tz=UTC)
    with pytest.raises(SignatureRejected, match="window"):  # a captured URL replayed later
        verify("AAAAA", good, now=late, max_skew_seconds=300)


def test_the_documented_xml_sample_is_read() -> None:
    push = parse_push(XML_SAMPLE, RECEIVED)
    assert push.event == "subscribe_msg_sent_event"
    assert push.results == (
        SentResult(
            msg_id="1700827132819554304",
            template_id="VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc",
            error_code=0,
            error_status="success",
            at=datetime.fromtimestamp(1610969468, tz=UTC),
        ),
    )


def test_the_documented_json_sample_is_read_with_list_as_one_object_or_an_array() -> None:
    push = parse_push(JSON_SAMPLE, RECEIVED)
    assert [(r.msg_id, r.error_code, r.error_status) for r in push.results] == [
        ("1864323726461255680", 0, "success")
    ]
    assert push.results[0].at == datetime.fromtimestamp(1620963428, tz=UTC)
    # More than one result: List is an array; numbers may come as numbers, MsgID beyond 2**53 exact.
    body = (
        '{"MsgType": "event", "Event": "subscribe_msg_sent_event", "CreateTime": 1620963428, "List": ['
        '{"TemplateId": "T", "MsgID": 1864323726461255681, "ErrorCode": 0, "ErrorStatus": "success"},'
        '{"TemplateId": "T", "MsgID": "2", "ErrorCode": "10005", '
        '"ErrorStatus": "fail:user refuse to accept the msg"}]}'
    )
    results = parse_push(body, RECEIVED).results
    assert [(r.msg_id, r.error_code) for r in results] == [("1864323726461255681", 0), ("2", 10005)]


def test_other_pushes_are_recognised_and_carry_no_results() -> None:
    popup = (
        '{"ToUserName": "gh_1", "FromUserName": "o1", "CreateTime": "1620973045", "MsgType": "event",'
        ' "Event": "subscribe_msg_popup_event", "List": [{"TemplateId": "T", '
        '"SubscribeStatusString": "accept", "PopupScene": "0"}]}'
    )
    assert parse_push(popup, RECEIVED).event == "subscribe_msg_popup_event"
    assert parse_push(popup, RECEIVED).results == ()
    text = "<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
    assert parse_push(text, RECEIVED).event == ""


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[1, 2]",
        "<xml><unclosed></xml>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Event>&a;</Event></xml>',
        '{"MsgType": "event", "Event": "subscribe_msg_sent_event", "List": {"ErrorCode": "0"}}',  # no MsgID
        '{"MsgType": "event", "Event": "subscribe_msg_sent_event", "List": {"MsgID": "1", "ErrorCode": "x"}}',
        '{"MsgType": "event", "Event": "subscribe_msg_sent_event", "List": ["x"]}',
        "{" + " " * MAX_BODY_BYTES + "}",
    ],
)
def test_unreadable_bodies_are_refused(body: str) -> None:
    with pytest.raises(PushError):
        parse_push(body, RECEIVED)


def test_safe_mode_is_refused_clearly() -> None:
    with pytest.raises(SafeModeUnsupported, match="plaintext"):
        refuse_safe_mode({"encrypt_type": "aes"})
    refuse_safe_mode({"encrypt_type": "raw"})
    refuse_safe_mode({})
    with pytest.raises(SafeModeUnsupported):
        parse_push('{"ToUserName": "gh_1", "Encrypt": "c2VjcmV0"}', RECEIVED)
    with pytest.raises(SafeModeUnsupported):
        parse_push("<xml><ToUserName>gh_1</ToUserName><Encrypt>c2VjcmV0</Encrypt></xml>", RECEIVED)


def _result(code: int, status: str) -> SentResult:
    return SentResult(msg_id="9", template_id="T", error_code=code, error_status=status, at=RECEIVED)


def test_a_result_is_delivered_or_a_failure_with_wechats_reason() -> None:
    assert (receipt_kind(_result(0, "success")), failure_reason(_result(0, "success"))) == ("delivered", None)
    refused = _result(10005, "fail:user refuse to accept the msg")
    assert (receipt_kind(refused), failure_reason(refused)) == ("bounced", "user_refuse_to_accept_the_msg")
    assert failure_reason(_result(20001, "fail:system error")) == "system_error"
    assert failure_reason(_result(7, "")) == "errorcode_7"


class Store:
    def __init__(self, known: dict[str, SentMessage]) -> None:
        self.known = known
        self.recorded: list[tuple[Receipt, dict[str, int]]] = []

    def wechat_message(self, msg_id: str) -> SentMessage | None:
        return self.known.get(msg_id)

    def sent_message(self, send_id: str) -> SentMessage | None:  # pragma: no cover - not used
        raise AssertionError

    def record(self, receipt: Receipt, message: SentMessage, event: object, counters: dict[str, int]) -> bool:
        first = all(r.send_id != receipt.send_id for r, _ in self.recorded)
        if first:
            self.recorded.append((receipt, counters))
        return first


def test_apply_finds_the_send_by_msgid_and_records_once() -> None:
    message = SentMessage(send_id="cmp#C#M", member_id="M", kind="marketing", campaign_id="C", variant="A")
    store = Store({"9": message})
    assert apply_sent_result(_result(0, "success"), store) == "recorded"
    assert apply_sent_result(_result(0, "success"), store) == "duplicate"
    assert apply_sent_result(SentResult("10", "T", 0, "success", RECEIVED), store) == "unknown_send"
    receipt, counters = store.recorded[0]
    assert (receipt.kind, receipt.channel, receipt.send_id, receipt.provider_message_id) == (
        "delivered",
        "wechat",
        "cmp#C#M",
        "9",
    )
    assert counters == {"delivered": 1}


def test_the_push_functions_cold_import_stays_small() -> None:
    """The public route's function imports neither Powertools' event handler nor dispatch's store,
    the receipts' store or the push logic until a request needs them."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    code = (
        "import sys, json\nimport services.campaigns.handlers.wechat_push_api\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME": "import-test"},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    assert "services.campaigns.handlers.wechat_push_api" in loaded
    assert not {m for m in loaded if m.startswith("aws_lambda_powertools.event_handler")}
    for heavy in (
        "services.campaigns.dal.dispatch",
        "services.campaigns.dal.receipts",
        "services.campaigns.logic.wechat_push",
        "xml.etree.ElementTree",
    ):
        assert heavy not in loaded, heavy
