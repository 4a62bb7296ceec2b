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

Each variant is paired with a fresh baseline engine; the two run the workload in alternating
chunks (``--chunk`` commands each), and the reported ratio is the median over the chunk pairs of
variant ops/s / baseline ops/s. Pairing cancels most of the noise of a shared machine, which
moves both sides of a pair alike. Target: tracing off (empty-hooks, corr) within 5%.

  .venv/bin/python bench/workflow_overhead.py                 # inventory + preptask, ~1 min
  .venv/bin/python bench/workflow_overhead.py --quick         # smoke test
  .venv/bin/python bench/workflow_overhead.py preptask --n 50000 --chunk 1000
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
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.workflows.factory import RuntimeFactory
from manifest_lang.workflows.journal import CommandJournal
from manifest_lang.workflows.telemetry import OpenTelemetryHook, tracing_hooks

SCENARIOS = Path(
    os.environ.get("MANIFEST_BENCH_SCENARIOS", Path(__file__).resolve().parents[2] / "shared" / "bench" / "scenarios")
)


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


class Driver:
    """One runner on its own seeded store, checked against the workload, then driven in chunks."""

    def __init__(self, workload: dict[str, Any], ir: dict[str, Any], variant: str) -> None:
        self.variant = variant
        cycle = prepare_cycle(workload)
        self.runner, self.opts = setup(workload, ir, variant)
        for k in range(len(cycle) * 2):  # validity: every step ends as the workload expects
            step = cycle[k % len(cycle)]
            outcome = classify(self.runner(step.command, copy.deepcopy(step.input), self.opts))
            if outcome != step.expect:
                raise SystemExit(f"{variant}: {step.command} ended {outcome}, workload expects {step.expect}")
        self.inputs = [(s.command, s.input) for s in cycle]
        self.k = 0

    def run(self, n: int) -> float:
        """Seconds taken by the next ``n`` commands of the cycle."""
        runner, opts, inputs, k = self.runner, self.opts, self.inputs, self.k
        start = time.perf_counter()
        for i in range(k, k + n):
            name, data = inputs[i % len(inputs)]
            runner(name, dict(data), opts)
        self.k = k + n
        return time.perf_counter() - start


VARIANTS = ["empty-hooks", "corr", "noop-hook", "logging", "otel-noop", "journal", "factory"]


def paired_ratio(
    workload: dict[str, Any], ir: dict[str, Any], variant: str, n: int, chunk: int, warmup: int
) -> tuple[float, float, float]:
    """Variant vs baseline, in alternating chunks so that both see the same machine load.

    Returns (median ratio of ops/s variant/baseline over the chunk pairs, baseline ops/s,
    variant ops/s). A shared, noisy machine shifts both sides of a pair alike.
    """
    base, other = Driver(workload, ir, "baseline"), Driver(workload, ir, variant)
    base.run(warmup)
    other.run(warmup)
    ratios, t_base, t_other = [], 0.0, 0.0
    gc.collect()
    for pair in range(max(1, n // chunk)):
        first, second = (base, other) if pair % 2 == 0 else (other, base)
        a, b = first.run(chunk), second.run(chunk)
        tb, tv = (a, b) if first is base else (b, a)
        ratios.append(tb / tv)
        t_base += tb
        t_other += tv
    done = max(1, n // chunk) * chunk
    return statistics.median(ratios), done / t_base, done / t_other


def run_scenario(name: str, n: int, chunk: int, warmup: int) -> dict[str, Any]:
    workload = json.loads((SCENARIOS / f"{name}.workload.json").read_text())
    compiled = compile_source((SCENARIOS / f"{workload.get('model', name)}.manifest").read_text())
    if compiled.ir is None:
        raise SystemExit(f"{name}: the model does not compile")
    out: dict[str, Any] = {"scenario": name, "n": n, "chunk": chunk, "variants": {}}
    for variant in VARIANTS:
        ratio, base_ops, ops = paired_ratio(workload, compiled.ir, variant, n, chunk, warmup)
        out["variants"][variant] = {
            "ratio": round(ratio, 3),
            "ops_per_s": round(ops),
            "baseline_ops_per_s": round(base_ops),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", default=["inventory", "preptask"])
    parser.add_argument("--n", type=int, default=20_000, help="commands per side and variant")
    parser.add_argument("--chunk", type=int, default=500, help="commands per alternating chunk")
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="n=2000, chunk 200")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.chunk, args.warmup = 2_000, 200, 100
    for name in args.scenarios:
        result = run_scenario(name, args.n, args.chunk, args.warmup)
        if args.json:
            print(json.dumps(result))
            continue
        print(f"\n{name}: {args.n} commands per side, alternating chunks of {args.chunk}")
        print(f"  {'variant':<12} {'ops/s':>9} {'baseline':>9}   ratio (median of chunk pairs)")
        for variant, r in result["variants"].items():
            ratio = r["ratio"]
            print(
                f"  {variant:<12} {r['ops_per_s']:>9,} {r['baseline_ops_per_s']:>9,}   "
                f"{ratio:5.3f} ({(ratio - 1) * 100:+.1f}%)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
