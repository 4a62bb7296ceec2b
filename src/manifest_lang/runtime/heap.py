"""``freeze_heap()``: an explicit, process-wide GC tuning for long-running servers.

A big compiled model is millions of long-lived objects; every full collection of the cyclic GC
walks all of them (over a second for a 1000-entity model), and would recur under heavy traffic.
``gc.freeze()`` moves every object alive now to a permanent generation the collector skips. That
is a decision about the whole process, so the library never makes it on its own (constructing a
``CompiledModel`` leaves the GC as it found it): ``manifest serve`` calls this once its app is
built, and an application embedding the runtime may call it after loading its models.
"""

from __future__ import annotations

import gc


def freeze_heap() -> int:
    """Move every object alive now to the GC's permanent generation; returns how many are frozen.

    Objects frozen this way are never collected, so call it after the long-lived state (models,
    stores) is built and before serving traffic; ``gc.unfreeze()`` undoes it."""
    gc.freeze()
    return gc.get_freeze_count()
