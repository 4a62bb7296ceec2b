"""``Worker``: runs the durable work items of one store, by kind, through a registry of handlers.

A worker claims due items with a lease (``stores/work.py``), hands each to the handler of its
kind, and commits the handler's ``WorkOutcome`` (new status, outbox events, follow-up items) in
one transaction fenced by the lease. Any number of workers, in any number of processes, may run
on one database: each item is taken by one of them, and the items of a worker that died are taken
over when their lease expires (every worker reaps expired leases now and then).

Adding a kind of work item
--------------------------
1. Write a handler: a function ``(run: ItemRun) -> WorkOutcome``. ``run.item`` is the claimed
   ``WorkItem`` (its ``payload`` is yours to define, JSON only); ``run.engine(context)`` gives a
   ``RuntimeEngine`` on the worker's model and store whose commands use the worker's idempotency
   store. A handler that runs a command passes ``idempotency_key=item_key(run.item)`` (or a key
   derived from it), so a run repeated after a crash applies once; better, it takes its engine
   from ``item_engine(run, context, on_success)`` (``workflows/item_engine.py``), which also
   commits the item's finish in the command's own transaction. Return
   ``WorkOutcome("done", result=...)``, ``"failed"`` (for good), ``"pending"`` with ``retry_at``
   (again later) or ``"dead"``; an exception counts as a failed attempt, retried with
   ``crash_backoff`` until the item's ``max_attempts``, then dead.
2. Register it, in the module that defines the handler (``workflows/kinds.py``, which that
   module imports instead of this one): ``register_kind(WorkKind("saga_step", handler,
   group="sagas"))`` makes every worker run it once the module is imported (add it to the
   built-in imports below, or import it before building the worker; ``Worker(..., only=
   {"sagas"})`` selects groups), or ``worker.register(WorkKind(...))`` for one worker.
3. Create items in the same transaction as the command that causes them: put them in the
   ``UnitOfWork.work`` list, or ``store.enqueue_work([...])`` from outside a command. A
   ``dedupe_key`` makes an item unique (a schedule's due time, an approval's timeout).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..stores.work import DEAD, FINAL, PENDING, WorkItem, WorkOutcome

# The built-in kinds register themselves on import; they know only ``kinds``, never this module.
from . import approval_work, jobs, schedules  # noqa: F401
from .kinds import KINDS, ItemRun, WorkKind, register_kind

log = logging.getLogger("manifest_lang.worker")

#: how often a worker runs its tickers (schedules), in seconds
TICK_SECONDS = 0.2
#: how often a worker deletes the rate-limit windows no call is left in
PRUNE_SECONDS = 60.0


def registered_kinds() -> dict[str, WorkKind]:
    """Every kind registered so far, the built-in ones (jobs, schedules, approvals) included."""
    return dict(KINDS)


def crash_backoff(attempt: int) -> float:
    """Seconds before an attempt that raised runs again: 1, 2, 4, ... capped at one minute."""
    return float(min(60, 2 ** max(0, attempt - 1)))


@dataclass(slots=True)
class ItemReport:
    """What happened to one item in one attempt (``run_once`` returns these; each is logged)."""

    id: str
    kind: str
    attempt: int
    status: str
    error: str | None
    seconds: float
    #: seconds from the item's due time (or creation, if later) to its start
    wait: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "seconds": self.seconds,
            "wait": self.wait,
        }


@dataclass(slots=True)
class _Held:
    items: dict[str, WorkItem] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Worker:
    """Runs the work items of ``store`` for ``model`` until stopped.

    ``only``: the groups to run (``jobs``, ``schedules``, ``approvals``, or any a registered kind
    names); default all. ``concurrency``: items run at once (threads). ``batch_size``: items a
    thread claims in one transaction when it holds none (they run one after the other).
    ``lease_seconds``: how long an item stays taken without a heartbeat (the worker renews the
    leases of what it holds every third of that). ``poll_interval``: the longest wait between
    two claims when no wake-up arrives (PostgreSQL ``LISTEN/NOTIFY`` and in-process enqueues
    wake it earlier).
    ``engine_options`` go to every ``RuntimeEngine`` the handlers use; ``schedule_context`` is
    the context schedules run in (``{"tenantId": ..., "user": {...}}``, or per schedule name).
    """

    def __init__(
        self,
        model: Any,
        store: Any,
        *,
        concurrency: int = 1,
        batch_size: int = 4,
        only: Iterable[str] | None = None,
        lease_seconds: float = 30.0,
        poll_interval: float | None = None,
        engine_options: Mapping[str, Any] | None = None,
        schedule_context: Mapping[str, Any] | None = None,
        schedule_timezone: str | None = None,
        kinds: Iterable[WorkKind] | None = None,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        from .services import WorkServices

        self.services = WorkServices(model, store, engine_options)
        self.model = self.services.model
        self.store = store
        self.concurrency = max(1, int(concurrency))
        self.batch_size = max(1, int(batch_size))
        self.lease_seconds = float(lease_seconds)
        self.poll_interval = float(poll_interval) if poll_interval is not None else _default_poll(store)
        self.schedule_context = dict(schedule_context or {})
        self.schedule_timezone = schedule_timezone
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        available = list(kinds) if kinds is not None else list(registered_kinds().values())
        groups = set(only) if only is not None else None
        self.kinds: dict[str, WorkKind] = {
            k.kind: k for k in available if groups is None or k.group in groups
        }
        for kind in self.kinds.values():
            if kind.prepare is not None:
                kind.prepare(self)
        self._kind_names = sorted(self.kinds)
        self._queues: dict[str, deque[WorkItem]] = {}
        self._stop = threading.Event()
        self._held = _Held()
        self._last_reap = 0.0
        self._last_tick = 0.0
        #: per-ticker memory between ticks (schedules: the last due time each one settled)
        self.tick_state: dict[str, dict[str, Any]] = {}
        self._last_prune = 0.0
        self._tickers = list({k.ticker: None for k in self.kinds.values() if k.ticker is not None})
        self._reap_lock = threading.Lock()
        #: every report of this worker's lifetime is counted here (``run`` logs them)
        self.counts: dict[str, int] = {}

    # -- registry ----------------------------------------------------------------------------------
    def register(self, kind: WorkKind) -> None:
        self.kinds[kind.kind] = kind
        self._kind_names = sorted(self.kinds)
        if kind.ticker is not None and kind.ticker not in self._tickers:
            self._tickers.append(kind.ticker)

    def engine(self, context: dict[str, Any], **options: Any) -> Any:
        """A ``RuntimeEngine`` for one item (cheap: the model and the stores are shared)."""
        return self.services.engine(context, **options)

    # -- running -----------------------------------------------------------------------------------
    def run_once(self, *, limit: int | None = None) -> list[ItemReport]:
        """Run every item due now (up to ``limit``) in this thread, then return their reports.

        Schedules are ticked first, so a due firing is created and run in the same call.
        """
        self._tick(self.clock(), force=True)
        reports: list[ItemReport] = []
        owner = f"{self.name}/once"
        try:
            while limit is None or len(reports) < limit:
                report = self._claim_and_run(owner)
                if report is None:
                    break
                reports.append(report)
        finally:
            self._release_queued(owner)
        return reports

    def run(self, *, install_signals: bool = False) -> None:
        """Run until ``stop()`` (or SIGTERM/SIGINT with ``install_signals``): items in
        ``concurrency`` threads; on stop, each thread finishes the item it holds."""
        if install_signals:
            _install_signals(self)
        log.info(
            "worker %s started: kinds %s, concurrency %d, lease %.0fs",
            self.name,
            ",".join(sorted(self.kinds)) or "-",
            self.concurrency,
            self.lease_seconds,
        )
        threads = [
            threading.Thread(target=self._loop, args=(f"{self.name}/{i}",), name=f"manifest-worker-{i}")
            for i in range(self.concurrency)
        ]
        heartbeat = threading.Thread(target=self._heartbeat, name="manifest-worker-heartbeat", daemon=True)
        for t in threads:
            t.start()
        heartbeat.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        finally:
            self._stop.set()
            for t in threads:
                t.join()
        log.info("worker %s stopped: %s", self.name, self.counts)

    def start_in_thread(self) -> threading.Thread:
        """``run()`` in a daemon thread (``manifest serve --with-worker``); ``stop()`` ends it."""
        thread = threading.Thread(target=self.run, name="manifest-worker", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Ask the loops to stop after their current item (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _loop(self, owner: str) -> None:
        try:
            self._loop_until_stopped(owner)
        finally:
            self._release_queued(owner)

    def _loop_until_stopped(self, owner: str) -> None:
        while not self._stop.is_set():
            now = self.clock()
            try:
                self._tick(now)
                report = self._claim_and_run(owner)
            except Exception as exc:  # the store is down: say so and keep trying
                log.warning("worker %s: %s", owner, exc)
                self._stop.wait(min(5.0, self.poll_interval * 10))
                continue
            if report is None:
                self.store.wait_for_work(self._idle_wait())

    def _idle_wait(self) -> float:
        if self._tickers:
            return min(self.poll_interval, TICK_SECONDS)
        return self.poll_interval if self.kinds else 1.0

    def _tick(self, now: float, *, force: bool = False) -> None:
        """Reap expired leases (about once a second) and run the tickers (five times a second:
        a schedule's due time must not slip past between two ticks)."""
        if (not force and now - self._last_tick < TICK_SECONDS) or not self._reap_lock.acquire(
            blocking=False
        ):
            return
        try:
            self._last_tick = now
            if force or now - self._last_reap >= min(1.0, self.lease_seconds / 3):
                self._last_reap = now
                self.store.reap_work(now=now)
            if now - self._last_prune >= PRUNE_SECONDS:
                self._last_prune = now
                self.store.prune_rate_limits(now * 1000)  # windows are in the engine's ms
            for ticker in self._tickers:
                ticker(self, now)
        finally:
            self._reap_lock.release()

    def _claim_and_run(self, owner: str) -> ItemReport | None:
        """Run the next item this owner holds, claiming up to ``batch_size`` when it holds none
        (one claim transaction for several items; the heartbeat renews all of them)."""
        if not self.kinds:
            return None
        queue = self._queues.setdefault(owner, deque())
        if not queue:
            claimed = self.store.claim_work(
                owner,
                kinds=self._kind_names,
                limit=self.batch_size,
                lease_seconds=self.lease_seconds,
                now=self.clock(),
            )
            if not claimed:
                return None
            with self._held.lock:
                for it in claimed:
                    self._held.items[it.id] = it
            queue.extend(claimed)
        item = queue.popleft()
        try:
            return self._run_item(item, owner)
        finally:
            with self._held.lock:
                self._held.items.pop(item.id, None)

    def _release_queued(self, owner: str) -> None:
        """Give back the items claimed but not started (on stop): pending again, uncounted."""
        queue = self._queues.pop(owner, deque())
        for item in queue:
            try:
                self.store.release_work(item, owner)
            except Exception as exc:  # the lease expires by itself, and the item is taken over
                log.warning("worker %s: could not release %s: %s", owner, item.id, exc)
            with self._held.lock:
                self._held.items.pop(item.id, None)

    def _run_item(self, item: WorkItem, owner: str) -> ItemReport:
        start = self.clock()
        wait = max(0.0, start - max(item.due_at, item.created_at))
        kind = self.kinds[item.kind]
        try:
            outcome = kind.handler(ItemRun(item, self, start, owner))
        except Exception as exc:
            outcome = self._crashed(item, exc)
        end = self.clock()
        if not outcome.committed and not self.store.finish_work(item, owner, outcome, now=end):
            outcome = WorkOutcome("lost", error="the lease expired and another worker took the item")
        report = ItemReport(
            item.id, item.kind, item.attempts, outcome.status, outcome.error, end - start, wait
        )
        with self._held.lock:
            self.counts[report.status] = self.counts.get(report.status, 0) + 1
        level = logging.INFO if outcome.status in FINAL or outcome.status == PENDING else logging.WARNING
        log.log(
            level,
            "%s %s attempt %d: %s in %.1f ms%s",
            item.kind,
            item.id,
            item.attempts,
            outcome.status,
            report.seconds * 1000,
            f" ({outcome.error})" if outcome.error else "",
            extra={"manifest_work": report.to_dict()},
        )
        return report

    def _crashed(self, item: WorkItem, exc: BaseException) -> WorkOutcome:
        error = f"{type(exc).__name__}: {exc}"
        if item.attempts >= item.max_attempts:
            return WorkOutcome(DEAD, error=error)
        return WorkOutcome(PENDING, error=error, retry_at=self.clock() + crash_backoff(item.attempts))

    def _heartbeat(self) -> None:
        period = max(0.2, self.lease_seconds / 3)
        while not self._stop.wait(period):
            with self._held.lock:
                held = list(self._held.items.values())
            by_owner: dict[str, list[WorkItem]] = {}
            for it in held:
                by_owner.setdefault(it.lease_owner or "", []).append(it)
            for owner, items in by_owner.items():
                try:
                    self.store.extend_work_leases(items, owner, self.lease_seconds, now=self.clock())
                except Exception as exc:
                    log.warning("worker %s: lease renewal failed: %s", self.name, exc)


def _default_poll(store: Any) -> float:
    # PostgreSQL wakes workers with NOTIFY: the poll is only a safety net. SQLite cannot notify
    # another process, so a worker there polls often (a claim is one indexed query).
    from ..stores.memory import MemoryStore

    kind = type(store).__name__
    if isinstance(store, MemoryStore):
        return 1.0
    return 2.0 if kind == "PostgresStore" else 0.02


def _install_signals(worker: Worker) -> None:
    import signal

    def handler(signum: int, frame: Any) -> None:
        log.info("worker %s: signal %d, finishing the items in hand", worker.name, signum)
        worker.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


__all__ = [
    "ItemReport",
    "ItemRun",
    "Worker",
    "WorkKind",
    "crash_backoff",
    "register_kind",
    "registered_kinds",
]
