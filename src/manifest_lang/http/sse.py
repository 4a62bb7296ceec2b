"""Live events as Server-Sent Events: engine listeners fan out to per-client bounded queues.

Engines run in worker threads, so ``EventHub.publish`` hands each event to the event loop with
``call_soon_threadsafe``; the loop thread then offers it to every matching subscriber. A slow
client never blocks a command nor grows memory: its queue is bounded, the oldest event is
dropped, and the client is told how many it missed (an ``event: lagged`` message).
Every event is tagged with the tenant of the request that produced it; a subscriber only
receives its own tenant's events.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .problems import json_default

DEFAULT_QUEUE_SIZE = 1000
DEFAULT_HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class EventFilter:
    tenant: Any = None
    correlation_id: str | None = None
    entity: str | None = None

    def matches(self, event: Mapping[str, Any], tenant: Any) -> bool:
        if tenant != self.tenant:
            return False
        if self.correlation_id is not None and event.get("correlationId") != self.correlation_id:
            return False
        if self.entity is not None:
            subject = event.get("subject")
            subject_entity = subject.get("entity") if isinstance(subject, Mapping) else None
            payload = event.get("payload")
            # OverrideApplied carries no subject; its payload names the entity.
            if subject_entity is None and isinstance(payload, Mapping):
                subject_entity = payload.get("entityName")
            if subject_entity != self.entity:
                return False
        return True


@dataclass(eq=False, slots=True)
class Subscription:
    filter: EventFilter
    queue: asyncio.Queue[tuple[int, dict[str, Any]]]
    dropped: int = 0

    def offer(self, seq: int, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait((seq, event))


@dataclass(eq=False)
class EventHub:
    """Fan-out point between engine listeners (any thread) and SSE clients (the loop)."""

    queue_size: int = DEFAULT_QUEUE_SIZE
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    _subscribers: set[Subscription] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def listening(self) -> bool:
        """Whether any stream is open (else an event need not even be turned into a dict)."""
        return bool(self._subscribers)

    def publish(self, event: Mapping[str, Any], tenant: Any = None) -> None:
        """Thread-safe; a no-op while nobody listens (the common case costs one length check)."""
        loop = self._loop
        if not self._subscribers or loop is None or loop.is_closed():
            return
        with self._lock:
            seq = next(self._seq)
        try:
            loop.call_soon_threadsafe(self._fan_out, seq, dict(event), tenant)
        except RuntimeError:  # the loop closed between the check and the call (shutdown)
            pass

    def _fan_out(self, seq: int, event: dict[str, Any], tenant: Any) -> None:
        for sub in tuple(self._subscribers):
            if sub.filter.matches(event, tenant):
                sub.offer(seq, event)

    def subscribe(self, event_filter: EventFilter) -> Subscription:
        sub = Subscription(event_filter, asyncio.Queue(maxsize=self.queue_size))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    async def stream(self, sub: Subscription) -> AsyncIterator[bytes]:
        """SSE frames for one client until it disconnects (the server then cancels us)."""
        try:
            yield b"retry: 3000\n: connected\n\n"
            while True:
                try:
                    seq, event = await asyncio.wait_for(sub.queue.get(), timeout=self.heartbeat_seconds)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if sub.dropped:
                    yield _frame(None, "lagged", {"dropped": sub.dropped})
                    sub.dropped = 0
                yield _frame(seq, str(event.get("name") or "message"), event)
        finally:
            self.unsubscribe(sub)


def _frame(seq: int | None, name: str, data: Any) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    # Event names are identifiers; strip line breaks anyway so a name can never split a frame.
    name = name.replace("\n", " ").replace("\r", " ")
    return f"{head}event: {name}\ndata: ".encode() + orjson.dumps(data, default=json_default) + b"\n\n"
