"""The HTTP benchmark's peers do the same work as ``manifest serve`` (nothing here is timed).

``bench/http_reserve.py`` checks its three servers before timing them; these tests run that same
check in process (Starlette's ``TestClient``) on SQLite and PostgreSQL, and look into the peers'
tables: one reserve writes the row, one outbox row, one audit row and the key's stored response,
all in one transaction, and a refusal leaves no event behind.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "peers"))

import http_reserve as hr  # noqa: E402
import peer_db  # noqa: E402

ITEMS = 3


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.db'}"
        return
    dsn = request.getfixturevalue("postgres_dsn")
    url = f"{dsn}?schema=t_http_reserve_{uuid.uuid4().hex[:10]}"
    hr._pg_schema(url, create=True)
    try:
        yield url
    finally:
        hr._pg_schema(url, create=False)


def _keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(hr.KEYS))
    return path


def _peer_client(module: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    db = peer_db.Database(url)
    try:
        db.create_schema(ITEMS, hr.TENANT, hr.ON_HAND, hr.PAR_LEVEL)
    finally:
        db.close()
    monkeypatch.setenv(peer_db.DB_ENV, url)
    monkeypatch.setenv(peer_db.KEYS_ENV, str(_keys_file(tmp_path)))
    app = __import__(module).create_app()
    return TestClient(app, headers={"X-API-Key": hr.API_KEY})


def _count(url: str, table: str) -> int:
    row: Any
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite:
            row = lite.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0])
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".{table}').fetchone()
    return int(row[0])


@pytest.mark.parametrize("module", ["starlette_peer", "fastapi_peer"])
def test_a_peer_passes_the_harness_check_and_writes_what_manifest_serve_writes(
    module: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _peer_client(module, store_url, tmp_path, monkeypatch) as client:
        found = hr.check_server(client, "item-00000")
        assert hr.disagreements(module, found) == []
        # one successful reserve (its replay and the two refusals wrote no event, no audit row)
        assert _count(store_url, "outbox") == 1
        assert _count(store_url, "audit") == 1
        # the reserve, the refused reserve and the failed guard keep their responses (no-key ones none)
        assert _count(store_url, "idempotency_key") == 1
        response = client.post(
            "/InventoryItem/item-00001/commands/reserve",
            json={"quantity": 5, "eventId": "gala"},
            headers={"Idempotency-Key": "k-1", "X-Correlation-Id": "wf-1"},
        )
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        assert body["instance"]["quantityReserved"] == 5
        assert body["instance"]["version"] == 2
        [event] = body["emittedEvents"]
        assert event["name"] == "InventoryReserved"
        assert event["payload"] == {"quantity": 5, "eventId": "gala"}
        assert event["correlationId"] == "wf-1"
        reused = client.post(
            "/InventoryItem/item-00001/commands/reserve",
            json={"quantity": 6, "eventId": "gala"},
            headers={"Idempotency-Key": "k-1"},
        )
        assert reused.status_code == 422
        assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize("module", ["starlette_peer", "fastapi_peer"])
def test_a_peer_warns_below_par_and_refuses_bad_input_and_other_roles(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        hr,
        "KEYS",
        {
            "keys": {
                **hr.KEYS["keys"],
                "waiter": {"user": {"id": "w", "role": "waiter"}, "tenantId": hr.TENANT},
            }
        },
    )
    with _peer_client(module, f"sqlite:///{tmp_path / 'p.db'}", tmp_path, monkeypatch) as client:
        path = "/InventoryItem/item-00002/commands/reserve"
        near_par = hr.ON_HAND - hr.PAR_LEVEL + 1
        warned = client.post(path, json={"quantity": near_par, "eventId": "e"})
        assert warned.status_code == 200
        assert [w["constraint"] for w in warned.json()["warnings"]] == ["belowPar"]
        assert client.post(path, json={"quantity": "1", "eventId": "e"}).status_code == 400
        assert client.post(path, json={"quantity": 1, "eventId": "e", "more": 1}).status_code == 400
        denied = client.post(path, json={"quantity": 1, "eventId": "e"}, headers={"X-API-Key": "waiter"})
        assert denied.status_code == 403


def test_manifest_serve_passes_the_same_check(store_url: str) -> None:
    from manifest_lang.http.app import create_app

    keys = {key: ctx for key, ctx in hr.KEYS["keys"].items()}
    app = create_app(hr.MODEL, store=store_url, api_keys=keys)
    with TestClient(app, headers={"X-API-Key": hr.API_KEY}) as client:
        created = client.post(
            "/InventoryItem", json={"name": "x", "quantityOnHand": hr.ON_HAND, "parLevel": hr.PAR_LEVEL}
        )
        assert created.status_code == 201
        item = (created.json().get("instance") or created.json()["result"])["id"]
        assert hr.disagreements("ours", hr.check_server(client, item)) == []


def test_the_report_row_shows_the_ratios() -> None:
    server = {
        "rps": 100.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "cpu_ms_per_req": 0.5,
        "non2xx": 0,
        "no_requests": 0,
    }
    cell = {
        "store": "sqlite",
        "workers": 1,
        "conns": 16,
        "route": "reserve",
        "servers": {name: {**server, "socket_errors": 0} for name in hr.SERVERS},
        "ratios": {"ours/starlette": 0.5, "ours/fastapi": 1.25},
    }
    row = hr._row(cell)
    assert row.startswith("sqlite")
    assert row.rstrip().endswith("0.50   1.25")
