"""``manifest serve`` against hand-written peers on the kitchen ``reserve`` (a benchmark, not a test).

Starts three servers on loopback, each with its own fresh database of the same store type and the
same seeded rows: ``manifest serve tests/http/models/kitchen.manifest``, the Starlette peer and the
FastAPI peer (``bench/peers/``, same interpreter, same uvicorn settings, same thread limit, same API
key). Checks that they behave alike, then drives each with wrk in alternating rounds (ours,
starlette, fastapi, ours, ...) and prints medians and the ratios ours/peer (> 1: we are faster).

    .venv/bin/python bench/http_reserve.py                                   # whole matrix, 10 s x 3
    .venv/bin/python bench/http_reserve.py --duration 5 --rounds 3
    .venv/bin/python bench/http_reserve.py --stores sqlite --workers 1 --conns 16 --routes reserve

Exit status: 0, 1 when a load run had errors or non-2xx responses (its figures are not valid),
3 when the servers disagree before timing.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / "peers"
MODEL = REPO / "tests" / "http" / "models" / "kitchen.manifest"
PG_URL = os.environ.get("MANIFEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
API_KEY = "bench-chef-key"
TENANT = "bench-tenant"
KEYS = {"keys": {API_KEY: {"user": {"id": "bench-chef", "role": "chef"}, "tenantId": TENANT}}}
ON_HAND = 10**12  # enough stock that no run exhausts an item
PAR_LEVEL = 10
WRK_THREADS = 2
SERVERS = ("ours", "starlette", "fastapi")
START_TIMEOUT = 90.0

sys.path.insert(0, str(PEERS))
from peer_db import Database  # noqa: E402  (bench/peers is not a package)

_children: list[subprocess.Popen[bytes]] = []


def _stop_children() -> None:
    for proc in list(_children):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: the uvicorn master and workers
            except ProcessLookupError:
                pass
    for proc in list(_children):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        _children.remove(proc)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(root: int) -> float:
    """User + system CPU of ``root`` and its descendants (/proc; the uvicorn workers included)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(pid, 0.0) for pid in tree)


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    ids: list[str] = field(default_factory=list)
    ids_file: Path | None = None

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


def _spawn(name: str, cmd: list[str], log: Path, port: int) -> Server:
    handle = log.open("wb")
    # The log goes to a file: a pipe nobody reads during the load would fill up and stall the server.
    proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    handle.close()
    _children.append(proc)
    server = Server(name, f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited at start:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} did not answer /healthz within {START_TIMEOUT:.0f} s:\n{server.log_tail()}")


def _db_url(store: str, tmp: Path, name: str, schema_prefix: str) -> str:
    if store == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}"
    return f"{PG_URL}?schema={schema_prefix}_{name}"


def _pg_schema(url: str, create: bool) -> None:
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if create:
            conn.execute(f'CREATE SCHEMA "{schema}"')


def _seed_ours(server: Server, items: int) -> list[str]:
    headers = {"X-API-Key": API_KEY}

    def create(i: int) -> str:
        body = {"name": f"item {i}", "quantityOnHand": ON_HAND, "parLevel": PAR_LEVEL}
        response = client.post("/InventoryItem", json=body, headers=headers)
        response.raise_for_status()
        payload = response.json()
        return str((payload.get("instance") or payload["result"])["id"])

    with httpx.Client(base_url=server.url, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, range(items)))


def start_servers(store: str, workers: int, items: int, tmp: Path, schema_prefix: str) -> list[Server]:
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(KEYS))
    servers = []
    for name in SERVERS:
        url = _db_url(store, tmp, name, schema_prefix)
        if store == "postgres":
            _pg_schema(url, create=True)
        port = _free_port()
        common = ["--port", str(port), "--workers", str(workers)]
        if name == "ours":
            cmd = [sys.executable, "-m", "manifest_lang", "serve", str(MODEL), "--db", url, *common]
            cmd += ["--api-keys", str(keys), "--no-access-log"]
        else:
            db = Database(url)  # the peers' tables and rows, made before the peer starts
            try:
                ids = db.create_schema(items, TENANT, ON_HAND, PAR_LEVEL)
            finally:
                db.close()
            cmd = [sys.executable, str(PEERS / f"{name}_peer.py"), "--db", url, "--keys", str(keys), *common]
        server = _spawn(name, cmd, tmp / f"{name}.log", port)
        server.ids = _seed_ours(server, items) if name == "ours" else ids
        server.ids_file = tmp / f"{name}.ids"
        server.ids_file.write_text("\n".join(server.ids) + "\n")
        servers.append(server)
    return servers


