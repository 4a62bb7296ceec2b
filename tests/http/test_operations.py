"""A server you can operate: /metrics (Prometheus text), /readyz, the access log (text and JSON),
traceparent into the outbox, --otel spans, and the startup line printed only once clients can connect."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpkit import KITCHEN, ServeProcess
from starlette.testclient import TestClient

from manifest_lang.errors import StoreUnavailableError
from manifest_lang.http.access_log import ACCESS_LOGGER, JsonLogFormatter
from manifest_lang.http.app import create_app
from manifest_lang.stores.memory import MemoryStore

CHEF = {"X-User-Id": "maria", "X-User-Role": "chef", "X-Tenant-Id": "kitchen-1"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, for every sample line of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def _create(client: TestClient, headers: dict[str, str] | None = None) -> Any:
    body = {"name": "Flour", "quantityOnHand": 10, "parLevel": 2}
    return client.post("/InventoryItem", json=body, headers={**CHEF, **(headers or {})})


def test_metrics_readyz_access_log_and_traceparent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(KITCHEN, store=f"sqlite:///{tmp_path / 'ops.db'}", auth="headers")
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.INFO, ACCESS_LOGGER),
    ):
        created = _create(client, {"traceparent": TRACEPARENT, "X-Correlation-Id": "wedding-42"})
        assert created.status_code == 201, created.text
        item = created.json()["instance"]["id"]
        reserve = f"/InventoryItem/{item}/commands/reserve"
        keyed = {**CHEF, "Idempotency-Key": "k-1"}
        for _ in range(2):  # the second is answered from the stored result
            assert (
                client.post(reserve, json={"quantity": 1, "eventId": "e"}, headers=keyed).status_code == 200
            )
        refused = client.post(reserve, json={"quantity": -1, "eventId": "e"}, headers=CHEF)
        assert refused.status_code == 422

        assert client.get("/readyz").json() == {"status": "ready"}
        scraped = client.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = _samples(scraped.text)

        outbox = app.state.manifest.store.claim_outbox(10, now=time.time())
    commands = 'manifest_commands_total{entity="InventoryItem",command="%s",outcome="%s"}'
    assert samples[commands % ("create", "success")] == 1
    assert samples[commands % ("reserve", "success")] == 2  # the replay is a command call too
    assert samples[commands % ("reserve", "guard_denied")] == 1
    assert samples["manifest_idempotency_replays_total"] == 1
    assert samples["manifest_conflicts_total"] == 0
    histogram = 'manifest_command_duration_seconds_%s{entity="InventoryItem",command="reserve"%s}'
    assert samples[histogram % ("count", "")] == 3
    assert samples[histogram % ("bucket", ',le="+Inf"')] == 3
    assert samples['manifest_http_requests_total{method="POST",status="201"}'] == 1
    assert samples["manifest_outbox_pending"] == 2 and samples["manifest_outbox_lag_seconds"] >= 0
    # every line of the exposition is well formed
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+(Inf)?$')
    assert all(sample.match(line) for line in scraped.text.splitlines() if not line.startswith("#"))

    # the request's trace context travels with the events it wrote, to the published message
    by_name = {row.name: row.message() for row in outbox}
    assert by_name["ItemCreated"]["traceparent"] == TRACEPARENT
    assert "traceparent" not in by_name["ItemCreated"]["event"]
    assert "traceparent" not in by_name["InventoryReserved"]  # that request sent none

    records = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    first = records[0].access  # type: ignore[attr-defined]
    assert (first["method"], first["path"], first["status"], first["correlation_id"]) == (
        "POST",
        "/InventoryItem",
        201,
        "wedding-42",
    )
    assert first["duration_ms"] > 0
    line = json.loads(JsonLogFormatter().format(records[0]))
    assert (
        line["logger"] == ACCESS_LOGGER and line["status"] == 201 and line["correlation_id"] == "wedding-42"
    )


class _FlakyStore:
    """A memory store whose database 'goes away' on demand."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.down = False

    def ping(self) -> None:
        if self.down:
            raise StoreUnavailableError("connection refused")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_readyz_checks_the_store_and_metrics_can_be_off() -> None:
    store = _FlakyStore()
    with TestClient(create_app(KITCHEN, store=store, auth="headers", metrics=False)) as client:
        assert client.get("/readyz").status_code == 200
        store.down = True
        down = client.get("/readyz")
        assert down.status_code == 503 and down.json()["code"] == "STORE_UNAVAILABLE"
        assert client.get("/healthz").status_code == 200  # liveness does not touch the store
        assert client.get("/metrics").status_code in (401, 404)  # not served: an entity route now


def test_serve_json_access_log_otel_spans_and_startup_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    args = ("--trust-headers", "--log-format", "json", "--otel", "--log-level", "info")
    with ServeProcess(KITCHEN, f"sqlite:///{tmp_path / 's.db'}", *args) as server:
        headers = {**CHEF, "traceparent": TRACEPARENT, "X-Correlation-Id": "otel-1"}
        body = {"name": "Salt", "quantityOnHand": 1, "parLevel": 0}
        assert httpx.post(f"{server.url}/InventoryItem", json=body, headers=headers).status_code == 201
        metrics = httpx.get(f"{server.url}/metrics").text
        assert (
            'manifest_commands_total{entity="InventoryItem",command="create",outcome="success"} 1' in metrics
        )
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    output = server.output()
    lines = output.splitlines()
    startup = next(i for i, line in enumerate(lines) if "manifest: serving" in line)
    running = next(i for i, line in enumerate(lines) if "Uvicorn running on" in line)
    assert running < startup, output  # announced only once the port is bound and answering

    records = [json.loads(line) for line in lines if line.startswith('{"time"')]
    access = [r for r in records if r["logger"] == ACCESS_LOGGER and r["method"] == "POST"]
    assert [(r["method"], r["path"], r["status"]) for r in access] == [("POST", "/InventoryItem", 201)]
    assert access[0]["correlation_id"] == "otel-1" and access[0]["duration_ms"] > 0

    # ConsoleSpanExporter prints each span as a JSON document; the span continues the caller's trace
    assert '"name": "manifest.run_command"' in output, output
    assert '"trace_id": "0x4bf92f3577b34da6a3ce929d0e0e4736"' in output
    assert '"parent_id": "0x00f067aa0ba902b7"' in output
