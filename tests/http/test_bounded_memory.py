"""Bounded memory behind the API: /trace keeps the last records of a workflow and says how many
older ones were evicted; ``manifest serve`` and ``manifest worker`` bound the event log by default."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from httpkit import KITCHEN, who
from starlette.testclient import TestClient

from manifest_lang.cli import main
from manifest_lang.cli.serve import app_from_env
from manifest_lang.cli.serve_options import DEFAULT_EVENT_LOG_LIMIT, DEFAULT_TRACE_LIMIT, ServeOptions
from manifest_lang.http.app import create_app
from manifest_lang.workflows.trace import TraceRecorder

JSON = {"Accept": "application/json"}


def _item(client: TestClient) -> str:
    body = {"name": "Rice", "quantityOnHand": 1_000, "parLevel": 0}
    created = client.post("/InventoryItem", json=body, headers=who())
    assert created.status_code == 201, created.text
    return str(created.json()["instance"]["id"])


def _reserve(client: TestClient, item: str, key: str, tenant: str = "t-a") -> None:
    headers = {**who(tenant=tenant), "X-Correlation-Id": "wf-1", "Idempotency-Key": key}
    response = client.post(
        f"/InventoryItem/{item}/commands/reserve", json={"quantity": 1, "eventId": "e"}, headers=headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("store", [None, "sqlite"])
def test_trace_keeps_the_last_records_and_counts_the_evicted(store: str | None, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'trace.db'}" if store else None
    recorder = TraceRecorder(max_records=3)
    with TestClient(create_app(KITCHEN, store=db, auth="headers", recorder=recorder)) as client:
        item = _item(client)
        for n in range(8):
            _reserve(client, item, f"k{n}")
        _reserve(client, item, "k7")  # a retry of a retained command: not a ninth
        _reserve(client, item, "k1")  # a retry of an evicted one: not a ninth either
        trace = client.get("/trace/wf-1", headers={**who(), **JSON}).json()
        page = client.get("/trace/wf-1", headers=who()).text
        other = client.get("/trace/wf-1", headers={**who(tenant="t-b"), **JSON}).json()
        row = client.get(f"/InventoryItem/{item}", headers=who()).json()
    records, evicted = recorder.window("wf-1", "t-a")
    assert len(records) == 3 and evicted == 5 and row["quantityReserved"] == 8
    assert trace["evicted"] == 5
    # on a durable store the evicted commands' committed events still come back from its outbox
    shown = 8 if store else 3
    assert trace["commands"] == shown and trace["events"] == shown
    assert '<span id="evicted-count">5</span>' in page
    assert other == {"correlationId": "wf-1", "commands": 0, "events": 0, "evicted": 0, "roots": []}


@pytest.fixture
def serve_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("MANIFEST_SERVE_MODEL", str(KITCHEN))
    monkeypatch.setenv("MANIFEST_SERVE_DB", "memory://")
    monkeypatch.setenv("MANIFEST_SERVE_TRUST_HEADERS", "1")
    for name in ("EVENT_LOG_LIMIT", "TRACE_LIMIT"):
        monkeypatch.delenv(f"MANIFEST_SERVE_{name}", raising=False)
    try:
        yield monkeypatch
    finally:
        gc.unfreeze()  # app_from_env freezes the heap, as a server does once


def _limits(app: Any) -> tuple[Any, int | None]:
    service = app.state.manifest
    return service.engine({}).events.limit, service.recorder.max_records


def test_serve_bounds_the_event_log_and_the_trace_by_default(serve_env: pytest.MonkeyPatch) -> None:
    assert _limits(app_from_env()) == (DEFAULT_EVENT_LOG_LIMIT, DEFAULT_TRACE_LIMIT) == (1000, 1000)
    serve_env.setenv("MANIFEST_SERVE_EVENT_LOG_LIMIT", "0")
    serve_env.setenv("MANIFEST_SERVE_TRACE_LIMIT", "7")
    assert _limits(app_from_env()) == (0, 7)


def test_serve_flags_travel_to_the_workers_environment() -> None:
    options = ServeOptions.from_cli({"event_log_limit": 25, "trace_limit": 9}, None)
    env = options.to_env()
    assert env["MANIFEST_SERVE_EVENT_LOG_LIMIT"] == "25" and env["MANIFEST_SERVE_TRACE_LIMIT"] == "9"
    back = ServeOptions.from_env(None, env)
    assert (back.event_log_limit, back.trace_limit) == (25, 9)
    assert ServeOptions.from_cli({}, None).event_log_limit == DEFAULT_EVENT_LOG_LIMIT


def test_a_bad_limit_is_one_clear_line_and_a_non_zero_exit() -> None:
    for args in (
        ["serve", str(KITCHEN), "--event-log-limit", "-1"],
        ["serve", str(KITCHEN), "--trace-limit", "0"],
        ["worker", "run", str(KITCHEN), "--db", "memory://", "--event-log-limit", "x"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code not in (0, None) and "Traceback" not in result.output
        assert args[-2] in result.output.strip().splitlines()[-1]  # click's usage error names it


def test_worker_engines_get_the_bounded_event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from manifest_lang.workflows import worker as worker_module

    seen: list[dict[str, Any]] = []
    real = worker_module.Worker

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.append(dict(kwargs.get("engine_options") or {}))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(worker_module, "Worker", Recording)
    db = f"sqlite:///{tmp_path / 'w.db'}"
    for extra, expected in (([], DEFAULT_EVENT_LOG_LIMIT), (["--event-log-limit", "3"], 3)):
        result = CliRunner().invoke(main, ["worker", "run", str(KITCHEN), "--db", db, "--once", *extra])
        assert result.exit_code == 0, result.output
        assert seen[-1]["event_log_limit"] == expected


def test_live_events_reach_sse_clients_with_the_engine_log_off() -> None:
    from httpkit import LiveServer
    from test_sse import Listener, _post

    from manifest_lang.http.sse import EventHub

    app = create_app(
        KITCHEN, auth="headers", hub=EventHub(heartbeat_seconds=0.3), engine_options={"event_log_limit": 0}
    )
    with LiveServer(app) as server:
        listener = Listener(f"{server.url}/events?correlationId=wf-2", who())
        body = {"name": "Oil", "quantityOnHand": 5, "parLevel": 0}
        item = _post(server.url, "/InventoryItem", body, who())["instance"]["id"]
        headers = {**who(), "X-Correlation-Id": "wf-2"}
        _post(server.url, f"/InventoryItem/{item}/commands/reserve", {"quantity": 1, "eventId": "e"}, headers)
        name, data = listener.next_event()
        listener.close()
    assert name == "InventoryReserved" and data["correlationId"] == "wf-2"
