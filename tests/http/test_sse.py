"""GET /events over a real server: delivery, filters, tenant isolation, heartbeats, disconnects."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
from httpkit import KITCHEN, LiveServer, who

from manifest_lang.http.app import create_app
from manifest_lang.http.sse import EventHub


class Listener:
    """Reads one SSE stream in a thread; frames land in a queue as (event, data|None)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.frames: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=30)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            event = "message"
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    self.ready.set()
                elif line.startswith(": heartbeat"):
                    self.frames.put(("heartbeat", None))
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.frames.put((event, json.loads(line[6:])))
                if self.stop.is_set():
                    return

    def next(self, timeout: float = 10.0) -> tuple[str, Any]:
        return self.frames.get(timeout=timeout)

    def next_event(self, timeout: float = 10.0) -> tuple[str, Any]:
        while True:
            frame = self.next(timeout)
            if frame[0] != "heartbeat":
                return frame

    def close(self) -> None:
        self.stop.set()


def _post(url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(url + path, json=body, headers=headers, timeout=10)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def test_events_are_delivered_filtered_and_isolated() -> None:
    hub = EventHub(heartbeat_seconds=0.3)
    app = create_app(KITCHEN, auth="headers", hub=hub)
    with LiveServer(app) as server:
        everything_a = Listener(f"{server.url}/events", who())
        only_wf = Listener(f"{server.url}/events?correlationId=wf-9&entity=InventoryItem", who())
        tenant_b = Listener(f"{server.url}/events", who(user="b", tenant="t-b"))
        created = _post(
            server.url, "/InventoryItem", {"name": "Oil", "quantityOnHand": 5, "parLevel": 0}, who()
        )
        item = created["instance"]["id"]
        _post(
            server.url,
            f"/InventoryItem/{item}/commands/reserve",
            {"quantity": 1, "eventId": "e"},
            {**who(), "X-Correlation-Id": "wf-9"},
        )
        _post(server.url, "/commands/ping", {"message": "from b"}, who(user="b", tenant="t-b"))

        names = [everything_a.next_event()[0] for _ in range(2)]
        assert names == ["ItemCreated", "InventoryReserved"]
        name, data = only_wf.next_event()
        assert (
            name == "InventoryReserved"
            and data["correlationId"] == "wf-9"
            and data["payload"]["quantity"] == 1
        )
        assert tenant_b.next_event()[0] == "Pinged"  # tenant A's events never reached tenant B
        assert only_wf.next(timeout=5)[0] == "heartbeat"  # nothing else matches its filter
        assert hub.subscriber_count == 3
        for listener in (everything_a, only_wf, tenant_b):
            listener.close()
        deadline = time.monotonic() + 10
        while hub.subscriber_count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.subscriber_count == 0  # disconnected clients are unsubscribed


def test_events_need_auth_and_a_known_entity() -> None:
    app = create_app(KITCHEN, api_keys={"k": {"user": {"id": "u", "role": "chef"}, "tenantId": "t"}})
    with LiveServer(app) as server:
        assert httpx.get(f"{server.url}/events", timeout=5).status_code == 401
        response = httpx.get(f"{server.url}/events?entity=Nope", headers={"X-API-Key": "k"}, timeout=5)
        assert response.status_code == 404 and response.json()["code"] == "UNKNOWN_ENTITY"
