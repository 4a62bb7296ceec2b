"""The registry of work-item kinds: what a handler is, what it gets, how a kind is registered.

Kept apart from ``worker.py`` so that the modules defining kinds (jobs, schedules, approvals,
sagas, ...) import this registry, never the worker that runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..stores.work import WorkItem, WorkOutcome

Handler = Callable[["ItemRun"], WorkOutcome]
#: run by a worker about five times a second (schedules use it to create due firings); gets the
#: worker and the time
Ticker = Callable[[Any, float], None]


@dataclass(frozen=True, slots=True)
class WorkKind:
    """A kind of work item: its handler and the ``--only`` group it belongs to."""

    kind: str
    handler: Handler
    group: str
    ticker: Ticker | None = None
    #: called with the worker when a worker that runs this kind is built (fail early)
    prepare: Callable[[Any], None] | None = None


#: every registered kind by name (``register_kind``)
KINDS: dict[str, WorkKind] = {}


def register_kind(kind: WorkKind) -> None:
    """Make every worker built from now on run items of ``kind.kind``."""
    KINDS[kind.kind] = kind


@dataclass(slots=True)
class ItemRun:
    """The handler's view of one claimed item: the item, the worker running it (its ``model``,
    ``store``, ``clock``, ``services``), the time it started and the lease owner holding it."""

    item: WorkItem
    worker: Any
    now: float
    #: the lease owner holding the item (a finish committed with the command is fenced by it)
    owner: str = ""

    def engine(self, context: Mapping[str, Any] | None = None, **options: Any) -> Any:
        return self.worker.engine(dict(context or {}), **options)
