"""What the relay needs from a store that keeps a transactional outbox.

The outbox rows are written by ``Store.commit`` in the command's own transaction. The relay then
claims them *by status* (never "rows with seq > the last one I saw": a sequence number is taken
before commit, so a later number can become visible before an earlier one and would be skipped),
publishes them, and marks them published, failed (with a backoff) or dead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

PENDING = "pending"
PUBLISHED = "published"
DEAD = "dead"


@dataclass(slots=True, frozen=True)
class OutboxRow:
    """One claimed outbox entry, ready to publish."""

    seq: int
    entry_id: str
    entity: str
    instance_id: str
    channel: str
    name: str
    event: dict[str, Any]
    enqueued_at: Any
    attempts: int

    @property
    def subject_key(self) -> tuple[str, str]:
        """The ordering key: events of one instance are published in ``seq`` order."""
        return (self.entity, self.instance_id)

    def message(self) -> dict[str, Any]:
        """The published payload: the same envelope the reference's deliverers send, plus the
        W3C ``traceparent`` of the request that wrote it when there was one (tracecontext.py)."""
        traceparent = self.event.get("traceparent") if isinstance(self.event, dict) else None
        if traceparent is None:
            return {"entryId": self.entry_id, "enqueuedAt": self.enqueued_at, "event": self.event}
        event = {k: v for k, v in self.event.items() if k != "traceparent"}
        return {
            "entryId": self.entry_id,
            "enqueuedAt": self.enqueued_at,
            "event": event,
            "traceparent": traceparent,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "entryId": self.entry_id,
            "entity": self.entity,
            "instanceId": self.instance_id,
            "channel": self.channel,
            "name": self.name,
            "attempts": self.attempts,
            "enqueuedAt": self.enqueued_at,
            "event": self.event,
        }


@dataclass(slots=True, frozen=True)
class OutboxCounts:
    """Rows by state. ``failed`` counts pending rows that have failed at least once."""

    pending: int = 0
    published: int = 0
    failed: int = 0
    dead: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "pending": self.pending,
            "published": self.published,
            "failed": self.failed,
            "dead": self.dead,
        }


@runtime_checkable
class OutboxSource(Protocol):
    """The outbox half of a durable store (SQLite, PostgreSQL, and the memory store)."""

    def claim_outbox(self, limit: int, *, now: float) -> list[OutboxRow]:
        """Pending rows in ``seq`` order, leaving out every instance whose earliest pending row
        is still backing off (so an instance's later events wait for its earlier ones)."""
        ...

    def mark_published(self, seqs: Sequence[int], *, now: float) -> None: ...

    def mark_failed(self, seq: int, error: str, *, retry_at: float, dead: bool) -> None: ...

    def outbox_counts(self) -> OutboxCounts: ...

    def pending_count(self) -> int:
        """Rows still to publish (cheap: the relay asks after every batch)."""
        ...

    def acquire_relay_lease(self, holder: str, ttl_seconds: float, *, now: float) -> bool:
        """Take or renew the single active-relay lease; False while another holder has it."""
        ...

    def release_relay_lease(self, holder: str) -> None: ...


def subject_of(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(entity, instance id, channel, event name) of an outbox entry written by the engine."""
    event = entry.get("event") or {}
    subject = event.get("subject") or {}
    entity = subject.get("entity") or ""
    instance_id = subject.get("id")
    return (
        str(entity),
        "" if instance_id is None else str(instance_id),
        str(event.get("channel") or ""),
        str(event.get("name") or ""),
    )
