"""Hostile input at the HTTP edge (issue 12): deep JSON, protocol-level errors, slow header
senders, and what an anonymous caller can learn. Every answer is a problem document, never a 5xx.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from httpkit import KITCHEN, LiveServer, ServeProcess, who
from starlette.testclient import TestClient
from test_api import problem

from manifest_lang.errors import StoreUnavailableError
from manifest_lang.http.app import create_app
from manifest_lang.http.protocol import HEADER_TIMEOUT_ENV, H11HttpProtocol, HttpToolsHttpProtocol
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.untrusted import MAX_JSON_DEPTH

JSON = {"Content-Type": "application/json"}
DOCS_MODEL = """
entity Doc {
  property required id: string
  property data: json
  command put(data: json) {
    mutate data = data
  }
}
store Doc in memory
"""


def nested(depth: int) -> bytes:
    """``depth`` levels of arrays (the body adds one level: its object)."""
    return b"[" * depth + b"1" + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def new_item(client: TestClient) -> str:
    created = client.post(
        "/InventoryItem", json={"name": "Flour", "quantityOnHand": 10, "parLevel": 1}, headers=who()
    )
    assert created.status_code == 201, created.text
    return str(created.json()["result"]["id"])


# -- deep JSON ------------------------------------------------------------------------------------
def test_json_nested_about_1000_deep_in_a_parameter_is_a_400(kitchen_client: TestClient) -> None:
    url = f"/InventoryItem/{new_item(kitchen_client)}/commands/reserve"
    for depth in (MAX_JSON_DEPTH, 990, 1000, 5000, 100_000):
        body = b'{"quantity": ' + nested(depth) + b', "eventId": "e"}'
        answer = problem(
            kitchen_client.post(url, content=body, headers={**who(), **JSON}), 400, "INVALID_INPUT"
        )
        assert answer["limit"] == MAX_JSON_DEPTH and "deeper than" in answer["detail"]
    for depth in (1000, 5000):  # objects as well as arrays, on a plain create too
        body = b'{"text": ' + nested_objects(depth) + b"}"
        problem(kitchen_client.post("/Note", content=body, headers={**who(), **JSON}), 400, "INVALID_INPUT")


def test_json_at_the_depth_limit_is_accepted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(DOCS_MODEL)
    assert client.post("/Doc", json={"id": "d1"}, headers=who()).status_code == 201
    # the body object is level 1, so the parameter may nest MAX_JSON_DEPTH - 1 levels
    body = b'{"data": ' + nested_objects(MAX_JSON_DEPTH - 1) + b"}"
    ran = client.post("/Doc/d1/commands/put", content=body, headers={**who(), **JSON})
    assert ran.status_code == 200, ran.text
    stored = client.get("/Doc/d1", headers=who()).json()["data"]
    assert json.dumps(stored, separators=(",", ":")).encode() == nested_objects(MAX_JSON_DEPTH - 1)
    deeper = b'{"data": ' + nested_objects(MAX_JSON_DEPTH) + b"}"
    problem(
        client.post("/Doc/d1/commands/put", content=deeper, headers={**who(), **JSON}), 400, "INVALID_INPUT"
    )


def test_validation_messages_do_not_echo_a_whole_body(kitchen_client: TestClient) -> None:
    url = f"/InventoryItem/{new_item(kitchen_client)}/commands/reserve"
    answer = kitchen_client.post(url, json={"quantity": "x" * 500_000, "eventId": "e"}, headers=who())
    body = problem(answer, 400, "INVALID_INPUT")
    assert len(answer.content) < 2000 and body["errors"][0]["path"] == "quantity"


# -- 401 before 404 -------------------------------------------------------------------------------
@pytest.fixture
def keyed() -> Iterator[TestClient]:
    keys = {"chef-key": {"user": {"id": "chef-1", "role": "chef"}, "tenantId": "t-a"}}
    with TestClient(create_app(KITCHEN, api_keys=keys), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/NoSuchEntity"),
        ("GET", "/NoSuchEntity/some-id"),
        ("POST", "/NoSuchEntity"),
        ("POST", "/NoSuchEntity/x/commands/go"),
        ("POST", "/NoSuchEntity/commands/go"),
        ("POST", "/InventoryItem/x/commands/noSuchCommand"),
        ("POST", "/InventoryItem/commands/reserve"),
        ("POST", "/commands/noSuchCommand"),
        ("GET", "/InventoryItem/missing-row"),
        ("GET", "/trace/some-workflow"),
    ],
)
def test_an_anonymous_caller_gets_401_whatever_the_name(keyed: TestClient, method: str, path: str) -> None:
    anonymous = keyed.request(method, path, json={})
    problem(anonymous, 401, "UNAUTHENTICATED")
    known = keyed.request(method, path, json={}, headers={"X-API-Key": "chef-key"})
    assert known.status_code in (404, 200), known.text  # the trace of an unknown id is an empty tree


# -- the protocol: malformed requests and slow header senders -------------------------------------
PROTOCOLS = [pytest.param(H11HttpProtocol, id="h11")]
if HttpToolsHttpProtocol is not None:
    PROTOCOLS.append(pytest.param(HttpToolsHttpProtocol, id="httptools"))


@pytest.fixture(params=PROTOCOLS)
def live(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv(HEADER_TIMEOUT_ENV, "1")
    with LiveServer(create_app(KITCHEN, auth="headers"), http=request.param) as server:
        yield server


def exchange(server: Any, *parts: bytes, pause: float = 0.0, timeout: float = 10.0) -> bytes:
    """Send ``parts`` (``pause`` seconds apart) on one connection; everything received until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        for part in parts:
            try:
                sock.sendall(part)
            except OSError:  # the server closed the connection: read what it said
                break
            time.sleep(pause)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def parsed(response: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /Note HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /Note HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET /he\x00lthz HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["bad-length", "two-lengths", "header-without-colon", "not-http", "nul-in-target"],
)
def test_malformed_requests_get_a_problem_document(live: LiveServer, request_bytes: bytes) -> None:
    status, headers, body = parsed(exchange(live, request_bytes))
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert body["code"] == "MALFORMED_REQUEST" and body["status"] == 400


