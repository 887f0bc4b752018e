"""A WeChat subscription-message send is retried only when the request certainly did not reach
WeChat (subscribeMessage.send has no idempotency key): connect failures stay retryable, failures
after the request was written are ``wechat_outcome_unknown`` and final.

Two fake HTTP layers: a recording ``http_post`` that raises what urllib raises, and — to show those
are the shapes urllib really produces — the real ``post_json`` (urllib) against a scripted HTTP
endpoint on the loopback interface that records every request it received in full."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any
from urllib.error import HTTPError, URLError

import pytest

from services.campaigns.dal.channels import (
    WECHAT_OUTCOME_UNKNOWN,
    WeChatSubscribeAdapter,
    wechat_send_failure,
)
from services.campaigns.dal.wechat_token import post_json
from services.campaigns.logic.dispatch import OutgoingMessage, ProviderError

MESSAGE = OutgoingMessage(
    send_id="cmp#c1#m1",
    member_id="m1",
    channel="wechat",
    kind="marketing",
    title="周末特惠",
    body="周末全场8折",
    link="/pages/promo/index",
    campaign_id="c1",
    topic=None,
)
TOKEN = "TOKEN-SECRET-1"  # a fake access token


class Contacts:
    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        return "o-openid-m1"


class RecordingPost:
    """The fake transport: records each POST, then raises or answers as scripted."""

    def __init__(self, *outcomes: Exception | dict[str, Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((url, payload))
        outcome = self.outcomes.pop(0) if self.outcomes else {"errcode": 0, "msgid": 7}
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def adapter(post: Callable[[str, dict[str, Any]], dict[str, Any]]) -> WeChatSubscribeAdapter:
    return WeChatSubscribeAdapter(Contacts(), "TPL-1", lambda: TOKEN, post)


def failure_of(post: Callable[[str, dict[str, Any]], dict[str, Any]]) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        adapter(post).send(MESSAGE)
    return raised.value


def http_error(status: int) -> HTTPError:
    return HTTPError("https://api.weixin.qq.com/x", status, "status", Message(), None)


class TestWithARecordingTransport:
    def test_a_connect_timeout_is_retryable(self) -> None:
        # urllib wraps an OSError raised while connecting (socket.create_connection timing out).
        post = RecordingPost(URLError(TimeoutError("timed out")))
        error = failure_of(post)
        assert (error.reason, error.retryable) == ("wechat_unreachable", True)
        assert len(post.calls) == 1  # the adapter does not retry by itself: dispatch does, later

    def test_a_read_timeout_after_the_request_was_sent_is_final_and_sent_once(self) -> None:
        # getresponse() timing out: urllib lets the bare TimeoutError through (not a URLError).
        post = RecordingPost(TimeoutError("The read operation timed out"))
        error = failure_of(post)
        assert (error.reason, error.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)
        assert len(post.calls) == 1

    def test_an_answer_without_an_errcode_is_an_unknown_outcome(self) -> None:
        error = failure_of(RecordingPost({"msgid": 1}))
        assert (error.reason, error.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)
        error = failure_of(RecordingPost({"errcode": "busy?"}))
        assert (error.reason, error.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)

    def test_system_busy_stays_retryable_and_success_waits_for_the_push_receipt(self) -> None:
        error = failure_of(RecordingPost({"errcode": -1, "errmsg": "system busy"}))
        assert (error.reason, error.retryable) == ("wechat_-1", True)
        delivery = adapter(RecordingPost({"errcode": 0, "errmsg": "ok", "msgid": 42})).send(MESSAGE)
        assert (delivery.provider_message_id, delivery.delivered) == ("42", False)

    def test_an_unknown_outcome_after_a_rejected_token_is_still_final(self) -> None:
        class Renewable:
            def __init__(self) -> None:
                self.tokens = ["T1", "T2"]

            def __call__(self) -> str:
                return self.tokens[0]

            def invalidate(self, token: str) -> None:
                self.tokens.pop(0)

        post = RecordingPost({"errcode": 40001}, ConnectionResetError(104, "Connection reset by peer"))
        with pytest.raises(ProviderError) as raised:
            WeChatSubscribeAdapter(Contacts(), "TPL-1", Renewable(), post).send(MESSAGE)
        assert (raised.value.reason, raised.value.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)
        assert len(post.calls) == 2  # the first was refused by WeChat (40001): nothing sent

    def test_the_token_stays_out_of_the_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        failure_of(RecordingPost(TimeoutError(f"timed out reading https://x?access_token={TOKEN}")))
        assert caplog.records  # the unknown outcome is logged, by the error's class
        logged = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
        assert TOKEN not in logged and "TimeoutError" in logged


@pytest.mark.parametrize(
    ("error", "reason", "retryable"),
    [
        # Raised inside urllib's h.request(): nothing, or not the whole request, reached WeChat.
        (URLError(socket.gaierror(-2, "Name or service not known")), "wechat_unreachable", True),
        (URLError(ConnectionRefusedError(111, "Connection refused")), "wechat_unreachable", True),
        (URLError(TimeoutError("timed out")), "wechat_unreachable", True),
        (URLError(ssl.SSLError(1, "handshake failure")), "wechat_unreachable", True),
        (URLError(BrokenPipeError(32, "Broken pipe")), "wechat_unreachable", True),
        # An HTTP status: the request arrived; only these say it was not acted on.
        (http_error(503), "wechat_http_503", True),
        (http_error(429), "wechat_http_429", True),
        (http_error(408), "wechat_http_408", True),
        (http_error(400), "wechat_http_400", False),
        (http_error(404), "wechat_http_404", False),
        (http_error(500), WECHAT_OUTCOME_UNKNOWN, False),
        (http_error(502), WECHAT_OUTCOME_UNKNOWN, False),
        (http_error(504), WECHAT_OUTCOME_UNKNOWN, False),
        # After the request was written: getresponse() or reading the answer failed.
        (TimeoutError("The read operation timed out"), WECHAT_OUTCOME_UNKNOWN, False),
        (http.client.RemoteDisconnected("Remote end closed connection"), WECHAT_OUTCOME_UNKNOWN, False),
        (ConnectionResetError(104, "Connection reset by peer"), WECHAT_OUTCOME_UNKNOWN, False),
        (http.client.IncompleteRead(b"{"), WECHAT_OUTCOME_UNKNOWN, False),
        (ValueError("Expecting value"), WECHAT_OUTCOME_UNKNOWN, False),
        (RuntimeError("a defect in the transport"), WECHAT_OUTCOME_UNKNOWN, False),
    ],
)
def test_the_classification(error: Exception, reason: str, retryable: bool) -> None:
    failure = wechat_send_failure(error)
    assert (failure.reason, failure.retryable) == (reason, retryable)


class LoopbackWeChat:
    """A scripted HTTP endpoint on 127.0.0.1: reads each request whole (headers and the
    Content-Length body) and records its body, then answers ``reply`` — raw bytes, ``b""`` to close
    the connection without an answer, or None to say nothing until the test ends."""

    def __init__(self) -> None:
        self.reply: bytes | None = b""
        self.bodies: list[dict[str, Any]] = []
        self.timeout = 5.0  # the client's; a test waiting for a read timeout shortens it
        self._done = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)  # so that close() is seen (accept() does not wake on it)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/cgi-bin/message/subscribe/send"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.bodies.append(json.loads(body))
            if self.reply is None:
                self._done.wait(10)
            elif self.reply:
                conn.sendall(self.reply)

    def post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``post_json`` (urllib) to this endpoint, with a short timeout."""
        assert url.startswith(WeChatSubscribeAdapter.URL)
        return post_json(self.url, payload, timeout=self.timeout)

    def received(self, count: int) -> list[dict[str, Any]]:
        """The bodies once ``count`` requests were read whole (the server thread may lag)."""
        deadline = time.monotonic() + 10
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.bodies

    def close(self) -> None:
        self._done.set()
        self._server.close()
        self._thread.join(timeout=15)