# -- correctness before timing ------------------------------------------------------------------
def _reserved(client: httpx.Client, item: str) -> int:
    response = client.get(f"/InventoryItem/{item}")
    response.raise_for_status()
    return int(response.json()["quantityReserved"])


def check_server(client: httpx.Client, item: str) -> dict[str, Any]:
    """One reserve, its replay, a refused reserve and a failed guard on ``item``: what each did.

    ``client`` carries the API key (a Starlette ``TestClient`` works too: the tests use that).
    """
    path = f"/InventoryItem/{item}/commands/reserve"
    key = {"Idempotency-Key": f"check-{uuid.uuid4()}"}
    found: dict[str, Any] = {}
    before = _reserved(client, item)
    first = client.post(path, json={"quantity": 1, "eventId": "check"}, headers=key)
    found["reserve"] = first.status_code
    found["reserve changes the row"] = _reserved(client, item) == before + 1
    replay = client.post(path, json={"quantity": 1, "eventId": "check"}, headers=key)
    found["replay"] = replay.status_code
    found["replay returns the same body"] = replay.json() == first.json()
    found["replay changes nothing"] = _reserved(client, item) == before + 1
    found["refused reserve"] = client.post(path, json={"quantity": ON_HAND * 10, "eventId": "x"}).status_code
    found["guard failure"] = client.post(path, json={"quantity": 0, "eventId": "x"}).status_code
    found["refusals change nothing"] = _reserved(client, item) == before + 1
    found["unknown item"] = client.get("/InventoryItem/no-such-item").status_code
    anonymous = client.post(path, json={"quantity": 1, "eventId": "x"}, headers={"X-API-Key": ""})
    found["no API key"] = anonymous.status_code
    return found


EXPECTED = {
    "reserve": 200,
    "reserve changes the row": True,
    "replay": 200,
    "replay returns the same body": True,
    "replay changes nothing": True,
    "refused reserve": 422,
    "guard failure": 422,
    "refusals change nothing": True,
    "unknown item": 404,
    "no API key": 401,
}


def disagreements(name: str, found: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {what}: {found[what]!r}, expected {expected!r}"
        for what, expected in EXPECTED.items()
        if found[what] != expected
    ]


def check_servers(servers: list[Server]) -> list[str]:
    problems = []
    for server in servers:
        with httpx.Client(base_url=server.url, timeout=30, headers={"X-API-Key": API_KEY}) as client:
            problems += disagreements(server.name, check_server(client, server.ids[0]))
    return problems


# -- load -----------------------------------------------------------------------------------------
def run_wrk(server: Server, route: str, conns: int, duration: float, token: str) -> dict[str, Any]:
    script = PEERS / f"wrk_{route}.lua"
    cmd = ["wrk", f"-t{min(WRK_THREADS, conns)}", f"-c{conns}", f"-d{max(1, round(duration))}s"]
    cmd += ["--timeout", "10s", "-s", str(script), server.url, "--"]
    cmd += [str(server.ids_file), API_KEY, token, str(min(WRK_THREADS, conns))]
    env = {**os.environ, "WRK_REPORT_LUA": str(PEERS / "wrk_report.lua")}
    cpu_before = _cpu_seconds(server.proc.pid)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, env=env)
    cpu = _cpu_seconds(server.proc.pid) - cpu_before
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    requests = raw["requests"]
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "rps": requests / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "non2xx": raw["status"],
        "socket_errors": errors,
        "cpu_ms_per_req": cpu * 1000 / requests if requests else 0.0,
        "requests": requests,
    }


