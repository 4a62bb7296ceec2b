"""A real HTTP receiver on 127.0.0.1 for the relay's HTTP delivery: it verifies signatures,
dedupes by event id, and can be told to fail, time out or drop the connection.

``script(entry_id, attempt)`` picks the answer to each POST: ``"ok"``, an HTTP status as a
string (``"500"``, ``"400"``, ``"429"``), ``"timeout"`` (answer only after ``slow_seconds``) or
``"drop"`` (read the request, close the socket without a word).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from manifest_lang.outbox.signing import verify_timestamped

Script = Callable[[str, int], str]


@dataclass
class Delivery:
    entry_id: str
    attempt: int
    answer: str
    signed_ok: bool
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Partner:
    secret: str = "partner-secret"
    script: Script = lambda entry_id, attempt: "ok"
    slow_seconds: float = 1.0
    deliveries: list[Delivery] = field(default_factory=list)
    #: entry ids in the order they were first accepted (the receiver's dedupe)
    accepted: list[str] = field(default_factory=list)
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Partner:
        partner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                partner.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/manifest"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        raw = request.rfile.read(length)
        headers = {k.lower(): v for k, v in request.headers.items()}
        entry_id = headers.get("manifest-event-id", "")
        attempt = int(headers.get("manifest-delivery-attempt", "0"))
        check = verify_timestamped([self.secret], raw, headers.get("manifest-signature"), now=time.time())
        answer = self.script(entry_id, attempt) if check.ok else "401"
        with self.lock:
            self.deliveries.append(Delivery(entry_id, attempt, answer, check.ok, headers, orjson.loads(raw)))
        if answer == "drop":
            request.connection.shutdown(socket.SHUT_RDWR)
            request.close_connection = True
            return
        if answer in ("ok", "timeout"):
            with self.lock:
                if entry_id in self.accepted:
                    self.duplicates += 1
                else:
                    self.accepted.append(entry_id)
            if answer == "timeout":
                time.sleep(self.slow_seconds)  # processed, answered too late: the relay sends it again
            self._reply(request, 200, b'{"received":true}')
            return
        status = int(answer)
        extra = {"Retry-After": "7"} if status == 429 else {}
        self._reply(request, status, b'{"error":"scripted"}', extra)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                request.send_header(key, value)
            request.end_headers()
            request.wfile.write(body)
        except OSError:
            pass  # the relay timed out and closed its end


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
