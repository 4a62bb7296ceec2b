"""Durable stores behind the API: traces and idempotent retries survive a restart; the CLIs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpkit import KITCHEN, who
from starlette.testclient import TestClient

from manifest_lang.cli import main
from manifest_lang.http.app import create_app


def _workflow(client: TestClient, correlation: str) -> str:
    created = client.post(
        "/InventoryItem",
        json={"name": "Rice", "quantityOnHand": 10, "parLevel": 0},
        headers={**who(), "X-Correlation-Id": correlation, "X-Causation-Id": "plan"},
    )
    assert created.status_code == 201, created.text
    item = created.json()["instance"]["id"]
    reserved = client.post(
        f"/InventoryItem/{item}/commands/reserve",
        json={"quantity": 2, "eventId": "e"},
        headers={**who(), "X-Correlation-Id": correlation, "X-Causation-Id": "ItemCreated"},
    )
    assert reserved.status_code == 200, reserved.text
    return str(item)


def _check_restart(db: str) -> None:
    correlation = f"wf-{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(KITCHEN, store=db, auth="headers")) as client:
        item = _workflow(client, correlation)
        key = {"Idempotency-Key": "k-1"}
        url = f"/InventoryItem/{item}/commands/reserve"
        first = client.post(url, json={"quantity": 1, "eventId": "e"}, headers={**who(), **key}).json()
    with TestClient(create_app(KITCHEN, store=db, auth="headers")) as client:  # a restarted server
        trace = client.get(f"/trace/{correlation}", headers={**who(), "Accept": "application/json"}).json()
        again = client.post(url, json={"quantity": 1, "eventId": "e"}, headers={**who(), **key}).json()
        row = client.get(f"/InventoryItem/{item}", headers=who()).json()
        hidden = client.get(
            f"/trace/{correlation}", headers={**who(tenant="t-b"), "Accept": "application/json"}
        )
        listed = client.get("/InventoryItem?name=Rice", headers=who()).json()["items"]
        assert [r["id"] for r in listed] == [item]  # paged in SQL, by the tenant column
        assert client.get("/InventoryItem", headers=who(tenant="t-b")).json()["items"] == []
    assert again == first and row["quantityReserved"] == 3  # the retry did not run again
    (root,) = trace["roots"]
    assert root["label"] == "plan"
    (create_node,) = root["children"]
    assert create_node["label"] == f"InventoryItem.create ({item})"
    (created_event,) = create_node["children"]
    assert created_event["label"].startswith("ItemCreated")
    assert [c["label"] for c in created_event["children"]] == [f"InventoryItem.reserve ({item})"]
    assert hidden.json()["roots"] == []  # tenant B cannot read tenant A's workflow
    result = CliRunner().invoke(main, ["trace", correlation, "--db", db])
    assert result.exit_code == 0, result.output
    assert "[cause] plan" in result.output and "InventoryReserved" in result.output


def test_trace_and_idempotency_survive_restart_sqlite(tmp_path: Path) -> None:
    _check_restart(f"sqlite:///{tmp_path / 'kitchen.db'}")


@pytest.mark.postgres
def test_trace_and_idempotency_survive_restart_postgres(postgres_dsn: str) -> None:
    import psycopg

    schema = f"http_{uuid.uuid4().hex[:8]}"
    try:
        _check_restart(f"{postgres_dsn}?schema={schema}")
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_serve_rejects_a_bad_model_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.manifest"
    bad.write_text("entity Broken {\n  property name string\n}\n")
    result = CliRunner().invoke(main, ["serve", str(bad)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("manifest: ") and "bad.manifest" in lines[0]
    missing = CliRunner().invoke(main, ["serve", str(tmp_path / "nope.manifest")])
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad_db = CliRunner().invoke(main, ["serve", str(KITCHEN), "--db", "nosuch://x"])
    assert bad_db.exit_code == 1 and len(bad_db.output.strip().splitlines()) == 1


def test_trace_cli_on_an_empty_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["trace", "nothing", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 0 and "no commands or events recorded" in result.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_starts_announces_and_stops_gracefully(tmp_path: Path, workers: str) -> None:
    import signal

    import httpx
    from httpkit import ServeProcess

    with ServeProcess(
        KITCHEN, f"sqlite:///{tmp_path / 's.db'}", "--trust-headers", "--workers", workers
    ) as server:
        ok = httpx.post(f"{server.url}/commands/ping", json={"message": "hi"}, headers=who(), timeout=10)
        assert ok.status_code == 200, ok.text
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn finishes open requests, then re-raises the signal so the exit status shows it
        assert server.proc.wait(timeout=20) in (0, -signal.SIGTERM)
        output = server.output()
    # Announced once the port answers (a request that got in first may be logged before it).
    startup = [line for line in output.splitlines() if line.startswith("manifest: serving")]
    assert len(startup) == 1, output
    assert f"on {server.url}" in startup[0] and f"docs {server.url}/docs" in startup[0], output


def test_concurrent_retries_with_one_key_execute_once(tmp_path: Path) -> None:
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from httpkit import LiveServer

    app = create_app(KITCHEN, store=f"sqlite:///{tmp_path / 'idem.db'}", auth="headers")
    with LiveServer(app) as server:
        body = {"name": "Salt", "quantityOnHand": 100, "parLevel": 0}
        item = httpx.post(f"{server.url}/InventoryItem", json=body, headers=who()).json()["instance"]["id"]

        def attempt(_: int) -> tuple[int, str | None]:
            response = httpx.post(
                f"{server.url}/InventoryItem/{item}/commands/reserve",
                json={"quantity": 1, "eventId": "e"},
                headers={**who(), "Idempotency-Key": "double-click"},
                timeout=30,
            )
            return response.status_code, response.json().get("code")

        with ThreadPoolExecutor(12) as pool:
            outcomes = Counter(pool.map(attempt, range(12)))
        row = httpx.get(f"{server.url}/InventoryItem/{item}", headers=who()).json()
    # every attempt got the one result (or was told the key is still running), and it ran once
    assert set(outcomes) <= {(200, None), (409, "IDEMPOTENCY_IN_PROGRESS")} and outcomes[(200, None)] >= 1
    assert row["quantityReserved"] == 1


def test_serve_with_an_api_keys_file(tmp_path: Path) -> None:
    import httpx
    from httpkit import ServeProcess

    keys = tmp_path / "keys.toml"
    keys.write_text('[keys.k1]\ntenantId = "t-a"\nuser = { id = "ann", role = "chef" }\n')
    with ServeProcess(KITCHEN, f"sqlite:///{tmp_path / 'k.db'}", "--api-keys", str(keys)) as server:
        denied = httpx.get(f"{server.url}/InventoryItem", timeout=10)
        allowed = httpx.get(f"{server.url}/InventoryItem", headers={"X-API-Key": "k1"}, timeout=10)
        output = server.output()
    assert denied.status_code == 401 and denied.json()["code"] == "UNAUTHENTICATED"
    assert allowed.status_code == 200 and allowed.json()["items"] == []
    assert "auth API keys/tokens" in output and "no tenant" not in output
