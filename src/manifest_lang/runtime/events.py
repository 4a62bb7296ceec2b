"""The engine's in-process event log: append-only, indexed by correlation id, with listeners."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .results import EmittedEvent

log = logging.getLogger("manifest_lang.runtime")


class EventLog:
    def __init__(self) -> None:
        self._events: list[EmittedEvent] = []
        # correlation id -> its event, or a list once it has several: most ids have one event, and a
        # list per id would be one more object for the garbage collector to walk, per command
        self._by_correlation: dict[str, Any] = {}
        self._listeners: list[Callable[[EmittedEvent], Any]] = []

    def publish(self, events: Iterable[EmittedEvent]) -> None:
        """Append committed events and notify listeners (listener errors are logged, not raised)."""
        listeners = tuple(self._listeners)
        by_correlation = self._by_correlation
        for event in events:
            self._events.append(event)
            cid = event.correlation_id
            if cid is not None:
                chain = by_correlation.get(cid)
                if chain is None:
                    by_correlation[cid] = event
                elif type(chain) is list:
                    chain.append(event)
                else:
                    by_correlation[cid] = [chain, event]
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # one bad listener must not break a committed command
                    log.exception("event listener failed for %s", event.name)

    def all(self) -> list[EmittedEvent]:
        return list(self._events)

    def for_correlation(self, correlation_id: str) -> list[EmittedEvent]:
        chain = self._by_correlation.get(correlation_id)
        if chain is None:
            return []
        return list(chain) if type(chain) is list else [chain]

    def clear(self) -> None:
        self._events.clear()
        self._by_correlation.clear()

    def subscribe(self, listener: Callable[[EmittedEvent], Any]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
