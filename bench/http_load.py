"""Load benchmark for ``manifest serve`` (a benchmark, not a test).

Starts ``manifest serve`` on loopback in a subprocess (SQLite, then PostgreSQL), seeds
inventory items, then runs a catering-like workload from 64 concurrent async clients for a
bounded time: 60% reserve (a command that writes, with constraint outcomes and an event),
25% read one item, 15% list a page. Prints requests/s, p50/p99 latency and the error count.

    .venv/bin/python bench/http_load.py                      # 64 clients, 10 s per store
    .venv/bin/python bench/http_load.py --duration 30 --workers 2 --stores sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "tests" / "http" / "models" / "kitchen.manifest"
PG_URL = os.environ.get("MANIFEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SPAWN_SECONDS = 3.0  # head start for the client processes to import and get ready
HEADERS = {"X-User-Id": "bench", "X-User-Role": "chef", "X-Tenant-Id": "bench-tenant"}


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, seconds: float, status: int | str) -> None:
        self.latencies.append(seconds)
        if not (isinstance(status, int) and 200 <= status < 300):
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(db: str, workers: int) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "manifest_lang",
        "serve",
        str(MODEL),
        "--db",
        db,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--trust-headers",
    ]
    # The log goes to a file: a pipe nobody reads during the load would fill up and stall the server.
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited: {log.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


async def _seed(client: httpx.AsyncClient, items: int) -> list[str]:
    ids = []
    for i in range(items):
        body = {"name": f"item-{i}", "quantityOnHand": 1_000_000_000, "parLevel": 10}
        response = await client.post("/InventoryItem", json=body, headers=HEADERS)
        response.raise_for_status()
        payload = response.json()
        ids.append((payload.get("instance") or payload["result"])["id"])
    return ids


#: request kinds of the workload and their default weights (``--mix reserve=60,get=25,list=15``)
DEFAULT_MIX = {"reserve": 60, "get": 25, "list": 15, "health": 0}


async def _one(client: httpx.AsyncClient, kind: str, item: str, n: int) -> int:
    if kind == "reserve":
        body = {"quantity": 1, "eventId": f"event-{n % 50}"}
        headers = {**HEADERS, "X-Correlation-Id": f"prep-{n % 500}"}
        response = await client.post(f"/InventoryItem/{item}/commands/reserve", json=body, headers=headers)
    elif kind == "get":
        response = await client.get(f"/InventoryItem/{item}", headers=HEADERS)
    elif kind == "list":
        response = await client.get("/InventoryItem?limit=20", headers=HEADERS)
    else:
        response = await client.get("/healthz")
    return response.status_code


async def _client_loop(
    url: str, ids: list[str], mix: dict[str, int], deadline: float, stats: Stats, seed: int
) -> None:
    rng = random.Random(seed)
    kinds, weights = list(mix), list(mix.values())
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        n = 0
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            start = time.perf_counter()
            try:
                status: int | str = await _one(client, kind, rng.choice(ids), n)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            stats.add(time.perf_counter() - start, status)
            n += 1


async def _load(
    url: str, ids: list[str], mix: dict[str, int], clients: int, deadline: float, seed: int
) -> Stats:
    stats = Stats()
    await asyncio.gather(*(_client_loop(url, ids, mix, deadline, stats, seed + i) for i in range(clients)))
    return stats


def _load_process(args: tuple[str, list[str], dict[str, int], int, float, float, int]) -> Stats:
    url, ids, mix, clients, start_wall, duration, seed = args
    # Every process starts at the same wall-clock instant (after all of them spawned) and runs
    # for the same duration; monotonic clocks are per process, so only wall time travels.
    time.sleep(max(0.0, start_wall - time.time()))
    return asyncio.run(_load(url, ids, mix, clients, time.monotonic() + duration, seed))


def _run(url: str, args: argparse.Namespace) -> tuple[Stats, float]:
    """Seed, then split the clients over ``procs`` processes so the client side is not the limit."""

    async def seed() -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as seeder:
            return await _seed(seeder, args.items)

    ids = asyncio.run(seed())
    clients, procs = args.clients, args.client_procs
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    start_wall = time.time() + SPAWN_SECONDS
    jobs = [(url, ids, args.mix, n, start_wall, args.duration, i * 1000) for i, n in enumerate(shares) if n]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        parts = pool.map(_load_process, jobs)
    total = Stats()
    for part in parts:
        total.latencies += part.latencies
        for kind, n in part.errors.items():
            total.errors[kind] = total.errors.get(kind, 0) + n
    return total, args.duration


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def _pg_reset(schema: str, drop: bool) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if not drop:
            conn.execute(f'CREATE SCHEMA "{schema}"')


def bench_store(name: str, args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="manifest-http-bench-"))
    schema = f"httpbench_{os.getpid()}"
    db = f"sqlite:///{tmp / 'bench.db'}" if name == "sqlite" else f"{PG_URL}?schema={schema}"
    if name == "postgres":
        _pg_reset(schema, drop=False)
    proc, url = _start(db, args.workers)
    try:
        stats, elapsed = _run(url, args)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)
        if name == "postgres":
            _pg_reset(schema, drop=True)
    return {
        "store": name,
        "requests": len(stats.latencies),
        "rps": len(stats.latencies) / elapsed,
        "p50_ms": _pct(stats.latencies, 0.50),
        "p99_ms": _pct(stats.latencies, 0.99),
        "errors": sum(stats.errors.values()),
        "error_kinds": stats.errors,
    }


def _parse_mix(text: str) -> dict[str, int]:
    mix = {kind: 0 for kind in DEFAULT_MIX}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in mix:
            raise argparse.ArgumentTypeError(f"unknown request kind {kind!r}; known: {', '.join(mix)}")
        mix[kind.strip()] = int(weight)
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per store")
    parser.add_argument("--items", type=int, default=500, help="inventory items seeded before the load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--client-procs", type=int, default=2, help="processes the clients are spread over")
    parser.add_argument("--mix", type=_parse_mix, default=DEFAULT_MIX, help="e.g. reserve=60,get=25,list=15")
    args = parser.parse_args()
    print(
        f"manifest serve · {args.clients} clients in {args.client_procs} processes · {args.duration:.0f}s · "
        f"workers={args.workers} · " + " / ".join(f"{w}% {k}" for k, w in args.mix.items() if w)
    )
    print(f"{'store':<10}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    failed = False
    for name in args.stores.split(","):
        row = bench_store(name.strip(), args)
        print(
            f"{row['store']:<10}{row['requests']:>10}{row['rps']:>10.0f}{row['p50_ms']:>10.1f}"
            f"{row['p99_ms']:>10.1f}{row['errors']:>8}" + (f"  {row['error_kinds']}" if row["errors"] else "")
        )
        failed = failed or bool(row["errors"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