def test_headers_sent_a_byte_at_a_time_are_cut_off(live: LiveServer) -> None:
    started = time.monotonic()
    trickle = [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Slow: %d\r\n" % i for i in range(40)]
    status, headers, body = parsed(exchange(live, *trickle, pause=0.2))
    assert time.monotonic() - started < 4  # 1 s timeout, not the 8 s the trickle would take
    assert status == 408 and headers["content-type"] == "application/problem+json"
    assert body["code"] == "REQUEST_TIMEOUT"


def test_a_silent_connection_is_closed(live: LiveServer) -> None:
    started = time.monotonic()
    status, _, body = parsed(exchange(live))
    assert status == 408 and body["code"] == "REQUEST_TIMEOUT" and time.monotonic() - started < 4


def test_the_next_request_on_a_kept_alive_connection_is_timed_too(live: LiveServer) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    received = exchange(live, first, b"GET /healthz HTTP/1.1\r\n", *[b"X-Slow: 1\r\n"] * 30, pause=0.2)
    assert received.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in received


def test_a_slow_body_is_not_cut_by_the_header_timer(live: LiveServer) -> None:
    head = b"POST /Note HTTP/1.1\r\nHost: x\r\nX-User-Id: u\r\nX-User-Role: chef\r\nX-Tenant-Id: t\r\n"
    head += b"Content-Type: application/json\r\nConnection: close\r\nContent-Length: 13\r\n\r\n"
    status, _, body = parsed(exchange(live, head, b'{"text":', b' "x"}', pause=0.8))
    assert status == 201 and body["text"] == "x"


def test_serve_cli_uses_the_guarded_protocol(tmp_path: Any) -> None:
    with ServeProcess(KITCHEN, "memory://", "--header-timeout", "1", "--trust-headers") as server:
        status, _, body = parsed(
            exchange(server, b"GET /healthz HTTP/1.1\r\n", *[b"X: 1\r\n"] * 30, pause=0.2)
        )
        assert status == 408 and body["code"] == "REQUEST_TIMEOUT"
        status, _, body = parsed(exchange(server, b"GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n"))
        assert status == 400 and body["code"] == "MALFORMED_REQUEST"


# -- a store that is down -------------------------------------------------------------------------
class UnreachableStore(MemoryStore):
    """A store whose database went away, as a driver reports it (host, user, and all)."""

    def load(self, entity: str, id: str, *, tenant: str | None = None) -> Any:
        raise StoreUnavailableError(
            'connection to server at "10.0.0.5", port 5432 failed: FATAL: password authentication '
            'failed for user "app_owner"'
        )


def test_a_store_that_is_down_is_a_503_without_database_text() -> None:
    app = create_app(KITCHEN, auth="headers", store=UnreachableStore())
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/InventoryItem/some-id", headers=who())
    body = problem(answer, 503, "STORE_UNAVAILABLE")
    assert answer.headers["retry-after"] == "1"
    assert "10.0.0.5" not in answer.text and "app_owner" not in answer.text and "retry" in body["detail"]
