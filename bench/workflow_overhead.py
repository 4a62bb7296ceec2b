"""What the workflow features cost on the shared workloads, as ratios measured in one run.

Each variant runs the same workload cycle on one instance (the ``hot`` phase of
``runtime_bench.py``) with the deterministic clock and ids of ``bench.mjs``:

  baseline     RuntimeEngine(ir, ctx): no hooks, no correlation ids
  empty-hooks  command_hooks=[] passed explicitly (must cost nothing)
  corr         correlation_id + causation_id on every command
  noop-hook    one hook whose before/after do nothing (the price of the hook call itself)
  logging      tracing_hooks(opentelemetry=False): the logging hook, logger at its default level
  otel-noop    the OpenTelemetry hook with the API's default (no-op) tracer provider
  journal      a CommandJournal in memory (records input, options, clock, ids and the result)
  factory      a new engine from a RuntimeFactory for every command (short-lived engines)

Variants run round-robin (in a rotated order each round) for ``--rounds`` rounds; the median
ops/s of each is compared with the baseline's. Target: tracing off (empty-hooks, corr) within 5%
of the baseline.

  .venv/bin/python bench/workflow_overhead.py                 # inventory + preptask, ~1 min
  .venv/bin/python bench/workflow_overhead.py --quick         # smoke test
  .venv/bin/python bench/workflow_overhead.py preptask --n 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime_bench_phases import classify, prepare_cycle  # type: ignore[import-not-found]

from manifest_lang.compiler.api import compile_source
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.factory import RuntimeFactory
from manifest_lang.runtime.journal import CommandJournal
from manifest_lang.runtime.tracing import OpenTelemetryHook, tracing_hooks
from manifest_lang.stores.memory import MemoryStore

SCENARIOS = Path(os.environ.get("MANIFEST_BENCH_SCENARIOS", "/work/shared/bench/scenarios"))


class NoopHook:
    def before_command(self, engine: Any, name: str, input: Any, options: Any) -> None:
        return None

    def after_command(self, token: Any, result: Any) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000

    def __call__(self) -> int:
        self.t += 1
        return self.t


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"gen-{self.n}"


Runner = Callable[[str, dict[str, Any], dict[str, Any]], Any]


def _engine(ir: dict[str, Any], ctx: dict[str, Any], store: Any, **options: Any) -> RuntimeEngine:
    return RuntimeEngine(
        ir, copy.deepcopy(ctx), now=Clock(), generate_id=Ids(), store_provider=store, **options
    )


def make_runner(variant: str, ir: dict[str, Any], ctx: dict[str, Any], store: Any) -> Runner:
    """A function running one command the way ``variant`` does."""
    if variant == "factory":
        factory = RuntimeFactory(ir, store, now=Clock(), generate_id=Ids())
        user, tenant = ctx.get("user"), ctx.get("tenantId")
        return lambda name, data, opts: factory.engine(tenant_id=tenant, user=user).run_command(
            name, data, **opts
        )
    hooks: dict[str, Any] = {
        "baseline": None,
        "empty-hooks": [],
        "corr": None,
        "noop-hook": [NoopHook()],
        "logging": list(tracing_hooks(opentelemetry=False)),
        "otel-noop": [OpenTelemetryHook()],
        "journal": [CommandJournal()],
    }
    chosen = hooks[variant]
    engine = _engine(ir, ctx, store) if chosen is None else _engine(ir, ctx, store, command_hooks=chosen)
    if variant == "corr":
        return lambda name, data, opts: engine.run_command(
            name, data, correlation_id="wf-1", causation_id="bench", **opts
        )
    return lambda name, data, opts: engine.run_command(name, data, **opts)


def setup(workload: dict[str, Any], ir: dict[str, Any], variant: str) -> tuple[Runner, dict[str, Any]]:
    store = MemoryStore()
    seeder = _engine(ir, workload.get("context") or {}, store)
    instance_id = f"{workload['idPrefix']}-0"
    seeder.create_instance(workload["entity"], {**workload["seed"], "id": instance_id})
    runner = make_runner(variant, ir, workload.get("context") or {}, store)
    return runner, {"entity_name": workload["entity"], "instance_id": instance_id}


def timed(workload: dict[str, Any], ir: dict[str, Any], variant: str, n: int, warmup: int) -> float:
    cycle = prepare_cycle(workload)
    runner, opts = setup(workload, ir, variant)
    for k in range(len(cycle) * 2):  # validity: every step ends as the workload expects
        step = cycle[k % len(cycle)]
        outcome = classify(runner(step.command, copy.deepcopy(step.input), opts))
        if outcome != step.expect:
            raise SystemExit(f"{variant}: {step.command} ended {outcome}, workload expects {step.expect}")
    for k in range(warmup):
        step = cycle[k % len(cycle)]
        runner(step.command, dict(step.input), opts)
    inputs = [(s.command, s.input) for s in cycle]
    gc.collect()
    start = time.perf_counter()
    for k in range(n):
        name, data = inputs[k % len(inputs)]
        runner(name, dict(data), opts)
    return n / (time.perf_counter() - start)


VARIANTS = ["baseline", "empty-hooks", "corr", "noop-hook", "logging", "otel-noop", "journal", "factory"]


def run_scenario(name: str, n: int, rounds: int, warmup: int) -> dict[str, Any]:
    workload = json.loads((SCENARIOS / f"{name}.workload.json").read_text())
    compiled = compile_source((SCENARIOS / f"{workload.get('model', name)}.manifest").read_text())
    if compiled.ir is None:
        raise SystemExit(f"{name}: the model does not compile")
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        # Rotate the order so no variant always runs first (or right after the noisiest one).
        for variant in VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]:
            samples[variant].append(timed(workload, compiled.ir, variant, n, warmup))
    medians = {v: statistics.median(s) for v, s in samples.items()}
    base = medians["baseline"]
    return {
        "scenario": name,
        "n": n,
        "rounds": rounds,
        "ops_per_s": {v: round(m) for v, m in medians.items()},
        "ratio_to_baseline": {v: round(m / base, 3) for v, m in medians.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", default=["inventory", "preptask"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="n=1000, 1 round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.warmup = 1_000, 1, 100
    for name in args.scenarios:
        result = run_scenario(name, args.n, args.rounds, args.warmup)
        if args.json:
            print(json.dumps(result))
            continue
        print(f"\n{name}: {args.n} commands x {args.rounds} rounds (median ops/s, ratio to baseline)")
        for variant in VARIANTS:
            ops, ratio = result["ops_per_s"][variant], result["ratio_to_baseline"][variant]
            print(f"  {variant:<12} {ops:>9,} ops/s   {ratio:5.3f}   ({(ratio - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
