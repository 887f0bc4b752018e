"""The local cloud's HTTP server: a ThreadingHTTPServer on 127.0.0.1 in front of a `FrontDoor`.

HTTP/1.1 with keep-alive; request bodies up to API Gateway's 10 MB payload limit (413 beyond it,
in the project's error shape); `Content-Length` or chunked bodies; repeated request headers are
passed on as lists (the front door comma-joins them, as API Gateway does); one `set-cookie` line
per cookie. Whatever goes wrong inside, the client gets a JSON 500 and the details stay in the
server's log.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from shared.errors import error_body

log = logging.getLogger("mallcrm.localcloud.server")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit
IDLE_TIMEOUT_SECONDS = 30.0


class Handles(Protocol):
    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, Any],
        body: bytes,
        *,
        query: str = "",
        source_ip: str = "127.0.0.1",
    ) -> tuple[int, dict[str, str], bytes]: ...


class BodyTooLarge(Exception):
    pass


class BadChunking(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MallCRM-LocalCloud"
    timeout = IDLE_TIMEOUT_SECONDS
    server: LocalServer

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except BodyTooLarge:
            self.close_connection = True
            self._send(*_error(413, "payload_too_large", f"The body exceeds {MAX_BODY_BYTES} bytes."))
            return
        except (BadChunking, ValueError):
            self.close_connection = True
            self._send(*_error(400, "bad_request", "The request body is malformed."))
            return
        path, _, query = self.path.partition("?")
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            if name.lower() in ("connection", "keep-alive", "transfer-encoding"):
                continue
            headers.setdefault(name.lower(), []).append(value)
        client_ip = self.client_address[0]
        headers.setdefault("x-forwarded-for", [client_ip])
        headers.setdefault("x-forwarded-proto", ["http"])
        headers.setdefault("x-forwarded-port", [str(self.server.server_address[1])])
        try:
            status, out_headers, out_body = self.server.front_door.handle(
                self.command, path, headers, body, query=query, source_ip=client_ip
            )
        except Exception:
            log.exception("front door failed", extra={"method": self.command, "path": path})
            status, out_headers, out_body = _error(500, "internal_error", "The local cloud failed.")
        self._send(status, out_headers, out_body)
        if not self.server.quiet:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", self.command, path, status, elapsed)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative content-length")
        if length > MAX_BODY_BYTES:
            raise BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise BadChunking from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise BodyTooLarge
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name == "content-length":
                continue
            if name == "set-cookie":
                for cookie in value.split("\n"):
                    self.send_header("set-cookie", cookie)
            else:
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class LocalServer(ThreadingHTTPServer):
    """The front door on a socket. `port=0` picks a free port (see `url`)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, front_door: Handles, host: str = "127.0.0.1", port: int = 3000, *, quiet: bool = False
    ):
        self.front_door = front_door
        self.quiet = quiet
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-response is not an error worth a stack trace."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s went away", client_address)
        else:
            log.exception("error serving %s", client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalServer:
        """Serve in a daemon thread (tests, benchmarks); `stop()` ends it."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="localcloud-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self.stop()
        else:
            self.server_close()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(error_body(code, message)).encode()
