"""The outbox relay: claim pending rows, publish them in per-instance order, record the outcome.

Delivery is at least once: a row is marked published only after the broker acknowledged it, so a
relay killed between the two publishes it again on restart; consumers (and JetStream, through
``Nats-Msg-Id``) drop the duplicate by ``entryId``.

Ordering: one relay is active per store at a time (a lease row, renewed every third of its lifetime), rows are
claimed by status in ``seq`` order, and the rows of one instance are published one after the other,
stopping at the first failure. A failed row backs off exponentially; while it waits, the claim
query holds back every later row of the same instance, so event k+1 of an instance is never
published before event k. After ``max_attempts`` a row is dead-lettered (status ``dead``) and the
instance's later rows flow again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

from ..errors import StoreError
from .types import OutboxRow, OutboxSource

log = logging.getLogger("manifest_lang.outbox")

#: seq -> None (acknowledged) or the error; rows that were not attempted are absent.
PublishOutcome = dict[int, BaseException | None]


class DeliveryError(Exception):
    """A message's own failure, as a publisher reports it in its outcome. ``permanent``: the
    receiver will never take it (dead-letter now); ``retry_after``: seconds the receiver asked
    to wait (used when longer than the backoff). Any other exception is a plain retryable failure."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Publisher(Protocol):
    """A broker client. ``publish`` gets one list per instance, each in ``seq`` order; it must
    publish a list's rows one after the other and stop that list at its first failure. When the
    broker cannot be reached at all it raises ``StoreUnavailableError`` instead: the rows keep
    their attempts (only a message's own failures lead to the dead letter)."""

    def publish(self, groups: Sequence[Sequence[OutboxRow]]) -> PublishOutcome: ...

    def close(self) -> None: ...


@dataclass(slots=True, frozen=True)
class Backoff:
    """Delay before retry n (1-based): ``base * factor**(n-1)``, capped at ``max_seconds``."""

    base_seconds: float = 0.5
    factor: float = 2.0
    max_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_seconds, self.base_seconds * self.factor ** max(0, attempt - 1)))


@dataclass(slots=True)
class RelayStats:
    """What one or more ``run_once`` calls did (``pending`` is the backlog after the last)."""

    batches: int = 0
    claimed: int = 0
    published: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # claimed but held back behind an earlier failure of the same instance
    pending: int = 0
    lease_held: bool = True

    def add(self, other: RelayStats) -> None:
        for f in fields(self):
            if f.name in {"pending", "lease_held"}:
                setattr(self, f.name, getattr(other, f.name))
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, int | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def line(self) -> str:
        return (
            f"published={self.published} failed={self.failed} dead={self.dead} "
            f"pending={self.pending} batches={self.batches}"
        )


def group_by_instance(rows: Sequence[OutboxRow]) -> list[list[OutboxRow]]:
    """Rows split per instance, each list in ``seq`` order, lists in order of first appearance."""
    groups: dict[tuple[str, str], list[OutboxRow]] = {}
    for row in sorted(rows, key=lambda r: r.seq):
        groups.setdefault(row.subject_key, []).append(row)
    return list(groups.values())


@dataclass
class Relay:
    store: OutboxSource
    publisher: Publisher
    batch_size: int = 100
    max_attempts: int = 10
    backoff: Backoff = field(default_factory=Backoff)
    lease_ttl_seconds: float = 30.0
    poll_interval_seconds: float = 0.5
    clock: Callable[[], float] = time.time
    holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    #: when to renew the lease next (a third of its lifetime after taking it: an idle relay
    #: then writes to the store every ttl/3 seconds, not every poll)
    _renew_at: float = field(default=0.0, init=False, repr=False)

    def run_once(self) -> RelayStats:
        """Publish at most one batch. Returns ``lease_held=False`` if another relay is active."""
        stats = RelayStats(batches=1)
        now = self.clock()
        if now >= self._renew_at:
            if not self.store.acquire_relay_lease(self.holder, self.lease_ttl_seconds, now=now):
                stats.lease_held, stats.batches = False, 0
                return stats
            self._renew_at = now + self.lease_ttl_seconds / 3
        rows = self.store.claim_outbox(self.batch_size, now=now)
        stats.claimed = len(rows)
        if rows:
            outcome = self.publisher.publish(group_by_instance(rows))
            self._record(rows, outcome, stats)
        stats.pending = self.store.pending_count()
        return stats

    def _record(self, rows: list[OutboxRow], outcome: PublishOutcome, stats: RelayStats) -> None:
        done = [r.seq for r in rows if r.seq in outcome and outcome[r.seq] is None]
        self.store.mark_published(done, now=self.clock())
        stats.published = len(done)
        for row in rows:
            if row.seq not in outcome:
                stats.deferred += 1
                continue
            error = outcome[row.seq]
            if error is None:
                continue
            attempt = row.attempts + 1
            dead = attempt >= self.max_attempts or bool(getattr(error, "permanent", False))
            retry_at = self.clock() + self._delay(attempt, error)
            message = f"{type(error).__name__}: {error}"
            self.store.mark_failed(row.seq, message, retry_at=retry_at, dead=dead)
            stats.dead += dead
            stats.failed += not dead
            log.warning(
                "outbox entry %s (%s) failed attempt %d: %s", row.entry_id, row.name, attempt, message
            )

    def _delay(self, attempt: int, error: BaseException) -> float:
        delay = self.backoff.delay(attempt)
        asked = getattr(error, "retry_after", None)
        if isinstance(asked, int | float) and asked > delay:
            delay = min(float(asked), self.backoff.max_seconds)
        return delay

    def run_forever(
        self, stop: threading.Event, on_batch: Callable[[RelayStats], None] | None = None
    ) -> RelayStats:
        """Loop until ``stop`` is set; sleeps when idle or when another relay holds the lease.
        While the store or the broker is unreachable it keeps trying, backing off exponentially
        (an outage is nobody's message's fault: it costs no row an attempt). Returns the totals."""
        totals = RelayStats()
        outage = 0
        try:
            while not stop.is_set():
                try:
                    stats = self.run_once()
                except StoreError as exc:
                    outage += 1
                    log.warning("outbox relay: %s; retrying (outage %d)", exc, outage)
                    stop.wait(self.backoff.delay(outage))
                    continue
                outage = 0
                totals.add(stats)
                if on_batch is not None and (stats.claimed or not stats.lease_held):
                    on_batch(stats)
                if stats.claimed < self.batch_size or stats.published == 0:
                    stop.wait(self.poll_interval_seconds)
        finally:
            self.release()
        return totals

    def release(self) -> None:
        """Give up the lease now (another relay may start at once); it also expires by itself."""
        self._renew_at = 0.0
        try:
            self.store.release_relay_lease(self.holder)
        except StoreError:
            pass  # unreachable store: the lease runs out on its own
