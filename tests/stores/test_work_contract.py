"""The durable-work contract (``stores/work.py``), on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

from manifest_lang.stores.base import NEW_ROW, RowWrite, UnitOfWork
from manifest_lang.stores.work import DEAD, DONE, PENDING, RUNNING, ApprovalWrite, WorkItem, WorkOutcome

NOW = 1_000_000.0


def item(id: str, due: float = NOW - 1, **kw: Any) -> WorkItem:
    return WorkItem(id=id, kind=kw.pop("kind", "job"), payload={"n": id}, due_at=due, **kw)


def test_items_commit_with_the_command_and_only_with_it(store: Any) -> None:
    store.commit(UnitOfWork([RowWrite("T", "t1", {"id": "t1"}, NEW_ROW)], work=[item("a")]))
    assert store.get_work("a").status == PENDING
    # A unit of work that conflicts applies none of its parts, its work item included.
    try:
        store.commit(UnitOfWork([RowWrite("T", "t1", {"id": "t1"}, NEW_ROW)], work=[item("b")]))
    except Exception:
        pass
    assert store.get_work("b") is None


def test_claim_takes_due_items_once_in_due_order(store: Any) -> None:
    store.enqueue_work([item("late", NOW - 1), item("early", NOW - 5), item("future", NOW + 60)], now=NOW)
    first = store.claim_work("w1", kinds=None, limit=5, lease_seconds=10, now=NOW)
    assert [i.id for i in first] == ["early", "late"]
    assert all(i.status == RUNNING and i.attempts == 1 and i.lease_owner == "w1" for i in first)
    assert store.claim_work("w2", kinds=None, limit=5, lease_seconds=10, now=NOW) == []
    assert [i.id for i in store.claim_work("w2", kinds=["job"], limit=5, lease_seconds=10, now=NOW + 61)] == [
        "future"
    ]


def test_claim_filters_by_kind(store: Any) -> None:
    store.enqueue_work([item("j"), item("s", kind="schedule")], now=NOW)
    assert [i.id for i in store.claim_work("w", kinds=["schedule"], limit=5, lease_seconds=5, now=NOW)] == [
        "s"
    ]


def test_dedupe_key_admits_one_item(store: Any) -> None:
    assert store.enqueue_work([item("a", dedupe_key="k"), item("b", dedupe_key="k")], now=NOW) == 1
    assert store.enqueue_work([item("c", dedupe_key="k")], now=NOW) == 0
    assert store.get_work("b") is None and store.get_work("c") is None


def test_finish_is_fenced_by_owner_and_attempt(store: Any) -> None:
    store.enqueue_work([item("a")], now=NOW)
    [a] = store.claim_work("w1", kinds=None, limit=1, lease_seconds=1, now=NOW)
    # w1 stalls; its lease expires and the reaper hands the item to w2.
    assert store.reap_work(now=NOW + 2) == 1
    [again] = store.claim_work("w2", kinds=None, limit=1, lease_seconds=10, now=NOW + 2)
    assert again.attempts == 2 and again.last_error and "lease expired" in again.last_error
    event = {"entryId": "e-a", "event": {"name": "Done", "channel": "c", "payload": {}}, "enqueuedAt": 1}
    assert store.finish_work(a, "w1", WorkOutcome(DONE, outbox=[event]), now=NOW + 3) is False
    assert store.outbox_counts().pending == 0  # the stale finish committed nothing
    assert store.finish_work(again, "w2", WorkOutcome(DONE, result={"ok": 1}, outbox=[event]), now=NOW + 3)
    done = store.get_work("a")
    assert (done.status, done.result, done.lease_owner) == (DONE, {"ok": 1}, None)
    assert store.outbox_counts().pending == 1


def test_retry_later_then_dead_after_max_attempts(store: Any) -> None:
    store.enqueue_work([item("a", max_attempts=2)], now=NOW)
    [a] = store.claim_work("w", kinds=None, limit=1, lease_seconds=5, now=NOW)
    assert store.finish_work(a, "w", WorkOutcome(PENDING, error="boom", retry_at=NOW + 10), now=NOW)
    assert store.claim_work("w", kinds=None, limit=1, lease_seconds=5, now=NOW + 5) == []
    [a2] = store.claim_work("w", kinds=None, limit=1, lease_seconds=5, now=NOW + 10)
    assert a2.attempts == 2 and a2.last_error == "boom"
    # The worker dies holding its last attempt: the reaper dead-letters it.
    assert store.reap_work(now=NOW + 20) == 1
    assert store.get_work("a").status == DEAD
    assert store.work_counts()["job"][DEAD] == 1
    assert store.requeue_dead_work() == 1
    assert store.get_work("a").status == PENDING


def test_release_gives_the_item_back_uncounted(store: Any) -> None:
    store.enqueue_work([item("a")], now=NOW)
    [a] = store.claim_work("w", kinds=None, limit=1, lease_seconds=5, now=NOW)
    assert store.release_work(a, "w")
    [b] = store.claim_work("w", kinds=None, limit=1, lease_seconds=5, now=NOW)
    assert b.attempts == 1


def test_lease_renewal_keeps_the_item(store: Any) -> None:
    store.enqueue_work([item("a")], now=NOW)
    [a] = store.claim_work("w", kinds=None, limit=1, lease_seconds=5, now=NOW)
    assert store.extend_work_leases([a], "w", 5, now=NOW + 4) == 1
    assert store.reap_work(now=NOW + 6) == 0
    assert store.reap_work(now=NOW + 10) == 1


def test_schedule_advances_once_per_due_time(store: Any) -> None:
    fire = lambda due: item(f"s:{due}", due, kind="schedule", dedupe_key=f"s:{due}")  # noqa: E731
    assert store.advance_schedule("s", 10.0, fire(10.0), now=NOW) is False  # first sight: no firing
    assert store.advance_schedule("s", 20.0, fire(20.0), now=NOW) is True
    assert store.advance_schedule("s", 20.0, fire(20.0), now=NOW) is False
    assert store.advance_schedule("s", 15.0, fire(15.0), now=NOW) is False
    assert store.schedule_state() == {"s": 20.0}
    assert [i.id for i in store.list_work(kind="schedule")] == ["s:20.0"]


def test_concurrent_claims_never_share_an_item(store: Any) -> None:
    store.enqueue_work([item(f"i{n}") for n in range(60)], now=NOW)
    taken: list[str] = []
    lock = threading.Lock()

    def claim(owner: str) -> None:
        while True:
            got = store.claim_work(owner, kinds=None, limit=3, lease_seconds=30, now=NOW)
            if not got:
                return
            with lock:
                taken.extend(i.id for i in got)

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(f"i{n}" for n in range(60))


def test_approval_rows_and_rate_windows(store: Any) -> None:
    request = {"key": "PO:1:a", "entity": "PO", "instanceId": "1", "approval": "a", "status": "pending"}
    store.approval_write([ApprovalWrite("PO:1:a", request)], now=NOW)
    store.commit(
        UnitOfWork(
            [RowWrite("T", "x", {"id": "x"}, NEW_ROW)],
            approvals=[ApprovalWrite("PO:1:a", {**request, "status": "approved"})],
        )
    )
    assert store.approval_load("PO:1:a")["status"] == "approved"
    assert [r["key"] for r in store.approval_list(entity="PO", instance_id="1")] == ["PO:1:a"]
    assert store.approval_list(entity="PO", instance_id="1", status="pending") == []
    hits = [store.rate_limit_hit("k", 1000.0 + n, 60_000, 3) for n in range(4)]
    assert hits[:3] == [None, None, None] and hits[3] == 59_997.0
    assert store.prune_rate_limits(1000.0 + 60_000) == 0  # the newest call is still in the window
    assert store.prune_rate_limits(1003.0 + 60_000) == 1


def test_wait_for_work_wakes_on_enqueue(store: Any) -> None:
    store.wait_for_work(0.01)  # starts the listener where there is one
    time.sleep(0.2)
    woke: list[bool] = []
    t = threading.Thread(target=lambda: woke.append(store.wait_for_work(10.0)))
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    store.enqueue_work([item("a")], now=NOW)
    t.join()
    assert woke == [True] and time.monotonic() - started < 2.0
