"""The worker loop: a registered kind runs by its handler; on stop, the item in hand finishes
and the items claimed but not started go back uncounted; a handler that raises is retried."""

from __future__ import annotations

import threading
import time
from typing import Any

from manifest_lang import Worker
from manifest_lang.stores.work import DONE, WorkItem, WorkOutcome
from manifest_lang.workflows.worker import ItemRun, WorkKind, crash_backoff

MODEL = "entity Note {\n  property required id: string\n}\n"


def test_stop_finishes_the_item_in_hand_and_gives_back_the_rest(store: Any) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(run: ItemRun) -> WorkOutcome:
        started.set()
        release.wait(10)
        return WorkOutcome(DONE, result={"n": run.item.payload["n"]})

    worker = Worker(MODEL, store, kinds=[WorkKind("slow", slow, "test")], batch_size=4, poll_interval=0.05)
    store.enqueue_work([WorkItem(f"i{n}", "slow", {"n": n}) for n in range(4)], now=time.time())
    thread = worker.start_in_thread()
    assert started.wait(10)
    worker.stop()
    release.set()
    thread.join(10)
    items = {i.id: i for i in store.list_work(kind="slow")}
    done = [i for i in items.values() if i.status == "done"]
    assert len(done) == 1 and done[0].result == {"n": done[0].payload["n"]}
    rest = [i for i in items.values() if i.status != "done"]
    assert [(i.status, i.attempts, i.lease_owner) for i in rest] == [("pending", 0, None)] * 3


def test_a_handler_that_raises_is_retried_then_dead(store: Any) -> None:
    calls: list[int] = []

    def broken(run: ItemRun) -> WorkOutcome:
        calls.append(run.item.attempts)
        raise RuntimeError("boom")

    now = [1000.0]
    worker = Worker(MODEL, store, kinds=[WorkKind("broken", broken, "test")], clock=lambda: now[0])
    store.enqueue_work([WorkItem("b", "broken", {}, due_at=0, max_attempts=3)], now=now[0])
    for attempt in (1, 2, 3):
        [report] = worker.run_once()
        assert report.attempt == attempt and "RuntimeError: boom" in (report.error or "")
        now[0] += crash_backoff(attempt)
    assert report.status == "dead" and calls == [1, 2, 3]
    assert store.get_work("b").status == "dead"
