"""Measurement phases of ``runtime_bench.py``: the same workloads and rules as the node harness.

Each phase builds its own engine with the deterministic clock/ids of ``bench.mjs`` (``now`` starts
at 1_700_000_000_000 and ticks 1 ms per call, ids are ``gen-N``), seeds instances with ids
``<idPrefix>-N`` and drives the workload cycle: op ``k`` targets instance ``k % N`` with cycle
step ``(k // N) % L``, so every instance walks the cycle in order.
"""

from __future__ import annotations

import copy
import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore

#: per-op ids: (correlation_id, causation_id, idempotency_key), bench.mjs's ``optsFor(k)``
CallIds = tuple[str | None, str | None, str | None]
OptsFor = Callable[[int], CallIds] | None
NO_IDS: CallIds = (None, None, None)


@dataclass(frozen=True, slots=True)
class Step:
    command: str
    input: dict[str, Any]
    expect: str
    user: Any
    override_requests: Any


@dataclass(frozen=True, slots=True)
class Sizes:
    n: int = 50_000
    instances: int = 10_000
    mem_instances: int = 100_000
    events: int = 100_000
    warmup: int = 5_000

    def quick(self) -> Sizes:
        return Sizes(
            n=min(self.n, 2000),
            instances=min(self.instances, 500),
            mem_instances=min(self.mem_instances, 5000),
            events=min(self.events, 5000),
            warmup=min(self.warmup, 500),
        )


def prepare_cycle(workload: dict[str, Any]) -> list[Step]:
    default_user = (workload.get("context") or {}).get("user")
    return [
        Step(
            command=s["command"],
            input=s.get("input") or {},
            expect=s.get("expect", "success"),
            user=s.get("as", default_user),
            override_requests=s.get("overrideRequests"),
        )
        for s in workload["cycle"]
    ]


def classify(r: Any) -> str:
    """The outcome vocabulary of workload ``expect`` (same order of checks as bench.mjs)."""
    if r.success:
        return "success"
    # "is not None": an empty report is still a report (JS objects are truthy)
    if r.policy_denial is not None:
        return "policy"
    if r.parameter_failure is not None:
        return "parameter"
    if r.guard_failure is not None:
        return "guard"
    if r.concurrency_conflict is not None:
        return "concurrency"
    for o in r.constraint_outcomes or ():
        if not o.passed and not o.overridden and o.severity == "block":
            return "constraint"
    if isinstance(r.error, str) and r.error.startswith("Invalid state transition"):
        return "transition"
    return f"other:{r.error}"


def make_engine(ir: Any, workload: dict[str, Any], **extra: Any) -> RuntimeEngine:
    clock = [1_700_000_000_000]
    counter = [0]

    def now() -> int:
        clock[0] += 1
        return clock[0]

    def generate_id() -> str:
        counter[0] += 1
        return f"gen-{counter[0]}"

    context = copy.deepcopy(workload.get("context") or {})
    return RuntimeEngine(ir, context, now=now, generate_id=generate_id, **extra)


def seed(engine: RuntimeEngine, workload: dict[str, Any], count: int, offset: int = 0) -> list[str]:
    ids = []
    entity = workload["entity"]
    for i in range(count):
        instance_id = f"{workload['idPrefix']}-{offset + i}"
        if engine.create_instance(entity, {**workload.get("seed", {}), "id": instance_id}) is None:
            raise RuntimeError(f"create_instance({entity}, {instance_id}) returned None: seed data rejected")
        ids.append(instance_id)
    return ids