@pytest.fixture
def loopback() -> Iterator[LoopbackWeChat]:
    server = LoopbackWeChat()
    yield server
    server.close()


def http_answer(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


class TestThroughUrllib:
    def test_success(self, loopback: LoopbackWeChat) -> None:
        loopback.reply = http_answer("200 OK", b'{"errcode": 0, "errmsg": "ok", "msgid": 99}')
        assert adapter(loopback.post).send(MESSAGE).provider_message_id == "99"
        assert loopback.bodies[0]["touser"] == "o-openid-m1"

    def test_a_connect_timeout_comes_wrapped_in_urlerror_retryable(
        self, loopback: LoopbackWeChat, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def connect_times_out(*args: Any, **kwargs: Any) -> socket.socket:
            raise TimeoutError("timed out")  # what socket.create_connection raises on a connect timeout

        monkeypatch.setattr(socket, "create_connection", connect_times_out)
        with pytest.raises(URLError) as raw:
            loopback.post(WeChatSubscribeAdapter.URL, {})
        assert isinstance(raw.value.reason, TimeoutError)
        error = failure_of(loopback.post)
        assert (error.reason, error.retryable) == ("wechat_unreachable", True)
        assert loopback.bodies == []

    def test_a_refused_connection_is_retryable(self, loopback: LoopbackWeChat) -> None:
        loopback.close()  # nothing listens on the port any more
        error = failure_of(loopback.post)
        assert (error.reason, error.retryable) == ("wechat_unreachable", True)

    def test_a_read_timeout_after_wechat_got_the_request_is_final(self, loopback: LoopbackWeChat) -> None:
        loopback.reply = None  # reads the request, never answers
        loopback.timeout = 0.5
        with pytest.raises(TimeoutError):  # not a URLError: raised by getresponse()
            loopback.post(WeChatSubscribeAdapter.URL, {"probe": 1})
        error = failure_of(loopback.post)
        assert (error.reason, error.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)
        # The adapter's whole request had arrived before the timeout.
        assert {body.get("touser") for body in loopback.received(2)} == {None, "o-openid-m1"}

    def test_a_connection_dropped_after_the_request_is_final(self, loopback: LoopbackWeChat) -> None:
        loopback.reply = b""  # reads the request, closes without a word
        with pytest.raises(http.client.RemoteDisconnected):
            loopback.post(WeChatSubscribeAdapter.URL, {"probe": 1})
        error = failure_of(loopback.post)
        assert (error.reason, error.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)
        assert len(loopback.received(2)) == 2

    @pytest.mark.parametrize(
        ("status", "reason", "retryable"),
        [
            ("503 Service Unavailable", "wechat_http_503", True),
            ("502 Bad Gateway", WECHAT_OUTCOME_UNKNOWN, False),
            ("400 Bad Request", "wechat_http_400", False),
        ],
    )
    def test_http_error_statuses(
        self, loopback: LoopbackWeChat, status: str, reason: str, retryable: bool
    ) -> None:
        loopback.reply = http_answer(status, b"<html>gateway</html>", "text/html")
        error = failure_of(loopback.post)
        assert (error.reason, error.retryable) == (reason, retryable)

    def test_an_answer_that_is_not_json_is_final(self, loopback: LoopbackWeChat) -> None:
        loopback.reply = http_answer("200 OK", b"<html>maintenance</html>", "text/html")
        error = failure_of(loopback.post)
        assert (error.reason, error.retryable) == (WECHAT_OUTCOME_UNKNOWN, False)