def _invalid(summary: dict[str, Any]) -> bool:
    """A run with errors, non-2xx responses or no completed request at all measured nothing."""
    return bool(summary["non2xx"] or summary["socket_errors"] or summary["no_requests"])


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "cpu_ms_per_req": statistics.median(r["cpu_ms_per_req"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "no_requests": sum(1 for r in runs if r["requests"] == 0),
        "rounds": [round(r["rps"], 1) for r in runs],
    }


def bench_cell(servers: list[Server], route: str, conns: int, args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    for _ in range(args.rounds):
        for server in servers:  # alternating: ours, starlette, fastapi, ours, ...
            token = uuid.uuid4().hex[:12]
            runs[server.name].append(run_wrk(server, route, conns, args.duration, token))
    results = {name: _summary(r) for name, r in runs.items()}
    ours = results["ours"]["rps"]
    ratios = {f"ours/{name}": ours / results[name]["rps"] for name in SERVERS[1:] if results[name]["rps"]}
    return {"route": route, "conns": conns, "servers": results, "ratios": ratios}


def _warm_up(servers: list[Server], routes: list[str], seconds: float) -> None:
    for route in routes:
        for server in servers:
            run_wrk(server, route, 16, seconds, "warmup-" + uuid.uuid4().hex[:8])


def bench_block(store: str, workers: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="manifest-http-reserve-"))
    prefix = f"bench_reserve_{os.getpid()}_{workers}"
    servers: list[Server] = []
    try:
        servers = start_servers(store, workers, args.items, tmp, prefix)
        problems = check_servers(servers)
        if problems:
            print(f"{store}, {workers} worker(s): the servers disagree before timing:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            sys.exit(3)
        if args.warmup > 0:
            _warm_up(servers, args.routes, args.warmup)
        cells = []
        for conns in args.conns:
            for route in args.routes:
                cell = bench_cell(servers, route, conns, args)
                cell.update(store=store, workers=workers)
                cells.append(cell)
                if not args.json:
                    print(_row(cell), flush=True)
        return cells
    finally:
        _stop_children()
        if store == "postgres":
            for name in SERVERS:
                _pg_schema(_db_url(store, tmp, name, prefix), create=False)
        shutil.rmtree(tmp, ignore_errors=True)


# -- report ---------------------------------------------------------------------------------------
_HEAD = (
    f"{'store':<9}{'w':>2}{'conn':>5} {'route':<8}| {'req/s ours  starl  fastapi':<27}| "
    f"{'p50 ms o/s/f':<19}| {'p99 ms o/s/f':<19}| {'CPU ms/req o/s/f':<19}| {'err':>4} | "
    f"{'o/starl':>7}{'o/fast':>7}"
)


def _row(cell: dict[str, Any]) -> str:
    s, ratios = cell["servers"], cell["ratios"]

    def three(key: str, fmt: str) -> str:
        return "/".join(format(s[name][key], fmt) for name in SERVERS)

    errors = sum(s[name]["non2xx"] + s[name]["socket_errors"] + s[name]["no_requests"] for name in SERVERS)
    rps = " ".join(f"{s[name]['rps']:>7.0f}" for name in SERVERS)
    return (
        f"{cell['store']:<9}{cell['workers']:>2}{cell['conns']:>5} {cell['route']:<8}| {rps:<27}| "
        f"{three('p50_ms', '.1f'):<19}| {three('p99_ms', '.0f'):<19}| {three('cpu_ms_per_req', '.2f'):<19}| "
        f"{errors:>4} | {ratios.get('ours/starlette', 0):>7.2f}{ratios.get('ours/fastapi', 0):>7.2f}"
    )


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of one wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per cell (median)")
    parser.add_argument("--stores", type=_csv, default=["sqlite", "postgres"])
    parser.add_argument("--workers", type=lambda t: [int(w) for w in _csv(t)], default=[1, 2])
    parser.add_argument("--conns", type=lambda t: [int(c) for c in _csv(t)], default=[16, 64])
    parser.add_argument("--routes", type=_csv, default=["reserve", "get"])
    parser.add_argument("--items", type=int, default=1000, help="rows seeded in each database")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk per server and route first")
    parser.add_argument("--json", action="store_true", help="one JSON object per cell instead of the table")
    args = parser.parse_args()
    for store in args.stores:
        if store not in ("sqlite", "postgres"):
            parser.error(f"unknown store {store!r} (sqlite, postgres)")
    for route in args.routes:
        if route not in ("reserve", "get"):
            parser.error(f"unknown route {route!r} (reserve, get)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    atexit.register(_stop_children)
    # so the finally blocks and atexit run (SIGINT too when a shell started us with it ignored)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if not args.json:
        print(
            "manifest serve vs hand-written peers · kitchen reserve / GET one item · "
            f"wrk {WRK_THREADS} threads · {args.duration:.0f} s x {args.rounds} alternating rounds, "
            f"medians · {args.items} items"
        )
        print(
            "ratios are req/s ours / peer (> 1: we are faster); CPU = server processes' user+sys per request"
        )
        print(_HEAD)
    failed = False
    for store in args.stores:
        for workers in args.workers:
            for cell in bench_block(store, workers, args):
                if args.json:
                    print(json.dumps(cell), flush=True)
                failed = failed or any(s["non2xx"] or s["socket_errors"] for s in cell["servers"].values())
    if failed:
        print(
            "some runs had errors, non-2xx responses or no completed request: those figures are not valid",
            file=sys.stderr,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
