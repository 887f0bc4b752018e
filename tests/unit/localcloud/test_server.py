"""The HTTP server over a real socket on an ephemeral port, with a fake cloud behind the front door."""

from __future__ import annotations

import base64
import http.client
import json
import socket

import pytest
import requests

from infra.localcloud import server as server_module
from infra.localcloud.server import LocalServer
from tests.fixtures.frontdoor.fakes import fake_front_door


def _cookies(event):
    return {
        "statusCode": 200,
        "cookies": ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
        "body": json.dumps(event),
    }


def _binary(event):
    return {
        "statusCode": 200,
        "headers": {"content-type": "image/png"},
        "body": event.get("body", ""),
        "isBase64Encoded": True,
    }


@pytest.fixture
def served():
    door, cloud = fake_front_door(ExactFunction=_cookies, ParamFunction=_binary)
    with LocalServer(door, port=0, quiet=True).start() as srv:
        yield srv, cloud


def test_request_reaches_the_function_and_the_answer_comes_back(served):
    srv, _cloud = served
    response = requests.post(
        srv.url + "/pets/dog/1?x=1&x=2",
        json={"a": 1},
        headers={"X-Correlation-Id": "c-1"},
        cookies={"session": "s"},
        timeout=5,
    )
    assert response.status_code == 200
    event = response.json()
    assert event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["body"] == '{"a": 1}'
    assert event["cookies"] == ["session=s"]
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["host"].startswith("127.0.0.1:")
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert response.headers["x-correlation-id"] == "c-1"
    assert response.headers["apigw-requestid"] == event["requestContext"]["requestId"]
    raw_cookies = response.raw.headers.getlist("set-cookie")
    assert raw_cookies == ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"]


def test_keep_alive_reuses_one_connection(served):
    srv, _cloud = served
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/_local/health")
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    sock = conn.sock
    conn.request("GET", "/_local/clock")
    assert conn.getresponse().status == 200
    assert conn.sock is sock
    conn.close()


def test_chunked_body(served):
    srv, _cloud = served

    def chunks():
        yield b'{"a":'
        yield b" 1}"

    response = requests.post(
        srv.url + "/pets/dog/1", data=chunks(), headers={"content-type": "application/json"}, timeout=5
    )
    assert response.json()["body"] == '{"a": 1}'


def test_too_large_body_is_413_in_the_error_shape(served, monkeypatch):
    srv, cloud = served
    monkeypatch.setattr(server_module, "MAX_BODY_BYTES", 1000)
    response = requests.post(srv.url + "/pets/dog/1", data=b"x" * 1001, timeout=5)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert cloud.calls == []


def test_head_has_no_body(served):
    srv, _ = served
    response = requests.head(srv.url + "/_local/health", timeout=5)
    assert response.status_code == 405  # HEAD is not a local route; API Gateway routes HEAD as its own method
    assert response.content == b""


def test_a_crash_in_the_front_door_is_a_json_500_without_detail():
    class Broken:
        def handle(self, *args, **kwargs):
            raise RuntimeError("secret stack detail")

    with LocalServer(Broken(), port=0, quiet=True).start() as srv:
        response = requests.get(srv.url + "/anything", timeout=5)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_malformed_chunking_is_400(served):
    srv, _ = served
    host, port = srv.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST /pets/dog/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400")


def test_binds_to_loopback_by_default():
    door, _ = fake_front_door()
    with LocalServer(door, port=0, quiet=True) as srv:
        assert srv.server_address[0] == "127.0.0.1"
        assert srv.url.startswith("http://127.0.0.1:")


def test_binary_body_reaches_the_function_base64_and_comes_back(served):
    srv, cloud = served
    payload = bytes(range(256))
    response = requests.get(
        srv.url + "/pets/dog/9", data=payload, headers={"content-type": "image/png"}, timeout=5
    )
    assert response.status_code == 200
    assert response.content == payload
    assert cloud.calls[-1][1]["body"] == base64.b64encode(payload).decode()
