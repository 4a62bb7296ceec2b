"""Durable work throughput and latency: ``manifest worker`` on SQLite and PostgreSQL, next to
procrastinate (a PostgreSQL job queue from PyPI) doing the same job, in one run.

The job is "no-op plus one update": our async command ``bump`` adds 1 to one row of its own
(``Counter``), procrastinate's task runs ``UPDATE counters SET value = value + 1`` on its own
row. Both queues use real worker processes (``manifest worker`` / ``procrastinate worker``), one
job at a time per process (concurrency 1), 1 and 4 processes.

- throughput: N jobs enqueued while no worker runs, then the workers start; jobs/s is N over the
  time from the first job's start to the last job's end (the queues' own timestamps), so process
  start-up is not counted;
- latency: with the workers idle, one job every ``--gap`` ms through the normal path (our
  ``run_command`` on the async command, procrastinate's ``defer``); enqueue-to-start p50 / p99
  from the queues' own timestamps (ours: the item's created and started times; procrastinate's:
  its ``deferred`` and ``started`` events).

procrastinate is not a dependency of manifest-lang: install it for the benchmark only::

    .venv/bin/pip install procrastinate
    .venv/bin/python bench/worker_bench.py                    # ~2 minutes
    .venv/bin/python bench/worker_bench.py --jobs 500 --latency-jobs 50 --no-peer   # smoke

Environment: ``MANIFEST_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MODEL = """
entity Counter {
  property required id: string
  property value: number = 0
  async command bump() {
    mutate value = self.value + 1
  }
}
"""

PEER_APP = """
import os
import psycopg
import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=os.environ["BENCH_PEER_DSN"]))
_conn = None


@app.task(name="bump", queue="bench")
def bump(row: int) -> None:
    global _conn
    if _conn is None:
        _conn = psycopg.connect(os.environ["BENCH_PEER_DSN"], autocommit=True)
    _conn.execute("UPDATE counters SET value = value + 1 WHERE id = %s", (row,))
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def wait_for(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout:.0f}s")


# -- ours --------------------------------------------------------------------------------------
def ours(url: str, workers: int, jobs: int, latency_jobs: int, gap: float, tmp: Path) -> dict[str, Any]:
    from manifest_lang.stores.base import NEW_ROW, RowWrite, UnitOfWork
    from manifest_lang.stores.urls import open_store
    from manifest_lang.workflows.jobs import StoreJobQueue
    from manifest_lang.workflows.services import WorkServices

    model = tmp / "bench.manifest"
    model.write_text(MODEL)
    store = open_store(url)
    services = WorkServices(MODEL, store)
    store.commit(UnitOfWork([RowWrite("Counter", f"c{n}", {"id": f"c{n}", "value": 0}, NEW_ROW) for n in range(jobs)]))
    queue = StoreJobQueue(store)
    items = [
        queue.item_for(
            {"jobId": f"j{n}", "commandName": "bump", "entityName": "Counter", "instanceId": f"c{n}", "input": {}},
            {},
            None,
        )
        for n in range(jobs)
    ]
    store.enqueue_work(items, now=time.time())
    log = open(tmp / "ours.log", "ab")  # noqa: SIM115
    cmd = [sys.executable, "-m", "manifest_lang", "worker", str(model), "--db", url, "--log-level", "WARNING"]
    procs = [subprocess.Popen(cmd, stdout=log, stderr=log) for _ in range(workers)]
    try:
        wait_for(lambda: store.work_counts().get("job", {}).get("done", 0) == jobs, 600)
        done = store.list_work(kind="job", limit=jobs)
        start = min(i.started_at or 0 for i in done)
        end = max(i.finished_at or 0 for i in done)
        throughput = jobs / (end - start)
        assert all(r["value"] == 1 for r in store.scan("Counter"))
        engine = services.engine({}, idempotency_store=None)
        ids = []
        for n in range(latency_jobs):
            ids.append(engine.run_command("bump", {}, entity_name="Counter", instance_id=f"c{n}").result["jobId"])
            time.sleep(gap / 1000)
        wait_for(lambda: store.work_counts()["job"]["done"] == jobs + latency_jobs, 120)
        latencies = []
        for job_id in ids:
            item = store.get_work(job_id)
            latencies.append(((item.started_at or 0) - item.created_at) * 1000)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        store.drop_schema(**({"drop_namespace": True} if "postgres" in url else {}))  # type: ignore[attr-defined]
        store.close()
    return {"jobs/s": throughput, "p50 ms": pct(latencies, 0.5), "p99 ms": pct(latencies, 0.99)}


