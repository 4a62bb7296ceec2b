#!/usr/bin/env python3
"""Memory growth over many commands on ONE correlation id (a benchmark, not a test).

    .venv/bin/python bench/memory_growth.py inprocess [--commands 1000000] [--limit 1000]
    .venv/bin/python bench/memory_growth.py serve [--commands 200000] [--connections 64] [--store sqlite]
    .venv/bin/python bench/memory_growth.py all --commands 100000

``inprocess``: one engine over the kitchen model runs ``reserve`` N times with one correlation id,
with the event log unlimited (the library default) and capped (``event_log_limit``); then a
``TraceRecorder`` records N keyed commands of one workflow, uncapped and with its default cap.
Each configuration runs in a fresh interpreter and prints, at 10k / 100k / 1M commands, the RSS,
the CPU time per command of the last stretch and what is retained, then the RSS after
``clear_event_log()``.

``serve``: ``manifest serve`` (SQLite or PostgreSQL, one worker, its default bounds) gets N keyed
``reserve`` requests (a fresh Idempotency-Key each, the same X-Correlation-Id for all) from ``wrk``
with many connections, in segments; the server's RSS is read from /proc after each segment. The
acceptance is "flat": every sample after the first segment within +-10% of the first one.
``--pythonpath DIR`` serves another checkout's code (e.g. main's ``src``) for a before/after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "tests" / "http" / "models" / "kitchen.manifest"
PG_URL = os.environ.get("MANIFEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
HEADERS = {"X-User-Id": "bench", "X-User-Role": "chef", "X-Tenant-Id": "bench-tenant"}
CORRELATION = "one-workflow"
CHECKPOINTS = (10_000, 100_000, 1_000_000)


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --- in process ---------------------------------------------------------------------------------


def _engine(limit: int | None) -> tuple[Any, list[str]]:
    from manifest_lang import compile_source
    from manifest_lang.runtime.engine import RuntimeEngine

    ir = compile_source(MODEL.read_text()).ir
    clock = [1_700_000_000_000]

    def now() -> int:
        clock[0] += 1
        return clock[0]

    context = {"user": {"id": "bench", "role": "chef"}, "tenantId": "t"}
    engine = RuntimeEngine(ir, context, now=now, event_log_limit=limit)
    items = []
    for i in range(100):
        body = {
            "id": f"item-{i}",
            "name": f"item-{i}",
            "quantityOnHand": 10**12,
            "parLevel": 0,
            "tenantId": "t",
        }
        items.append(engine.create_instance("InventoryItem", body)["id"])
    return engine, items


def _checkpoints(total: int) -> list[int]:
    return [c for c in CHECKPOINTS if c < total] + [total]


def child_eventlog(total: int, limit: int | None) -> dict[str, Any]:
    engine, items = _engine(limit)
    gc.collect()
    rows: list[dict[str, Any]] = [{"commands": 0, "rssMB": round(rss_mb(), 1)}]
    done = 0
    for mark in _checkpoints(total):
        cpu = time.process_time()
        for k in range(done, mark):
            engine.run_command(
                "reserve",
                {"quantity": 1, "eventId": "e"},
                entity_name="InventoryItem",
                instance_id=items[k % 100],
                correlation_id=CORRELATION,
                causation_id=f"c{k}",
            )
        per = (time.process_time() - cpu) / (mark - done) * 1e6
        done = mark
        gc.collect()
        rows.append(
            {
                "commands": mark,
                "rssMB": round(rss_mb(), 1),
                "cpuUsPerCommand": round(per, 2),
                "eventsKept": len(engine.get_event_log()),
                "indexedForCorrelation": len(engine.events_for_correlation(CORRELATION)),
            }
        )
    engine.clear_event_log()
    gc.collect()
    return {"rows": rows, "rssAfterClearMB": round(rss_mb(), 1)}


def child_trace(total: int, capped: bool) -> dict[str, Any]:
    from manifest_lang.workflows.trace import TraceRecorder

    recorder = TraceRecorder() if capped else TraceRecorder(max_records=None, max_total_records=10**9)
    command = type("Command", (), {"name": "reserve", "entity": "InventoryItem"})()
    meta_type = type(
        "Meta", (), {"correlation_id": CORRELATION, "causation_id": None, "idempotency_key": None}
    )
    gc.collect()
    rows: list[dict[str, Any]] = [{"commands": 0, "rssMB": round(rss_mb(), 1)}]
    done = 0
    for mark in _checkpoints(total):
        cpu = time.process_time()
        for k in range(done, mark):
            meta = meta_type()
            meta.idempotency_key = f"key-{k}"
            recorder.record_command(command, f"item-{k % 100}", meta, _result(k), "t")
        per = (time.process_time() - cpu) / (mark - done) * 1e6
        done = mark
        gc.collect()
        records, evicted = recorder.window(CORRELATION, "t")
        rows.append(
            {
                "commands": mark,
                "rssMB": round(rss_mb(), 1),
                "cpuUsPerCommand": round(per, 2),
                "recordsKept": len(records),
                "evicted": evicted,
            }
        )
    return {"rows": rows}


def _result(k: int) -> dict[str, Any]:
    """The result dict of one reserve, as the server hands it to the recorder."""
    event = {
        "name": "InventoryReserved",
        "channel": "inventory.reserved",
        "payload": {"quantity": 1, "eventId": "e"},
        "subject": {"command": "reserve", "entity": "InventoryItem", "id": f"item-{k % 100}"},
        "timestamp": 1_700_000_000_000 + k,
        "correlationId": CORRELATION,
        "emitIndex": 0,
    }
    warning = {
        "code": "belowPar",
        "severity": "warn",
        "passed": False,
        "message": "Reservation leaves stock below par",
    }
    return {"success": True, "emittedEvents": [event], "constraintOutcomes": [warning]}


def _child(kind: str, total: int, arg: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "_child", kind, str(total), arg],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {kind} {arg} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _print_rows(title: str, result: dict[str, Any], kept: str) -> None:
    print(f"\n{title}")
    print(f"{'commands':>10} {'RSS MB':>8} {'CPU us/cmd':>11} {kept:>14}")
    for row in result["rows"]:
        cpu = row.get("cpuUsPerCommand")
        print(
            f"{row['commands']:>10,} {row['rssMB']:>8.1f} {'' if cpu is None else f'{cpu:.2f}':>11} "
            f"{row.get(kept_key(kept), ''):>14}"
        )
    if "rssAfterClearMB" in result:
        print(f"{'after clear_event_log()':>30}: RSS {result['rssAfterClearMB']:.1f} MB")


def kept_key(label: str) -> str:
    return {"events kept": "eventsKept", "records kept": "recordsKept"}[label]


def run_inprocess(args: argparse.Namespace) -> None:
    n = args.commands
    print(f"in process, {n:,} reserve commands on one correlation id (kitchen model, memory store)")
    unlimited = _child("eventlog", n, "none")
    capped = _child("eventlog", n, str(args.limit))
    _print_rows("event log, unlimited (event_log_limit=None, the library default)", unlimited, "events kept")
    _print_rows(f"event log, capped (event_log_limit={args.limit})", capped, "events kept")
    print(_ratio_line(unlimited, capped))
    trace_all = _child("trace", n, "uncapped")
    trace_cap = _child("trace", n, "capped")
    _print_rows("trace recorder, uncapped (max_records=None)", trace_all, "records kept")
    _print_rows("trace recorder, default cap (max_records=1000)", trace_cap, "records kept")
    print(_ratio_line(trace_all, trace_cap))


def _ratio_line(unbounded: dict[str, Any], bounded: dict[str, Any]) -> str:
    a, b = unbounded["rows"][-1], bounded["rows"][-1]
    return (
        f"at {a['commands']:,}: RSS {a['rssMB']:.0f} MB vs {b['rssMB']:.0f} MB; "
        f"CPU per command bounded/unbounded {b['cpuUsPerCommand'] / a['cpuUsPerCommand']:.2f}"
    )


# --- through manifest serve -----------------------------------------------------------------------

_WRK_SCRIPT = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  quota = tonumber(args[1])
  prefix = args[2]
  items = {}
  for item in string.gmatch(args[3], "[^,]+") do table.insert(items, item) end
  sent = 0
  received = 0
  headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-User-Id"] = "bench"
  headers["X-User-Role"] = "chef"
  headers["X-Tenant-Id"] = "bench-tenant"
  headers["X-Correlation-Id"] = "__CORRELATION__"
  body = '{"quantity": 1, "eventId": "e"}'
end
function request()
  sent = sent + 1
  local item = items[(sent + tid) % #items + 1]
  headers["Idempotency-Key"] = prefix .. "-" .. tid .. "-" .. sent
  return wrk.format("POST", "/InventoryItem/" .. item .. "/commands/reserve", headers, body)
end
function response(status, headers, body)
  received = received + 1
  if received >= quota then wrk.thread:stop() end
end
""".replace("__CORRELATION__", CORRELATION)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(db: str, pythonpath: str | None, log: Any) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "manifest_lang", "serve", str(MODEL), "--db", db, "--port", str(port)]
    cmd += ["--trust-headers", "--no-access-log"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited: {log.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def _seed(url: str, count: int) -> list[str]:
    import httpx

    ids = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(count):
            body = {"name": f"item-{i}", "quantityOnHand": 10**12, "parLevel": 0}
            response = client.post("/InventoryItem", json=body, headers=HEADERS)
            response.raise_for_status()
            ids.append(str(response.json()["instance"]["id"]))
    return ids


def _wrk_segment(
    url: str, script: Path, per_thread: int, args: argparse.Namespace, prefix: str, items: str
) -> dict[str, Any]:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.segment_timeout}s"]
    cmd += ["--timeout", "30s", "-s", str(script), url, "--", str(per_thread), prefix, items]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Each wrk thread stops itself after its quota (wrk.thread:stop() in the script), but wrk's
    # main thread sleeps for the whole -d: interrupt it (SIGINT: it then reports) once they have.
    try:
        _interrupt_when_done(proc)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode not in (0, None):
        raise SystemExit(f"wrk failed ({proc.returncode}): {err}")
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if requests is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    seconds = float(requests.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}.get(requests.group(3), 1.0)
    return {
        "requests": int(requests.group(1)),
        "seconds": seconds,
        "non2xx": int(errors.group(1)) if errors else 0,
        "socketErrors": socket_errors.group(1) if socket_errors else "",
    }


def _interrupt_when_done(proc: subprocess.Popen[str]) -> None:
    started = False
    while proc.poll() is None:
        try:
            threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        except FileNotFoundError:
            return
        if threads > 1:
            started = True
        elif started:
            proc.send_signal(signal.SIGINT)
            return
        time.sleep(0.05)


def run_serve(args: argparse.Namespace) -> bool:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="manifest-memory-"))
    schema = f"memgrowth_{os.getpid()}"
    db = f"sqlite:///{tmp / 'bench.db'}" if args.store == "sqlite" else f"{PG_URL}?schema={schema}"
    if args.store == "postgres":
        _pg_schema(schema, create=True)
    script = tmp / "reserve.lua"
    script.write_text(_WRK_SCRIPT)
    log = tempfile.TemporaryFile("w+")
    proc, url = _start_server(db, args.pythonpath, log)
    try:
        return _drive(url, proc.pid, script, args)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        if args.store == "postgres":
            _pg_schema(schema, create=False)


