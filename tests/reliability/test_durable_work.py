"""Durable work on real databases, with real processes (``manifest worker``, ``manifest serve``):

- a storm of 2,000 async commands, 3 workers, one of them SIGKILLed 5 times mid-storm: every job
  ends done exactly once and no command is applied twice;
- 4 workers and a schedule every second for 30 s: every due time fires exactly once;
- an approval requested, the server restarted, then approved over HTTP: the command runs once;
- a rate limit of 50 a minute and 4 processes hammering it: exactly 50 are admitted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from durable_models import APPROVAL, JOBS, LIMITED, TICKS

from manifest_lang.stores.base import NEW_ROW, RowWrite, UnitOfWork
from manifest_lang.stores.urls import open_store
from manifest_lang.workflows.services import WorkServices

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent


def manifest(*args: str, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "manifest_lang", *args], stdout=out, stderr=out)


def write_model(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.manifest"
    path.write_text(source)
    return path


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def done(store: Any) -> int:
    return int(store.work_counts().get("job", {}).get("done", 0))


def outbox_events(store: Any) -> list[dict[str, Any]]:
    rows = store._fetch(f"SELECT event FROM {store.tables.outbox} ORDER BY seq")
    return [store._decode(r[0]) for r in rows]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def test_sigkill_storm_every_job_done_exactly_once(
    durable_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    jobs, accounts = 2000, 2000
    model = write_model(tmp_path, "jobs", JOBS)
    store = open_store(durable_url)
    services = WorkServices(JOBS, store)
    writes = [RowWrite("Account", f"a{n}", {"id": f"a{n}", "applied": 0}, NEW_ROW) for n in range(accounts)]
    store.commit(UnitOfWork(writes))
    log = tmp_path / "workers.log"
    worker_args = ["worker", str(model), "--db", durable_url, "--concurrency", "2", "--lease-seconds", "2"]
    engine = services.engine({"user": {"id": "storm"}}, idempotency_store=None)
    job_ids: list[str] = []

    def enqueue(numbers: range) -> None:
        for n in numbers:
            result = engine.run_command("apply", {"n": n}, entity_name="Account", instance_id=f"a{n}")
            assert result.success, result.error
            job_ids.append(result.result["jobId"])

    enqueue(range(0, 300))
    workers = [manifest(*worker_args, log=log) for _ in range(3)]
    procs.extend(workers)
    storm = threading.Thread(target=enqueue, args=(range(300, jobs),))
    storm.start()
    # Kill a worker each time another 300 jobs are done: it is then busy, with items in hand.
    for kill in range(5):
        wait_until(lambda k=kill: done(store) >= 300 * (k + 1), 120, f"{300 * (kill + 1)} jobs done")
        victim = workers[kill % 3]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        workers[kill % 3] = manifest(*worker_args, log=log)
        procs.append(workers[kill % 3])
    storm.join(timeout=120)
    assert len(job_ids) == jobs

    def finished() -> bool:
        counts = store.work_counts().get("job", {})
        return counts.get("done", 0) + counts.get("failed", 0) + counts.get("dead", 0) == jobs

    wait_until(finished, 240, f"{jobs} jobs to finish ({store.work_counts()})")
    counts = store.work_counts()["job"]
    assert (counts["done"], counts["failed"], counts["dead"]) == (jobs, 0, 0), counts
    rows = store.scan("Account")
    assert sorted(r["applied"] for r in rows) == [1] * accounts  # no command applied twice
    events = outbox_events(store)
    assert sum(1 for e in events if e["name"] == "Applied") == jobs
    completed = [e["payload"]["jobId"] for e in events if e["name"] == "applyCompleted"]
    assert sorted(completed) == sorted(job_ids)  # one completion event per job
    taken_over = [i for i in store.list_work(kind="job", limit=jobs) if i.attempts > 1]
    assert taken_over, "no kill landed on a job in hand: the test did not test a takeover"
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        assert w.wait(timeout=30) == 0  # graceful: finishes what it holds, exits 0
    store.close()


def test_four_workers_fire_each_due_time_once(
    durable_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    model = write_model(tmp_path, "ticks", TICKS)
    log = tmp_path / "workers.log"
    args = ["worker", str(model), "--db", durable_url, "--only", "schedules", "--concurrency", "2"]
    procs.extend(manifest(*args, log=log) for _ in range(4))
    time.sleep(30)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        # what a worker that failed said (its one error line may be far above the INFO tail)
        said = [line for line in log.read_text().splitlines() if " INFO " not in line]
        assert p.wait(timeout=30) == 0, "\n".join(said[-40:]) or log.read_text()[-2000:]
    store = open_store(durable_url)
    items = store.list_work(kind="schedule", limit=1000)
    dues = sorted(round(i.due_at) for i in items)
    assert len(dues) >= 25, f"only {len(dues)} firings in 30 s"
    assert dues == list(range(dues[0], dues[0] + len(dues))), "a due time was skipped or fired twice"
    assert all(i.status == "done" for i in items)
    ticked = [e["correlationId"] for e in outbox_events(store) if e["name"] == "Ticked"]
    assert sorted(ticked) == sorted(i.id for i in items)  # each firing ran its command once
    store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(model: Path, db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    server = manifest("serve", str(model), "--db", db, "--port", str(port), "--trust-headers", log=log)

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return server.poll() is not None

    wait_until(up, 60, "the server to start")
    assert server.poll() is None, log.read_text()[-2000:]
    return server


def test_approval_survives_a_server_restart_and_runs_once(
    durable_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    model = write_model(tmp_path, "po", APPROVAL)
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    clerk = {"X-User-Id": "c1", "X-User-Role": "clerk"}
    manager = {"X-User-Id": "m1", "X-User-Role": "manager"}
    server = _serve(model, durable_url, port, log)
    procs.append(server)
    assert httpx.post(f"{base}/PurchaseOrder", json={"id": "po1"}, headers=clerk).status_code == 201
    refused = httpx.post(f"{base}/PurchaseOrder/po1/commands/submit", json={}, headers=clerk)
    assert refused.status_code == 409
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    server = _serve(model, durable_url, port, log)
    procs.append(server)
    pending = httpx.get(f"{base}/approvals/PurchaseOrder/po1", headers=clerk).json()["items"]
    assert [r["pendingStages"] for r in pending] == [["manager"]]
    url = f"{base}/approvals/PurchaseOrder/po1/submitApproval/stages/manager/approve"
    approved = httpx.post(url, headers=manager)
    assert approved.status_code == 200 and approved.json()["result"]["success"], approved.text
    assert httpx.post(url, headers=manager).status_code == 404
    row = httpx.get(f"{base}/PurchaseOrder/po1", headers=clerk).json()
    assert (row["status"], row["submissions"]) == ("submitted", 1)
    store = open_store(durable_url)
    names = [e["name"] for e in outbox_events(store)]
    assert names.count("OrderSubmitted") == 1 and names.count("ApprovalGranted") == 1
    store.close()


def test_four_processes_share_one_rate_limit(durable_url: str, tmp_path: Path) -> None:
    open_store(durable_url).close()  # create the tables before the race
    start_at = time.time() + 3.0
    cmd = [sys.executable, str(HERE / "durable_models.py"), "ratelimit", "--db", durable_url, "--count", "40"]
    cmd += ["--start-at", str(start_at)]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in runs]
    for p, (_out, err) in zip(runs, outputs, strict=True):
        assert p.returncode == 0 and not err.strip(), err.decode()[-2000:]
    admitted = sum(int(out.split()[0]) for out, _ in outputs)
    denied = sum(int(out.split()[1]) for out, _ in outputs)
    assert (admitted, denied) == (50, 110)
    assert LIMITED  # the model the processes ran
    store = open_store(durable_url)
    assert store.prune_rate_limits(time.time() * 1000 + 61_000) == 1  # the idle window goes
    store.close()