# -- procrastinate -----------------------------------------------------------------------------
def peer(dsn: str, workers: int, jobs: int, latency_jobs: int, gap: float, tmp: Path) -> dict[str, Any]:
    import psycopg

    db = "bench_peer_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    peer_dsn = dsn.rsplit("/", 1)[0] + "/" + db
    (tmp / "peer_app.py").write_text(PEER_APP)
    env = {**os.environ, "BENCH_PEER_DSN": peer_dsn, "PYTHONPATH": str(tmp)}
    sys.path.insert(0, str(tmp))
    os.environ["BENCH_PEER_DSN"] = peer_dsn
    import importlib

    import peer_app  # type: ignore[import-not-found]

    importlib.reload(peer_app)
    app = peer_app.app
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with app.open():
            app.schema_manager.apply_schema()
            with psycopg.connect(peer_dsn, autocommit=True) as conn:
                conn.execute("CREATE TABLE counters (id INT PRIMARY KEY, value INT NOT NULL DEFAULT 0)")
                conn.execute("INSERT INTO counters (id) SELECT g FROM generate_series(0, %s) g", (jobs,))
            bump = app.tasks["bump"]
            bump.batch_defer(*({"row": n} for n in range(jobs)))
            log = open(tmp / "peer.log", "ab")  # noqa: SIM115
            cmd = [sys.executable, "-m", "procrastinate", "--app=peer_app.app", "worker", "--concurrency", "1"]
            procs = [subprocess.Popen(cmd, stdout=log, stderr=log, env=env) for _ in range(workers)]
            with psycopg.connect(peer_dsn, autocommit=True) as conn:

                def succeeded() -> int:
                    row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'").fetchone()
                    return int(row[0]) if row else 0

                wait_for(lambda: succeeded() == jobs, 600)
                row = conn.execute(
                    "SELECT extract(epoch FROM min(at) FILTER (WHERE type = 'started')), "
                    "extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')) FROM procrastinate_events"
                ).fetchone()
                assert row is not None
                throughput = jobs / (float(row[1]) - float(row[0]))
                bad = conn.execute("SELECT count(*) FROM counters WHERE id < %s AND value <> 1", (jobs,)).fetchone()
                assert bad is not None and bad[0] == 0
                first = conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs").fetchone()
                assert first is not None
                for n in range(latency_jobs):
                    bump.defer(row=n)
                    time.sleep(gap / 1000)
                wait_for(lambda: succeeded() == jobs + latency_jobs, 120)
                rows = conn.execute(
                    "SELECT extract(epoch FROM s.at - d.at) * 1000 FROM procrastinate_events d "
                    "JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started' "
                    "WHERE d.type = 'deferred' AND d.job_id > %s",
                    (first[0],),
                ).fetchall()
                latencies = [float(r[0]) for r in rows]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return {"jobs/s": throughput, "p50 ms": pct(latencies, 0.5), "p99 ms": pct(latencies, 0.99)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=2000, help="jobs of the throughput run")
    p.add_argument("--latency-jobs", type=int, default=200, help="jobs of the latency run")
    p.add_argument("--gap", type=float, default=20.0, help="ms between two jobs of the latency run")
    p.add_argument("--workers", default="1,4", help="worker process counts")
    p.add_argument("--no-peer", action="store_true", help="skip procrastinate")
    p.add_argument("--only", default="sqlite,postgres,peer")
    a = p.parse_args()
    dsn = os.environ.get("MANIFEST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
    counts = [int(w) for w in a.workers.split(",")]
    only = set(a.only.split(","))
    if a.no_peer:
        only.discard("peer")
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for workers in counts:
            if "sqlite" in only:
                url = f"sqlite:///{tmp}/bench-{workers}.db"
                rows.append(("manifest worker, SQLite", workers, ours(url, workers, a.jobs, a.latency_jobs, a.gap, tmp)))
            if "postgres" in only:
                url = f"{dsn}?schema=bench_{uuid.uuid4().hex[:8]}"
                rows.append(("manifest worker, PostgreSQL", workers, ours(url, workers, a.jobs, a.latency_jobs, a.gap, tmp)))
            if "peer" in only:
                rows.append(("procrastinate, PostgreSQL", workers, peer(dsn, workers, a.jobs, a.latency_jobs, a.gap, tmp)))
            for name, n, r in rows[-len(only) :]:
                print(f"  {name:<30} {n} worker(s): {r['jobs/s']:8.0f} jobs/s", file=sys.stderr)
    print(f"\n{a.jobs} jobs (throughput), {a.latency_jobs} jobs one every {a.gap:.0f} ms (latency)\n")
    print(f"| queue | workers | jobs/s | enqueue-to-start p50 | p99 |\n| --- | --- | --- | --- | --- |")
    for name, n, r in rows:
        print(f"| {name} | {n} | {r['jobs/s']:.0f} | {r['p50 ms']:.1f} ms | {r['p99 ms']:.1f} ms |")


if __name__ == "__main__":
    main()
