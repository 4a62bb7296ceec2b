"""The engine's in-process event log: indexed by correlation id, with listeners, optionally bounded.

``limit`` (the engine's ``event_log_limit`` option): ``None`` keeps every event (the reference's
behaviour), ``0`` keeps none (listeners are still called), ``N`` keeps the last N, the oldest
being evicted first, from the log and from its correlation index together.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .results import EmittedEvent

log = logging.getLogger("manifest_lang.runtime")

# A correlation chain is compacted once this many of its leading events were evicted and they are
# at least half of it: eviction stays O(1) amortised without a deque per correlation id.
_COMPACT_AT = 32


class EventLog:
    def __init__(
        self, limit: Any = None
    ) -> None:  # Any: checked here (a compiled build would raise TypeError)
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ValueError(f"event_log_limit must be None or an integer >= 0, not {limit!r}")
        self.limit: int | None = limit
        self._events: list[EmittedEvent] = []
        # Bounded logs keep their events here instead (``_events`` stays empty).
        self._ring: deque[EmittedEvent] | None = deque() if limit else None
        # correlation id -> its event, or a list once it has several: most ids have one event, and a
        # list per id would be one more object for the garbage collector to walk, per command
        self._by_correlation: dict[str, Any] = {}
        # correlation id -> how many leading events of its list were evicted (bounded logs only)
        self._heads: dict[str, int] = {}
        self._listeners: list[Callable[[EmittedEvent], Any]] = []

    def publish(self, events: Iterable[EmittedEvent]) -> None:
        """Append committed events and notify listeners (listener errors are logged, not raised)."""
        if self.limit is not None:
            self._publish_bounded(events)
            return
        listeners = tuple(self._listeners)
        for event in events:  # self's containers each time: a listener may clear the log
            self._events.append(event)
            _index(self._by_correlation, event)
            for listener in listeners:
                _notify(listener, event)

    def _publish_bounded(self, events: Iterable[EmittedEvent]) -> None:
        listeners = tuple(self._listeners)
        limit = self.limit or 0
        for event in events:
            ring = self._ring
            if ring is not None:  # None: a limit of 0 keeps nothing
                if len(ring) >= limit:
                    self._evict(ring.popleft())
                ring.append(event)
                _index(self._by_correlation, event)
            for listener in listeners:
                _notify(listener, event)

    def _evict(self, event: EmittedEvent) -> None:
        """Drop the oldest event from the index: it is the first live event of its chain."""
        cid = event.correlation_id
        if cid is None:
            return
        chain = self._by_correlation.get(cid)
        if type(chain) is not list:
            del self._by_correlation[cid]
            return
        head = self._heads.get(cid, 0)
        chain[head] = None  # the slot stays until compaction, the event goes now
        head += 1
        if head >= len(chain):
            del self._by_correlation[cid]
            self._heads.pop(cid, None)
        elif head >= _COMPACT_AT and 2 * head >= len(chain):
            del chain[:head]
            self._heads.pop(cid, None)
        else:
            self._heads[cid] = head

    def all(self) -> list[EmittedEvent]:
        ring = self._ring
        return list(ring) if ring is not None else list(self._events)

    def __len__(self) -> int:
        ring = self._ring
        return len(ring) if ring is not None else len(self._events)

    def for_correlation(self, correlation_id: str) -> list[EmittedEvent]:
        chain = self._by_correlation.get(correlation_id)
        if chain is None:
            return []
        if type(chain) is not list:
            return [chain]
        head = self._heads.get(correlation_id, 0)
        return chain[head:] if head else list(chain)

    def clear(self) -> None:
        # New containers rather than ``clear()``: the old ones' memory goes back at once, and a
        # list or dict that once held a million entries does not keep its allocation.
        self._events = []
        if self._ring is not None:
            self._ring = deque()
        self._by_correlation = {}
        self._heads = {}

    def subscribe(self, listener: Callable[[EmittedEvent], Any]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe


def _index(by_correlation: dict[str, Any], event: EmittedEvent) -> None:
    cid = event.correlation_id
    if cid is not None:
        chain = by_correlation.get(cid)
        if chain is None:
            by_correlation[cid] = event
        elif type(chain) is list:
            chain.append(event)
        else:
            by_correlation[cid] = [chain, event]


def _notify(listener: Callable[[EmittedEvent], Any], event: EmittedEvent) -> None:
    try:
        listener(event)
    except Exception:  # one bad listener must not break a committed command
        log.exception("event listener failed for %s", event.name)