def round_cycles(ops: int, length: int) -> int:
    return max(length, -(-ops // length) * length)


class GcWatch:
    """Collections and pause time during a timed run (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0
        self._start = 0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
            return
        pause = time.perf_counter_ns() - self._start
        self.count += 1
        self.total_ns += pause
        self.max_ns = max(self.max_ns, pause)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "totalMs": round(self.total_ns / 1e6, 3),
            "maxMs": round(self.max_ns / 1e6, 3),
        }


def _quantile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def _run_op(
    engine: RuntimeEngine, workload: dict[str, Any], step: Step, instance_id: str, ids: CallIds = NO_IDS
) -> Any:
    # bench.mjs builds one options object per call ({...base, instanceId}, plus optsFor(k)); the
    # Python API's equivalent is keyword arguments, so optsFor(k) here gives their values.
    correlation_id, causation_id, idempotency_key = ids
    return engine.run_command(
        step.command,
        dict(step.input),
        entity_name=workload["entity"],
        instance_id=instance_id,
        override_requests=step.override_requests or None,
        correlation_id=correlation_id,
        causation_id=causation_id,
        idempotency_key=idempotency_key,
    )


def drive(
    engine: RuntimeEngine,
    workload: dict[str, Any],
    cycle: list[Step],
    ids: list[str],
    total_ops: int,
    opts_for: OptsFor = None,
    latency: bool = True,
) -> dict[str, Any]:
    n, length = len(ids), len(cycle)
    lat = [0] * total_ops if latency else None
    current_user = engine.get_context().get("user")
    ok = events = 0
    perf = time.perf_counter_ns
    # The loop body is _run_op inlined, with the entity name and the bound method hoisted as
    # bench.mjs hoists ``base``: a Python call per op would be harness cost, not the runtime's.
    run = engine.run_command
    entity = workload["entity"]
    with GcWatch() as watch:
        t0 = perf()
        for k in range(total_ops):
            step = cycle[(k // n) % length]
            if step.user is not current_user:
                engine.set_context({"user": step.user})
                current_user = step.user
            correlation_id, causation_id, idempotency_key = opts_for(k) if opts_for else NO_IDS
            s = perf()
            r = run(
                step.command,
                dict(step.input),
                entity_name=entity,
                instance_id=ids[k % n],
                override_requests=step.override_requests or None,
                correlation_id=correlation_id,
                causation_id=causation_id,
                idempotency_key=idempotency_key,
            )
            if lat is not None:
                lat[k] = perf() - s
            ok += r.success
            events += len(r.emitted_events)
        elapsed = perf() - t0
    out: dict[str, Any] = {
        "ops": total_ops,
        "instances": n,
        "ms": round(elapsed / 1e6, 3),
        "opsPerSec": round(total_ops / (elapsed / 1e9)),
        "usPerOp": round(elapsed / 1e3 / total_ops, 3),
        "successRate": round(ok / total_ops, 3),
        "eventsPerOp": round(events / total_ops, 3),
        "gc": watch.to_dict(),
    }
    if lat is not None:
        out.update(_latency_summary(lat, cycle, n))
    return out


def _latency_summary(lat: list[int], cycle: list[Step], n: int) -> dict[str, Any]:
    ordered = sorted(lat)
    per_step: list[list[int]] = [[] for _ in cycle]
    for k, value in enumerate(lat):
        per_step[(k // n) % len(cycle)].append(value)
    return {
        "latencyUs": {
            "p50": round(_quantile(ordered, 0.5) / 1e3, 3),
            "p90": round(_quantile(ordered, 0.9) / 1e3, 3),
            "p99": round(_quantile(ordered, 0.99) / 1e3, 3),
            "max": round(ordered[-1] / 1e3, 3),
        },
        "perStepMedianUs": [
            {"step": i, "command": c.command, "expect": c.expect, "p50": round(statistics.median(v) / 1e3, 3)}
            for i, (c, v) in enumerate(zip(cycle, per_step, strict=True))
            if v
        ],
    }


# --- phases -----------------------------------------------------------------------------------


def phase_validate(ir: Any, workload: dict[str, Any], cycle: list[Step]) -> dict[str, Any]:
    """Run the cycle twice on one instance; every step must end with its expected outcome."""
    engine = make_engine(ir, workload)
    ids = seed(engine, workload, 1)
    got: list[str] = []
    current_user = engine.get_context().get("user")
    for _ in range(2):
        for step in cycle:
            if step.user is not current_user:
                engine.set_context({"user": step.user})
                current_user = step.user
            got.append(classify(_run_op(engine, workload, step, ids[0])))
    expected = [s.expect for s in cycle] * 2
    mismatches = [
        {"index": i, "step": cycle[i % len(cycle)].command, "expected": e, "got": g}
        for i, (e, g) in enumerate(zip(expected, got, strict=True))
        if e != g
    ]
    mix: dict[str, int] = {}
    for s in cycle:
        mix[s.expect] = mix.get(s.expect, 0) + 1
    return {"ok": not mismatches, "cycleLength": len(cycle), "mix": mix, "mismatches": mismatches}


def _warmup(
    ir: Any, workload: dict[str, Any], cycle: list[Step], sizes: Sizes, opts_for: OptsFor = None, **extra: Any
) -> None:
    engine = make_engine(ir, workload, **extra)
    ids = seed(engine, workload, 1, 900_000_000)
    drive(engine, workload, cycle, ids, round_cycles(sizes.warmup, len(cycle)), opts_for, latency=False)


def phase_hot(ir: Any, workload: dict[str, Any], cycle: list[Step], sizes: Sizes) -> dict[str, Any]:
    _warmup(ir, workload, cycle, sizes)
    engine = make_engine(ir, workload)
    ids = seed(engine, workload, 1)
    out = drive(engine, workload, cycle, ids, round_cycles(sizes.n, len(cycle)))
    out["eventLogLength"] = len(engine.get_event_log())
    return out


def phase_rr(ir: Any, workload: dict[str, Any], cycle: list[Step], sizes: Sizes) -> dict[str, Any]:
    _warmup(ir, workload, cycle, sizes)
    engine = make_engine(ir, workload)
    t0 = time.perf_counter()
    ids = seed(engine, workload, sizes.instances)
    seed_s = time.perf_counter() - t0
    out = drive(engine, workload, cycle, ids, sizes.instances * len(cycle))
    out["seedMs"] = round(seed_s * 1000, 3)
    out["seedPerSec"] = round(sizes.instances / seed_s)
    return out


def _instance_json(engine: RuntimeEngine, entity: str, instance_id: str) -> str:
    import json

    return json.dumps(engine.get_instance(entity, instance_id), sort_keys=True, default=str)


def phase_idem(ir: Any, workload: dict[str, Any], cycle: list[Step], sizes: Sizes) -> dict[str, Any]:
    ops = round_cycles(sizes.n, len(cycle))
    keys = [f"idem-{k}" for k in range(ops)]
    _warmup(
        ir,
        workload,
        cycle,
        sizes,
        lambda k: (None, None, f"w-{k}"),
        idempotency_store=MemoryIdempotencyStore(),
    )
    # room for every key, as the reference's store keeps them all (ours keeps 10,000 by default,
    # so a replay of 50,000 keys would otherwise run the 40,000 forgotten ones again)
    store = MemoryIdempotencyStore(max_records=ops)
    engine = make_engine(ir, workload, idempotency_store=store)
    ids = seed(engine, workload, 1)
    entity = workload["entity"]
    unique = drive(engine, workload, cycle, ids, ops, lambda k: (None, None, keys[k]))
    before = _instance_json(engine, entity, ids[0])
    log_before = len(engine.get_event_log())
    replay = drive(engine, workload, cycle, ids, ops, lambda k: (None, None, keys[k]))
    replay["stateUnchanged"] = before == _instance_json(engine, entity, ids[0])
    replay["eventLogGrowth"] = len(engine.get_event_log()) - log_before
    missing = _run_op(engine, workload, cycle[0], ids[0])
    return {
        "store": "MemoryIdempotencyStore (manifest_lang.runtime.idempotency)",
        "unique": unique,
        "replay": replay,
        "storeSize": store.size(),
        "missingKeyError": None if missing.success else missing.error,
    }


def phase_corr(ir: Any, workload: dict[str, Any], cycle: list[Step], sizes: Sizes) -> dict[str, Any]:
    ops = round_cycles(sizes.n, len(cycle))
    corr: list[CallIds] = [(f"corr-{k % 1000}", f"cause-{k}", None) for k in range(ops)]
    _warmup(ir, workload, cycle, sizes, lambda k: (f"w-{k % 1000}", f"wc-{k}", None))
    engine = make_engine(ir, workload)
    ids = seed(engine, workload, 1)
    out = drive(engine, workload, cycle, ids, ops, lambda k: corr[k])
    log = engine.get_event_log()
    out["eventsWithCorrelationId"] = sum(1 for e in log if getattr(e, "correlation_id", None) is not None)
    out["eventLogLength"] = len(log)
    return out


# --- child phases (run in a fresh interpreter) ------------------------------------------------


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _traced_bytes(fn: Callable[[], Any]) -> int:
    """Python heap bytes still allocated after ``fn`` (and a full collection): like V8's heapUsed delta."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keep = fn()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del keep
    return grown


#: tracemalloc slows allocation several times: heap bytes are measured on a sample this large
_TRACED_SAMPLE = 20_000


def child_memory(ir: Any, workload: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    engine = make_engine(ir, workload)
    gc.collect()
    base = _rss_bytes()
    peak_before = _peak_rss_mb()
    t0 = time.perf_counter()
    seed(engine, workload, sizes.mem_instances)
    create_s = time.perf_counter() - t0
    gc.collect()
    after = _rss_bytes()
    stored = len(engine.get_all_instances(workload["entity"]))
    del engine
    sample = min(sizes.mem_instances, _TRACED_SAMPLE)
    traced_engine = make_engine(ir, workload)
    heap = _traced_bytes(lambda: seed(traced_engine, workload, sample))
    return {
        "heapBytesPerInstance": round(heap / sample),
        "heapSampleInstances": sample,
        "instances": sizes.mem_instances,
        "storedInstances": stored,
        "createMs": round(create_s * 1000, 3),
        "createPerSec": round(sizes.mem_instances / create_s),
        "baselineRssMB": round(base / 1048576, 1),
        "afterGcRssMB": round(after / 1048576, 1),
        "peakRssMB": _peak_rss_mb(),
        "peakRssBeforeCreateMB": peak_before,
        "rssBytesPerInstance": round((after - base) / sizes.mem_instances),
    }


def _timed_ms(fn: Callable[[], Any], runs: int = 21) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3), result


def _generate_events(
    engine: RuntimeEngine, workload: dict[str, Any], cycle: list[Step], ids: list[str], count: int
) -> int:
    """Round-robin commands with 1000 correlation ids until ``count`` events exist; returns commands run."""
    n, length = len(ids), len(cycle)
    current_user = engine.get_context().get("user")
    events = k = 0
    while events < count:
        step = cycle[(k // n) % length]
        if step.user is not current_user:
            engine.set_context({"user": step.user})
            current_user = step.user
        call_ids = (f"corr-{k % 1000}", f"cause-{k}", None)
        events += len(_run_op(engine, workload, step, ids[k % n], call_ids).emitted_events)
        k += 1
    return k


def _event_heap_sample(ir: Any, workload: dict[str, Any], cycle: list[Step], count: int) -> dict[str, Any]:
    engine = make_engine(ir, workload)
    ids = seed(engine, workload, 1000)
    _generate_events(engine, workload, cycle, ids, 2000)  # steady state: every instance touched
    before = len(engine.get_event_log())
    heap = _traced_bytes(lambda: _generate_events(engine, workload, cycle, ids, count))
    grown = len(engine.get_event_log()) - before
    return {"heapBytesPerEvent": round(heap / max(grown, 1)), "heapSampleEvents": grown}


def child_eventlog(ir: Any, workload: dict[str, Any], cycle: list[Step], sizes: Sizes) -> dict[str, Any]:
    engine = make_engine(ir, workload)
    ids = seed(engine, workload, 1000)
    gc.collect()
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    k = _generate_events(engine, workload, cycle, ids, sizes.events)
    gen_s = time.perf_counter() - t0
    gc.collect()
    total = len(engine.get_event_log())
    target = "corr-500"
    copy_ms, _ = _timed_ms(engine.get_event_log)
    filter_ms, matched = _timed_ms(lambda: [e for e in engine.get_event_log() if e.correlation_id == target])
    index_ms, indexed = _timed_ms(lambda: engine.events_for_correlation(target))
    return {
        "eventsInLog": total,
        "commandsRun": k,
        "generateMs": round(gen_s * 1000, 3),
        "generateOpsPerSec": round(k / gen_s),
        "target": target,
        "matched": len(matched),
        "getEventLogCopyMedianMs": copy_ms,
        "filterByCorrelationMedianMs": filter_ms,
        "indexedLookupMedianMs": index_ms,
        "indexedMatched": len(indexed),
        "rssBytesPerEvent": round((_rss_bytes() - rss0) / max(total, 1)),
        **_event_heap_sample(ir, workload, cycle, min(sizes.events, _TRACED_SAMPLE)),
        "peakRssMB": _peak_rss_mb(),
    }
