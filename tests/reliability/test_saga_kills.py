"""Durable sagas whose runners are SIGKILLed at random points, on SQLite and PostgreSQL.

Fifty catering sagas (``EventPrep``: reserve three items; for half of them the third
reservation is blocked by ``blockStockout``, so the first two are released again). Runner
processes (forked: the kill is a real SIGKILL of a real process, mid-transaction or not) resume
every unfinished saga from its row; the parent kills them at random moments, over and over, then
lets one finish. Afterwards:

* every saga is final: ``completed`` or ``compensated``, none stuck;
* every step and every compensation was applied exactly once (one event each in the outbox,
  written in the step's transaction; none for what did not happen);
* the stock of every item equals the reservations of the completed sagas (compensated sagas
  left nothing behind).

The second test runs three runners at once on the same sagas, killing and restarting them at
random: the version fence lets each step apply once whoever runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.loading import load_model
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.urls import open_store
from manifest_lang.workflows.durable_saga import SagaRunner
from manifest_lang.workflows.saga_api import start_saga

pytestmark = pytest.mark.slow

CATERING = Path(__file__).resolve().parents[2] / "examples" / "catering" / "catering.manifest"
CONTEXT = {"tenantId": "kitchen-1", "user": {"id": "chef-maria", "role": "chef"}}
ITEMS = ("item-flour", "item-butter", "item-cream")
STEPS = ("reserveFirst", "reserveSecond", "reserveThird")
SAGAS = 50
BLOCKED = 10**6  # more cream than there is: the third step is refused
FORK = multiprocessing.get_context("fork")


@contextmanager
def opened(url: str) -> Iterator[Any]:
    """A store for the parent, closed again before it forks the next runner: SQLite's state in
    a process must not be inherited by a child (its locks would not be), so this process never
    forks with a connection open."""
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


@cache
def model() -> Any:
    return load_model(CATERING)  # compiled in the parent: forked runners start at once


def quantities(k: int) -> tuple[int, int, int]:
    return (1 + k % 3, 2, BLOCKED if k % 2 else 1)


def step_inputs(k: int) -> dict[str, Any]:
    return {
        step: {"input": {"quantity": q, "eventId": f"evt-{k}"}, "instanceId": item}
        for step, item, q in zip(STEPS, ITEMS, quantities(k), strict=True)
    }


def prepare(url: str, sagas: int = SAGAS) -> list[str]:
    """The items, and ``sagas`` sagas recorded (none run yet)."""
    store = open_store(url)
    try:
        engine = RuntimeEngine(model(), dict(CONTEXT), store_provider=store)
        for item in ITEMS:
            row = {
                "id": item,
                "tenantId": "kitchen-1",
                "name": item,
                "quantityOnHand": 10**4,
                "quantityAvailable": 10**4,
            }
            assert engine.create_instance("InventoryItem", row) is not None
        return [new_saga(store, k) for k in range(sagas)]
    finally:
        store.close()


def new_saga(store: Any, k: int) -> str:
    runner = SagaRunner(model(), store)
    return start_saga(runner, "EventPrep", step_inputs(k), context=CONTEXT, saga_id=f"saga-{k:03d}")


def die_at(store: Any, transaction: int, phase: str) -> None:
    """SIGKILL this process at its ``transaction``-th commit: ``before`` it starts, ``inside``
    it (its statements ran, COMMIT did not), or ``after`` it committed."""
    commits = [0]
    commit, work = store.commit, store._commit_work

    def dying_work(*args: Any) -> None:
        work(*args)
        os.kill(os.getpid(), signal.SIGKILL)

    def counted(uow: Any) -> None:
        commits[0] += 1
        if commits[0] != transaction:
            return commit(uow)
        if phase == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        if phase == "inside":
            store._commit_work = dying_work
        commit(uow)
        os.kill(os.getpid(), signal.SIGKILL)

    store.commit = counted


def runner_process(
    url: str, seed: int, only: str | None, ready: Any, stop: Any, death: tuple[int, str] | None = None
) -> None:
    """Run ``only`` to its end; or, with ``only`` None, resume every unfinished saga in a random
    order, polling for new ones, until ``stop`` is set and none is left. ``ready`` is set once
    the store is open (the parent times its kill from there); ``death``: see ``die_at``."""
    rng = random.Random(seed)
    store = open_store(url)
    if death is not None:
        die_at(store, *death)
    runner = SagaRunner(model(), store)
    ready.set()
    if only is not None:
        runner.run(only)
    while only is None:
        pending = [
            s.state["sagaId"]
            for status in ("running", "compensating")
            for s in store.list_sagas(status=status, limit=1000)
        ]
        if not pending:
            if stop.is_set():
                break
            time.sleep(0.002)
            continue
        rng.shuffle(pending)
        for saga_id in pending:
            runner.run(saga_id, sleep=lambda s: time.sleep(min(s, 0.01)))
    store.close()
    os._exit(0)  # skip the interpreter's teardown (the parent's inherited state is not ours)


class Runner:
    """A forked runner process."""

    def __init__(
        self,
        url: str,
        seed: int,
        only: str | None = None,
        stop: Any = None,
        death: tuple[int, str] | None = None,
    ) -> None:
        self.ready = FORK.Event()
        self.stop = stop if stop is not None else FORK.Event()
        args = (url, seed, only, self.ready, self.stop, death)
        self.proc = FORK.Process(target=runner_process, args=args, daemon=True)
        self.proc.start()

    def wait_ready(self) -> None:
        assert self.ready.wait(30), "the runner did not start"


def spawn(url: str, seed: int, only: str | None = None, stop: Any = None) -> Any:
    return Runner(url, seed, only, stop).proc


def kill(proc: Any) -> bool:
    """SIGKILL it if it still runs; whether it did."""
    if not proc.is_alive():
        proc.join()
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return True


def check(url: str, ids: list[str]) -> Counter[str]:
    store = open_store(url)
    try:
        statuses: Counter[str] = Counter()
        events = [r.event for r in store.claim_outbox(10**6, now=1e15)]
        applied = Counter(
            (e["correlationId"], e["causationId"], e["name"])
            for e in events
            if e["name"] in ("InventoryReserved", "InventoryReservationReleased")
        )
        expected_reserved = Counter[str]()
        for k, saga_id in enumerate(ids):
            stored = store.load_saga(saga_id)
            assert stored is not None
            status = stored.state["status"]
            statuses[status] += 1
            blocked = quantities(k)[2] == BLOCKED
            assert status == ("compensated" if blocked else "completed"), (saga_id, stored.state)
            for step, item, q in zip(STEPS, ITEMS, quantities(k), strict=True):
                reserved = applied[(saga_id, f"EventPrep:{step}", "InventoryReserved")]
                released = applied[(saga_id, f"EventPrep:{step}:compensate", "InventoryReservationReleased")]
                ran = not (blocked and step == "reserveThird")
                assert reserved == (1 if ran else 0), (saga_id, step, reserved)
                assert released == (1 if blocked and ran else 0), (saga_id, step, released)
                if not blocked:
                    expected_reserved[item] += q
        for item in ITEMS:
            row = store.load("InventoryItem", item)
            assert row is not None
            assert row.row["quantityReserved"] == expected_reserved[item], item
            assert row.row["quantityAvailable"] == 10**4 - expected_reserved[item], item
        lifecycle = Counter(e["name"] for e in events if e["name"].startswith("Saga"))
        assert lifecycle["SagaStarted"] == len(ids)
        assert lifecycle["SagaCompleted"] + lifecycle["SagaFailed"] == len(ids)  # each once
        return statuses
    finally:
        store.close()


def progress(url: str, saga_id: str) -> tuple[int, bool]:
    """(the saga row's version, whether the saga is final)."""
    store = open_store(url)
    try:
        stored = store.load_saga(saga_id)
        assert stored is not None
        return stored.version, stored.state["status"] in ("completed", "compensated", "failed", "aborted")
    finally:
        store.close()


def test_a_runner_killed_50_times_leaves_no_saga_stuck_and_nothing_twice(durable_url: str) -> None:
    """Sagas one after the other, each one's runner SIGKILLed at a random point, then resumed by
    another runner; until 50 kills have landed in an unfinished saga. Half of the kills come
    from this process after a random delay; the other half the runner deals itself at a
    transaction drawn at random (before it, inside it after its statements, or after its
    COMMIT), which places them evenly over the steps and compensations even where a whole saga
    takes a millisecond."""
    ids = prepare(durable_url, 1)
    rng = random.Random(15)
    whole = Runner(durable_url, 0, ids[0])
    whole.wait_ready()
    started = time.monotonic()
    whole.proc.join(60)
    span = max(0.001, time.monotonic() - started)  # one saga's work here, store open to end
    killed_at: Counter[int] = Counter()  # the saga row's version when its runner died
    how: Counter[str] = Counter()  # timed by this process / before, inside, after a commit
    missed = 0
    deadline = time.monotonic() + 60
    while sum(killed_at.values()) < 50 and time.monotonic() < deadline:
        store = open_store(durable_url)
        saga_id = new_saga(store, len(ids))
        store.close()
        ids.append(saga_id)
        timed = rng.random() < 0.5
        death = None if timed else (rng.randint(1, 5), rng.choice(("before", "inside", "after")))
        runner = Runner(durable_url, rng.randrange(10**6), saga_id, death=death)
        runner.wait_ready()
        if timed:
            time.sleep(rng.uniform(0.0, span))
        else:
            runner.proc.join(60)
        killed = kill(runner.proc) or runner.proc.exitcode == -signal.SIGKILL
        at, final = progress(durable_url, saga_id)
        if killed and not final:
            killed_at[at] += 1
            how["timed" if death is None else death[1]] += 1
        else:
            missed += 1  # its work was done before the kill
        spawn(durable_url, 0, saga_id).join(60)
    kills = sum(killed_at.values())
    assert kills == 50
    statuses = check(durable_url, ids)
    assert not set(statuses) - {"completed", "compensated"}
    print(
        f"\nsaga kills: {kills} SIGKILLs {dict(how)} in {len(ids)} sagas ({missed} done before the kill; "
        f"row version at the kill, 1 = started, 4+ = compensating: {dict(sorted(killed_at.items()))}), "
        f"{dict(statuses)}, 0 stuck, 0 applied twice, 0 compensations missed"
    )


def test_three_competing_runners_killed_and_restarted(durable_url: str) -> None:
    """Three runners on the same sagas while new ones keep arriving; one of them, at random, is
    SIGKILLed every few milliseconds and replaced, until 50 kills have landed."""
    ids = prepare(durable_url, 10)
    rng = random.Random(16)
    stop = FORK.Event()
    runners = [Runner(durable_url, rng.randrange(10**6), stop=stop) for _ in range(3)]
    kills = 0
    deadline = time.monotonic() + 60
    while kills < 50 and time.monotonic() < deadline:
        with opened(durable_url) as store:
            ids += [new_saga(store, len(ids) + n) for n in range(2)]
        victim = rng.randrange(3)
        runners[victim].wait_ready()
        time.sleep(rng.uniform(0.0, 0.01))
        if kill(runners[victim].proc):
            kills += 1
        runners[victim] = Runner(durable_url, rng.randrange(10**6), stop=stop)
    stop.set()
    for runner in runners:
        runner.proc.join(60)
        assert runner.proc.exitcode == 0
    assert kills == 50
    statuses = check(durable_url, ids)
    assert not set(statuses) - {"completed", "compensated"}
    print(
        f"\n3 runners: {kills} SIGKILLs over {len(ids)} sagas, {dict(statuses)}, 0 stuck, "
        "0 applied twice, 0 compensations missed"
    )


LEASE = 0.5


def worker_process(url: str, ready: Any) -> None:
    """``manifest worker --only sagas`` in a forked process, with a short lease."""
    from manifest_lang.workflows.worker import Worker

    store = open_store(url)
    worker = Worker(model(), store, only={"sagas"}, lease_seconds=LEASE, poll_interval=0.01)
    ready.set()
    worker.run(install_signals=True)
    store.close()
    os._exit(0)


class WorkerProcess:
    def __init__(self, url: str) -> None:
        self.ready = FORK.Event()
        self.proc = FORK.Process(target=worker_process, args=(url, self.ready), daemon=True)
        self.proc.start()
        assert self.ready.wait(30), "the worker did not start"


def unfinished(url: str) -> int:
    """Sagas not final, plus saga work items not finished (a worker killed after the saga's end
    leaves its item to be reaped and closed by another)."""
    with opened(url) as store:
        sagas = sum(len(store.list_sagas(status=s, limit=10_000)) for s in ("running", "compensating"))
        items = store.work_counts().get("saga", {})
        return sagas + items.get("pending", 0) + items.get("running", 0)


def test_three_workers_with_leases_killed_and_replaced(durable_url: str) -> None:
    """The worker of issue 14 runs the sagas (items of kind ``saga``, leased): three of them,
    one SIGKILLed at random every few milliseconds and replaced, 50 times, while sagas keep
    arriving. A dead worker's saga waits for its lease to expire (0.5 s), then another worker
    resumes it from the row."""
    ids = prepare(durable_url, 0)
    rng = random.Random(17)
    workers = [WorkerProcess(durable_url) for _ in range(3)]
    kills = 0
    while kills < 50:
        with opened(durable_url) as store:
            runner = SagaRunner(model(), store)
            for k in range(len(ids), len(ids) + 2):
                saga_id = f"saga-{k:03d}"
                ids.append(
                    start_saga(
                        runner, "EventPrep", step_inputs(k), context=CONTEXT, saga_id=saga_id, grace_seconds=0
                    )
                )
        time.sleep(rng.uniform(0.0, 0.02))
        victim = rng.randrange(3)
        if kill(workers[victim].proc):
            kills += 1
        workers[victim] = WorkerProcess(durable_url)
    deadline = time.monotonic() + 60
    while unfinished(durable_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    for worker in workers:
        os.kill(worker.proc.pid, signal.SIGTERM)  # the worker finishes the item in hand
        worker.proc.join(30)
        assert worker.proc.exitcode == 0
    statuses = check(durable_url, ids)
    assert not set(statuses) - {"completed", "compensated"}
    store = open_store(durable_url)
    try:
        counts = store.work_counts().get("saga", {})
    finally:
        store.close()
    assert counts.get("done") == len(ids), counts  # every saga's item finished, none dead
    print(
        f"\n3 workers (lease {LEASE}s): {kills} SIGKILLs over {len(ids)} sagas, {dict(statuses)}, "
        "0 stuck, 0 applied twice, 0 compensations missed"
    )
