"""``event_log_limit``: None keeps every event, 0 none, N the last N (and the index follows)."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest

from manifest_lang.errors import InvalidInputError
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.events import EventLog
from manifest_lang.runtime.options import RuntimeOptions
from manifest_lang.runtime.results import EmittedEvent

from .helpers import make_engine


def _bump(engine: RuntimeEngine, n: int, correlation: str | None = None, start: int = 0) -> None:
    for k in range(start, start + n):
        result = engine.run_command(
            "increment", {"by": k + 1}, entity_name="Counter", instance_id="c1", correlation_id=correlation
        )
        assert result.success


def _engine(**options: object) -> RuntimeEngine:
    engine = make_engine(**options)  # type: ignore[arg-type]
    engine.create_instance("Counter", {"id": "c1", "value": 0})
    return engine


def _event(n: int, correlation: str | None) -> EmittedEvent:
    return EmittedEvent("E", "e", {"n": n}, float(n), correlation_id=correlation)


def test_unlimited_is_the_default_and_keeps_every_event() -> None:
    engine = _engine()
    assert engine.events.limit is None
    _bump(engine, 50, "w")
    assert len(engine.get_event_log()) == 50
    assert len(engine.events_for_correlation("w")) == 50


def test_zero_keeps_nothing_but_listeners_still_see_every_event() -> None:
    engine = _engine(event_log_limit=0)
    seen: list[EmittedEvent] = []
    engine.on_event(seen.append)
    _bump(engine, 5, "w")
    assert engine.get_event_log() == [] and engine.events_for_correlation("w") == []
    assert [e.payload["by"] for e in seen] == [1, 2, 3, 4, 5]


def test_a_cap_keeps_the_last_n_in_order() -> None:
    engine = _engine(event_log_limit=3)
    _bump(engine, 10, "w")
    assert [e.payload["by"] for e in engine.get_event_log()] == [8, 9, 10]
    assert [e.payload["by"] for e in engine.events_for_correlation("w")] == [8, 9, 10]


def test_the_option_travels_in_runtime_options_and_keywords_override_it() -> None:
    shared = RuntimeOptions(event_log_limit=2)
    assert _engine(options=shared).events.limit == 2
    assert _engine(options=shared, event_log_limit=None).events.limit is None


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_a_bad_limit_is_an_invalid_input_error(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="event_log_limit"):
        _engine(event_log_limit=bad)


def test_the_index_follows_eviction_across_interleaved_correlation_ids() -> None:
    log = EventLog(limit=5)
    ids = ["a", "b", None, "a", "c", "a", "b", "a", None, "a", "a", "b"]
    for n, cid in enumerate(ids):
        log.publish([_event(n, cid)])
        kept = log.all()
        assert len(kept) == min(n + 1, 5)
        assert [e.timestamp for e in kept] == [float(i) for i in range(max(0, n - 4), n + 1)]
        for name in ("a", "b", "c"):
            assert log.for_correlation(name) == [e for e in kept if e.correlation_id == name]
    # an id whose every event was evicted is gone from the index, not kept as an empty entry
    assert set(log._by_correlation) == {"a", "b"}
    assert set(log._heads) <= set(log._by_correlation)


def test_one_long_correlation_chain_is_compacted_not_kept_whole() -> None:
    log = EventLog(limit=100)
    for n in range(50_000):
        log.publish([_event(n, "one")])
    chain = log._by_correlation["one"]
    assert len(log) == 100 and len(chain) < 2 * 100  # evicted heads are cut off, amortised
    assert [e.timestamp for e in log.for_correlation("one")] == [float(n) for n in range(49_900, 50_000)]


def _blocks_kept(engine: RuntimeEngine, first: int, then: int, correlation: str) -> int:
    """Memory blocks still allocated after ``then`` more commands than ``first`` (the allocator's
    own count, ``sys.getallocatedblocks``: not a timing)."""
    _bump(engine, first, correlation)
    gc.collect()
    before = sys.getallocatedblocks()
    _bump(engine, then, correlation, start=first)
    gc.collect()
    return sys.getallocatedblocks() - before


def test_memory_stays_flat_over_50k_commands_on_one_correlation_id() -> None:
    capped = _engine(event_log_limit=1000)
    kept = _blocks_kept(capped, 10_000, 40_000, "one")
    log = capped.events
    assert len(capped.get_event_log()) == 1000
    assert len(log._by_correlation) == 1 and len(log._by_correlation["one"]) < 2000
    assert len(log._heads) <= 1
    assert capped.events_for_correlation("one")[-1].payload["by"] == 50_000
    assert abs(kept) < 200  # 40,000 commands later, nothing more is held (an event is ~5 blocks)
    unlimited = _engine()
    assert _blocks_kept(unlimited, 1000, 2000, "one") > 2000 * 3  # what the measure sees


def test_clear_releases_every_event_and_the_index() -> None:
    engine = _engine()
    _bump(engine, 10, "warm")
    engine.clear_event_log()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _bump(engine, 3000, "one")
        _bump(engine, 10, "other", start=3000)
        grown = tracemalloc.get_traced_memory()[0] - base
        engine.clear_event_log()
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown > 3000 * 200 and left < grown // 20
    assert engine.get_event_log() == [] and engine.events_for_correlation("one") == []
    _bump(engine, 3, "one", start=5000)  # the log works again after a clear
    assert [e.payload["by"] for e in engine.events_for_correlation("one")] == [5001, 5002, 5003]


def test_clear_of_a_capped_log() -> None:
    engine = _engine(event_log_limit=4)
    _bump(engine, 10, "w")
    engine.clear_event_log()
    assert engine.get_event_log() == [] and engine.events_for_correlation("w") == []
    _bump(engine, 6, "w", start=10)
    assert [e.payload["by"] for e in engine.events_for_correlation("w")] == [13, 14, 15, 16]


@pytest.mark.parametrize("limit", [None, 5])
def test_a_listener_that_clears_the_log_leaves_it_consistent(limit: int | None) -> None:
    log = EventLog(limit)
    log.subscribe(lambda event: log.clear() if event.timestamp == 1.0 else None)
    log.publish([_event(n, "w") for n in range(4)])
    assert [e.timestamp for e in log.all()] == [2.0, 3.0]
    assert log.for_correlation("w") == log.all()