def _drive(url: str, pid: int, script: Path, args: argparse.Namespace) -> bool:
    """Seed, then the segments of requests with an RSS sample after each; True if RSS stayed flat."""
    items = ",".join(_seed(url, args.items))
    source = f", code from {args.pythonpath}" if args.pythonpath else ""
    print(
        f"manifest serve ({args.store}, 1 worker{source}): {args.commands:,} keyed reserve requests, "
        f"X-Correlation-Id {CORRELATION!r} on all, {args.connections} connections, wrk -t{args.threads}, "
        f"{args.items} items"
    )
    print(f"{'requests':>10} {'RSS MB':>8} {'vs first':>9} {'req/s':>8} {'non-2xx':>8}")
    print(f"{0:>10,} {rss_mb(pid):>8.1f} {'':>9} {'':>8} {'':>8}  (after seeding)")
    total, samples, failures = 0, [], 0
    for n in range(max(1, args.commands // args.segment)):
        seg = _wrk_segment(url, script, max(1, args.segment // args.threads), args, f"s{n}", items)
        total += seg["requests"]
        failures += seg["non2xx"]
        samples.append(rss_mb(pid))
        rate = seg["requests"] / seg["seconds"]
        print(
            f"{total:>10,} {samples[-1]:>8.1f} {(samples[-1] / samples[0] - 1) * 100:>+8.1f}% {rate:>8.0f} "
            f"{seg['non2xx']:>8}" + (f"  socket errors: {seg['socketErrors']}" if seg["socketErrors"] else "")
        )
    base = samples[0]
    worst = max(abs(s / base - 1) for s in samples)
    flat = worst <= 0.10
    print(
        f"RSS from {base:.1f} MB (after the first segment) to {samples[-1]:.1f} MB; largest deviation "
        f"{worst * 100:.1f}% -> {'FLAT (within 10%)' if flat else 'NOT FLAT'}; non-2xx {failures}"
    )
    return flat


def _pg_schema(schema: str, create: bool) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if create:
            conn.execute(f'CREATE SCHEMA "{schema}"')


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, total, arg = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        if kind == "eventlog":
            out = child_eventlog(total, None if arg == "none" else int(arg))
        else:
            out = child_trace(total, arg == "capped")
        print(json.dumps(out))
        return
    # SIGTERM (a timeout, a CI stop) unwinds like Ctrl-C, so the server and wrk are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["inprocess", "serve", "all"])
    parser.add_argument(
        "--commands", type=int, default=None, help="default 1,000,000 in process, 200,000 served"
    )
    parser.add_argument("--limit", type=int, default=1000, help="event_log_limit of the capped run")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--items", type=int, default=256, help="items the requests are spread over")
    parser.add_argument(
        "--segment", type=int, default=None, help="requests between RSS samples (default commands/20)"
    )
    parser.add_argument(
        "--segment-timeout", type=int, default=600, help="upper bound of one wrk run, seconds"
    )
    parser.add_argument("--pythonpath", default=None, help="serve the code of another checkout (its src)")
    args = parser.parse_args()
    ok = True
    if args.what in {"inprocess", "all"}:
        run_inprocess(argparse.Namespace(**{**vars(args), "commands": args.commands or 1_000_000}))
    if args.what in {"serve", "all"}:
        commands = args.commands or 200_000
        served = argparse.Namespace(
            **{**vars(args), "commands": commands, "segment": args.segment or max(1, commands // 20)}
        )
        ok = run_serve(served)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
