"""Filtered lists on 100k and 1M rows: an ``indexed`` property, a plain one, and a hand-written
table (a benchmark, not a test; it prints figures and ratios measured in one run).

    .venv/bin/python bench/list_filter.py                           # 100k and 1M, both stores, HTTP at 100k
    .venv/bin/python bench/list_filter.py --sizes 100000 --only sqlite --lookups 200
    .venv/bin/python bench/list_filter.py --sizes 1000000 --http-sizes 1000000

Per store and size: ``N`` rows of one entity (10 tenants) are bulk-inserted into the store's
``instances`` table (``executemany`` / ``COPY``), the store's model indexes are created
(``sync_indexes``, timed), and the same rows go into a plain table of typed columns with a
``(tenant, name)`` index: the hand-written peer. Then, in alternating rounds (ours, peer, ours,
peer...), random lookups run one after the other:

- ``store, indexed``: ``store.scan("Item", {"name": v}, tenant=t, limit=51)``, what the list route
  runs (``name`` is ``indexed`` in the model);
- ``store, not indexed``: the same on ``label`` (not indexed; fewer lookups, SQLite reads every
  row of the tenant; PostgreSQL's GIN index answers);
- ``peer``: ``SELECT … FROM peer WHERE tenant = ? AND name = ? ORDER BY seq LIMIT 51`` (rows
  built as dicts).

``--http-sizes`` (default 100k) also times ``GET /Item?name=v`` through ``manifest serve`` and
through a Starlette app on uvicorn answering the same URL from the peer table (same interpreter,
one worker each, sequential httpx requests). Acceptance (issue #18): the indexed filter on 1M rows
answers in under 5 ms on both stores.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from manifest_lang import compile_source
from manifest_lang.stores.sqlite import SQLiteStore

PG_URL = os.environ.get("MANIFEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TENANTS = 10
TARGET_MS = 5.0
SOURCE = """entity Item {
  property required id: string
  property required tenantId: string
  property indexed name: string
  property label: string = ""
  property qty: number = 0
  store Item in memory
}
"""
PEER_TABLE = "peer_items"


def row(i: int) -> dict[str, Any]:
    return {
        "id": f"i{i}",
        "tenantId": f"t{i % TENANTS}",
        "name": f"item-{i:07d}",
        "label": f"label-{i:07d}",
        "qty": i % 1000,
    }


def batches(n: int, size: int = 50_000) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


# -- seeding ---------------------------------------------------------------------------------------
def seed_sqlite(path: Path, n: int) -> None:
    SQLiteStore(path).close()  # the store's schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(
        f"CREATE TABLE {PEER_TABLE} (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
        "tenant TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, qty INTEGER NOT NULL)"
    )
    conn.execute(f"CREATE INDEX {PEER_TABLE}_tenant_name ON {PEER_TABLE} (tenant, name)")
    conn.execute("BEGIN")
    for part in batches(n):
        rows = [row(i) for i in part]
        conn.executemany(
            "INSERT INTO manifest_instances (entity, id, tenant, data, revision) VALUES ('Item', ?, ?, ?, 1)",
            ((r["id"], r["tenantId"], orjson.dumps(r).decode()) for r in rows),
        )
        conn.executemany(
            f"INSERT INTO {PEER_TABLE} (id, tenant, name, label, qty) VALUES (?, ?, ?, ?, ?)",
            ((r["id"], r["tenantId"], r["name"], r["label"], r["qty"]) for r in rows),
        )
    conn.execute("COMMIT")
    conn.close()


def seed_postgres(schema: str, n: int) -> None:
    import psycopg

    from manifest_lang.stores.postgres import PostgresStore

    PostgresStore(PG_URL, schema=schema, pool_size=1).close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".{PEER_TABLE} (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, '
            "id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, "
            "qty INT NOT NULL)"
        )
        conn.execute(f'CREATE INDEX ON "{schema}".{PEER_TABLE} (tenant, name)')
        with conn.cursor() as cur:
            copy_sql = f'COPY "{schema}".manifest_instances (entity, id, tenant, data, revision) FROM STDIN'
            with cur.copy(copy_sql) as copy:
                for part in batches(n):
                    for i in part:
                        r = row(i)
                        copy.write_row(("Item", r["id"], r["tenantId"], orjson.dumps(r).decode(), 1))
            columns = "(id, tenant, name, label, qty)"
            with cur.copy(f'COPY "{schema}".{PEER_TABLE} {columns} FROM STDIN') as copy:
                for i in range(n):
                    r = row(i)
                    copy.write_row((r["id"], r["tenantId"], r["name"], r["label"], r["qty"]))
        # What autovacuum does after a bulk load; the peer gets the same.
        conn.execute(f'VACUUM ANALYZE "{schema}".manifest_instances')
        conn.execute(f'VACUUM ANALYZE "{schema}".{PEER_TABLE}')


# -- the lookups -----------------------------------------------------------------------------------
def peer_lookup_sqlite(path: Path) -> tuple[Callable[[str, str], list[dict[str, Any]]], Callable[[], None]]:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    stmt = (
        f"SELECT id, tenant, name, label, qty FROM {PEER_TABLE} WHERE tenant = ? AND name = ? "
        "ORDER BY seq LIMIT 51"
    )

    def lookup(tenant: str, name: str) -> list[dict[str, Any]]:
        return [to_dict(r) for r in conn.execute(stmt, (tenant, name)).fetchall()]

    return lookup, conn.close


def peer_lookup_postgres(
    schema: str,
) -> tuple[Callable[[str, str], list[dict[str, Any]]], Callable[[], None]]:
    import psycopg

    conn = psycopg.connect(PG_URL, autocommit=True)
    stmt = (
        f'SELECT id, tenant, name, label, qty FROM "{schema}".{PEER_TABLE} WHERE tenant = %s AND name = %s '
        "ORDER BY seq LIMIT 51"
    )

    def lookup(tenant: str, name: str) -> list[dict[str, Any]]:
        return [to_dict(r) for r in conn.execute(stmt, (tenant, name)).fetchall()]

    return lookup, conn.close


def to_dict(r: Any) -> dict[str, Any]:
    return {"id": r[0], "tenantId": r[1], "name": r[2], "label": r[3], "qty": r[4]}


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        found = call()
        out.append((time.perf_counter() - start) * 1000)
        assert len(found) == 1, found  # every lookup finds its one row
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run_lookups(
    store: Any, peer: Callable[[str, str], Any], n: int, lookups: int, rounds: int
) -> dict[str, list[float]]:
    rng = random.Random(n)
    got: dict[str, list[float]] = {"store, indexed": [], "store, not indexed": [], "peer": []}
    slow = max(2, lookups // 50)  # the unindexed filter may read every row: fewer of them
    for _ in range(rounds):
        picks = [rng.randrange(n) for _ in range(lookups)]
        got["store, indexed"] += timed(
            [
                lambda i=i: store.scan("Item", {"name": row(i)["name"]}, tenant=row(i)["tenantId"], limit=51)
                for i in picks
            ]
        )
        got["peer"] += timed([lambda i=i: peer(row(i)["tenantId"], row(i)["name"]) for i in picks])
        got["store, not indexed"] += timed(
            [
                lambda i=i: store.scan(
                    "Item", {"label": row(i)["label"]}, tenant=row(i)["tenantId"], limit=51
                )
                for i in picks[:slow]
            ]
        )
    return got


# -- HTTP --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], url: str, health: str) -> subprocess.Popen[bytes]:
    import httpx

    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120  # serve syncs the indexes first (built already here)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited: {log.read().decode()}")
        try:
            if httpx.get(url + health, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(cmd)}")


def http_lookups(url: str, n: int, lookups: int, seed: int) -> list[float]:
    import httpx

    rng = random.Random(seed)
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(lookups):
            r = row(rng.randrange(n))
            headers = {"X-User-Id": "bench", "X-User-Role": "admin", "X-Tenant-Id": r["tenantId"]}
            start_ = time.perf_counter()
            response = client.get("/Item", params={"name": r["name"]}, headers=headers)
            out.append((time.perf_counter() - start_) * 1000)
            items = response.json()["items"]
            assert response.status_code == 200 and [i["id"] for i in items] == [r["id"]], response.text
    return out


def run_http(
    db: str, peer_target: str, model: Path, n: int, lookups: int, rounds: int
) -> dict[str, list[float]]:
    ours_port, peer_port = free_port(), free_port()
    ours_cmd = [
        sys.executable,
        "-m",
        "manifest_lang",
        "serve",
        str(model),
        "--db",
        db,
        "--port",
        str(ours_port),
    ]
    ours_cmd += ["--trust-headers", "--no-access-log", "--no-metrics"]
    peer_cmd = [sys.executable, __file__, "--peer-server", peer_target, "--port", str(peer_port)]
    procs = [
        start(ours_cmd, f"http://127.0.0.1:{ours_port}", "/healthz"),
        start(peer_cmd, f"http://127.0.0.1:{peer_port}", "/healthz"),
    ]
    got: dict[str, list[float]] = {"manifest serve": [], "Starlette peer": []}
    try:
        for k in range(rounds):
            got["manifest serve"] += http_lookups(f"http://127.0.0.1:{ours_port}", n, lookups, k)
            got["Starlette peer"] += http_lookups(f"http://127.0.0.1:{peer_port}", n, lookups, k)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    return got


def peer_server(target: str, port: int) -> None:
    """The hand-written list route: GET /Item?name=… from the typed table, the caller's tenant."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    if target.startswith("postgresql"):
        from psycopg_pool import ConnectionPool

        dsn, schema = target.split("#")
        pool: ConnectionPool[Any] = ConnectionPool(dsn, min_size=1, max_size=4, kwargs={"autocommit": True})
        stmt = (
            f'SELECT id, tenant, name, label, qty FROM "{schema}".{PEER_TABLE} WHERE tenant = %s '
            "AND name = %s ORDER BY seq LIMIT %s"
        )

        def query(tenant: str, name: str, limit: int) -> list[Any]:
            with pool.connection() as conn:
                return conn.execute(stmt, (tenant, name, limit)).fetchall()
    else:
        import threading

        local = threading.local()
        stmt = (
            f"SELECT id, tenant, name, label, qty FROM {PEER_TABLE} WHERE tenant = ? AND name = ? "
            "ORDER BY seq LIMIT ?"
        )

        def query(tenant: str, name: str, limit: int) -> list[Any]:
            if not hasattr(local, "conn"):
                local.conn = sqlite3.connect(target, check_same_thread=False)
            return local.conn.execute(stmt, (tenant, name, limit)).fetchall()

    async def items(request: Request) -> Response:
        tenant = request.headers.get("x-tenant-id", "")
        limit = min(int(request.query_params.get("limit", "50")), 1000)
        found = await run_in_threadpool(query, tenant, request.query_params.get("name", ""), limit + 1)
        page = [to_dict(r) for r in found[:limit]]
        body = {"items": page, "limit": limit, "offset": 0, "nextCursor": None}
        return Response(orjson.dumps(body), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/Item", items), Route("/healthz", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- report ------------------------------------------------------------------------------------------
def report(title: str, got: dict[str, list[float]], base: str) -> list[str]:
    lines = [
        f"\n{title}",
        "| variant | lookups | p50 ms | p99 ms | p50 ratio (peer / variant) |",
        "|---|---|---|---|---|",
    ]
    ref = statistics.median(got[base])
    for name, values in got.items():
        p50 = statistics.median(values)
        ratio = "" if name == base else f"{ref / p50:.2f}"
        lines.append(f"| {name} | {len(values)} | {p50:.3f} | {pct(values, 0.99):.3f} | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="row counts, comma-separated")
    parser.add_argument("--http-sizes", default="100000", help="sizes also measured over HTTP ('' for none)")
    parser.add_argument("--only", default="sqlite,postgres")
    parser.add_argument("--lookups", type=int, default=500, help="lookups per variant per round")
    parser.add_argument("--http-lookups", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-server", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.peer_server:
        peer_server(a.peer_server, a.port)
        return
    sizes = [int(s) for s in a.sizes.split(",") if s]
    http_sizes = {int(s) for s in a.http_sizes.split(",") if s}
    compiled = compile_source(SOURCE)
    assert compiled.ir is not None
    lines: list[str] = []
    misses: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "items.manifest"
        model.write_text(SOURCE)
        for n in sizes:
            for kind in [k for k in ("sqlite", "postgres") if k in a.only.split(",")]:
                label = f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'}, {n:,} rows"
                print(f"{label}: seeding…", file=sys.stderr, flush=True)
                store, peer, close, db, peer_target, cleanup = open_bench(kind, Path(tmp), n)
                try:
                    start_ = time.perf_counter()
                    created = store.sync_indexes(compiled.ir).created
                    built = time.perf_counter() - start_
                    print(
                        f"{label}: {len(created)} index(es) built in {built:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                    got = run_lookups(store, peer, n, a.lookups, a.rounds)
                    lines += report(f"{label} (index build {built:.1f} s)", got, "peer")
                    p50 = statistics.median(got["store, indexed"])
                    verdict = "PASS" if p50 < TARGET_MS else "MISS"
                    lines.append(f"indexed filter p50 {p50:.3f} ms: {verdict} (target < {TARGET_MS} ms)")
                    if verdict == "MISS":
                        misses.append(label)
                    if n in http_sizes:
                        print(f"{label}: HTTP…", file=sys.stderr, flush=True)
                        http = run_http(db, peer_target, model, n, a.http_lookups, a.rounds)
                        lines += report(f"{label}, GET /Item?name=… over HTTP", http, "Starlette peer")
                finally:
                    store.close()
                    close()
                    cleanup()
    print("\n".join(lines))
    if misses:
        print(f"\nMISS: {', '.join(misses)}")


def open_bench(
    kind: str, tmp: Path, n: int
) -> tuple[Any, Any, Callable[[], None], str, str, Callable[[], None]]:
    """(store, peer lookup, close peer, store URL, peer target, drop everything)."""
    if kind == "sqlite":
        path = tmp / f"bench-{n}.db"
        seed_sqlite(path, n)
        peer, close = peer_lookup_sqlite(path)
        return SQLiteStore(path), peer, close, f"sqlite:///{path}", str(path), lambda: path.unlink()
    from manifest_lang.stores.postgres import PostgresStore

    schema = f"bench_list_{uuid.uuid4().hex[:8]}"
    seed_postgres(schema, n)
    peer, close = peer_lookup_postgres(schema)
    store = PostgresStore(PG_URL, schema=schema, pool_size=2)

    def drop() -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return store, peer, close, f"{PG_URL}?schema={schema}", f"{PG_URL}#{schema}", drop


if __name__ == "__main__":
    main()
