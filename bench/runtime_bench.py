#!/usr/bin/env python3
"""Benchmark our runtime against the reference runtime on the same scenarios, in one run.

    python bench/runtime_bench.py [SCENARIO[,SCENARIO...]|all] [--quick] [--n N] [--json] [--no-ref]

Scenarios are the language-neutral ``<name>.workload.json`` + ``.manifest`` pairs of the shared
bench folder (``$MANIFEST_BENCH_SCENARIOS``, default ``../shared/bench/scenarios`` beside the repo)
and of this repo's ``bench/scenarios`` (copied into the reference copy before it runs); the
generated ``large_1000`` model is created on demand with ``gen_large.py`` in the writable reference
copy ``$MANIFEST_REFBENCH``, default ``../refbench``. For each scenario this runs our phases
(validate, compile, hot, rr, idem, corr, memory, eventlog; see ``runtime_bench_phases.py``), then
``node bench.mjs <scenario> --json`` with the same sizes, and prints ops/s for both and the ratio
ours/reference. A scenario whose cycle does not end with the expected outcomes on our runtime makes
the run exit 3 (the rule of ``bench.mjs``). See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_bench_phases as phases  # noqa: E402
from runtime_bench_report import median_of_runs, print_summary, print_table, ratios  # noqa: E402

from manifest_lang.native import build_name  # noqa: E402

_BESIDE = Path(__file__).resolve().parents[2]  # the folder holding the repo checkout
SHARED_SCENARIOS = Path(
    os.environ.get("MANIFEST_BENCH_SCENARIOS", _BESIDE / "shared" / "bench" / "scenarios")
)
#: the repo's own workloads (bench/scenarios), copied into the reference copy before it runs them
REPO_SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REFBENCH = Path(os.environ.get("MANIFEST_REFBENCH", _BESIDE / "refbench"))
DEFAULT_SCENARIOS = [
    "inventory",
    "preptask",
    "large_10",
    "large_100",
    "large_1000",
    "large_10_last",
    "large_100_last",
    "large_1000_last",
    "station",
    "order",
    "station_refusals",
    "order_refusals",
]
ALL_PHASES = ["compile", "hot", "rr", "idem", "corr", "memory", "eventlog"]

_NODE_COMPILE = """
import { compileToIR } from '@angriff36/manifest/ir-compiler';
let src = '';
for await (const chunk of process.stdin) src += chunk;
const r = await compileToIR(src, { useCache: false });
if (!r.ir) { console.error(JSON.stringify(r.diagnostics)); process.exit(1); }
process.stdout.write(JSON.stringify(r.ir));
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    manifest: Path
    workload: dict[str, Any]
    source: str


def _die(message: str, code: int = 2) -> None:
    sys.stderr.write(f"runtime_bench: {message}\n")
    sys.exit(code)


def resolve_scenario(name: str) -> Scenario:
    """``<name>.workload.json`` (its ``manifest`` field names the model, else ``<name>.manifest``)."""
    folders = (SHARED_SCENARIOS, REPO_SCENARIOS, REFBENCH / "scenarios")
    wl_path = next(
        (d / f"{name}.workload.json" for d in folders if (d / f"{name}.workload.json").exists()),
        None,
    )
    if wl_path is None:
        _die(f"no such scenario: {name}")
    workload = json.loads(wl_path.read_text())
    model = workload.get("manifest", f"{name}.manifest")
    # the model beside its workload first: a repo workload may share a model with a shared one
    candidates = [wl_path.parent / model, *(d / model for d in folders)]
    manifest = next((p for p in candidates if p.exists()), None)
    if manifest is None and model.startswith("large_"):
        size = model.removeprefix("large_").removesuffix(".manifest")
        subprocess.run(
            [sys.executable, str(REFBENCH / "gen_large.py"), "--n", size],
            cwd=REFBENCH,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        manifest = next((p for p in candidates if p.exists()), None)
    if manifest is None:
        _die(f"model {model} of scenario {name} not found in {SHARED_SCENARIOS} or {REFBENCH / 'scenarios'}")
    return Scenario(name, manifest, workload, manifest.read_text())


# --- IR ---------------------------------------------------------------------------------------


def _compile_ours(source: str) -> dict[str, Any]:
    from manifest_lang import compile_source

    result = compile_source(source)
    if result.ir is None:
        errors = [d for d in result.diagnostics if getattr(d, "severity", "") == "error"]
        raise RuntimeError(
            f"compile_source failed: {getattr(errors[0], 'message', errors[0]) if errors else '?'}"
        )
    return dict(result.ir)


def _compile_reference(source: str) -> dict[str, Any]:
    """Black-box use of the reference compiler, only when ours cannot compile the scenario yet."""
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", _NODE_COMPILE],
        cwd=REFBENCH,
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"reference compile failed: {proc.stderr.strip()[-500:]}")
    return dict(json.loads(proc.stdout))


def load_ir(sc: Scenario) -> tuple[dict[str, Any], str]:
    try:
        return _compile_ours(sc.source), "manifest_lang.compile_source"
    except Exception as exc:  # noqa: BLE001 - any failure of ours falls back to the reference IR
        reason = f"{type(exc).__name__}: {exc}"[:200]
    return _compile_reference(sc.source), f"reference compileToIR (ours failed: {reason})"


def phase_compile(sc: Scenario, ir: dict[str, Any], ours_compiles: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "irBytes": len(json.dumps(ir)),
        "entities": len(ir.get("entities", [])),
        "commands": len(ir.get("commands", [])),
    }
    if ours_compiles:
        times = []
        deadline = time.perf_counter() + 8
        while len(times) < 25 and (len(times) < 3 or time.perf_counter() < deadline):
            t0 = time.perf_counter()
            _compile_ours(sc.source)
            times.append((time.perf_counter() - t0) * 1000)
        out.update(runs=len(times), medianMs=round(statistics.median(times), 3), minMs=round(min(times), 3))
    return out


#: models this big get ``freeze_heap()`` after their build (see build_model)
FREEZE_HEAP_ENTITIES = 50


def build_model(ir: dict[str, Any]) -> tuple[Any, float]:
    """The ``CompiledModel`` every phase shares (built once, as an application would), and its cost
    in ms. A big model then gets the heap frozen (``freeze_heap()``, as ``manifest serve`` does), at
    the size where the library used to do it by itself, so figures stay comparable across runs."""
    from manifest_lang import freeze_heap
    from manifest_lang.runtime.model import CompiledModel

    t0 = time.perf_counter()
    model = CompiledModel(ir)
    elapsed = round((time.perf_counter() - t0) * 1000, 3)
    if len(model.entities) >= FREEZE_HEAP_ENTITIES:
        freeze_heap()
    return model, elapsed


def engine_construction_ms(model: Any, workload: dict[str, Any]) -> float:
    ctor = []
    for _ in range(25):
        t0 = time.perf_counter()
        phases.make_engine(model, workload)
        ctor.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(ctor), 3)


# --- running ----------------------------------------------------------------------------------


def run_child(sc: Scenario, phase: str, sizes: phases.Sizes, ir_file: Path) -> dict[str, Any]:
    """A phase in a fresh interpreter (clean heap), given the IR so it does not compile again."""
    cmd = [sys.executable, __file__, sc.name, "--phase", phase, "--ir-file", str(ir_file), "--json"]
    cmd += ["--mem-instances", str(sizes.mem_instances), "--events", str(sizes.events)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": f"child {phase} exited {proc.returncode}: {proc.stderr[-1500:]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_ours(sc: Scenario, sizes: phases.Sizes, only: list[str], log: Any, profile: bool) -> dict[str, Any]:
    ir, ir_source = load_ir(sc)
    workload = sc.workload
    cycle = phases.prepare_cycle(workload)
    out: dict[str, Any] = {
        "scenario": sc.name,
        "irSource": ir_source,
        "entity": workload["entity"],
        "build": f"{build_name()} build, Python {platform.python_version()} ({sys.executable})",
    }
    if "compile" in only:
        out["compile"] = phase_compile(sc, ir, ir_source == "manifest_lang.compile_source")
    model, model_ms = build_model(ir)
    if "compile" in only:
        out["compile"].update(
            compiledModelMs=model_ms, engineConstructMedianMs=engine_construction_ms(model, workload)
        )
        log(f"compile   {out['compile']}")
    out["validation"] = phases.phase_validate(model, workload, cycle)
    v = out["validation"]
    log(f"validate  {'ok' if v['ok'] else 'MISMATCH ' + json.dumps(v['mismatches'])}  mix={v['mix']}")
    if not v["ok"]:
        return out
    timed = {
        "hot": phases.phase_hot,
        "rr": phases.phase_rr,
        "idem": phases.phase_idem,
        "corr": phases.phase_corr,
    }
    for name, fn in timed.items():
        if name in only:
            out[name] = _profiled(fn, profile and name == "hot", model, workload, cycle, sizes)
            log(f"{name:<9} {_summary(out[name])}")
    children = [name for name in ("memory", "eventlog") if name in only]
    if children:
        with tempfile.TemporaryDirectory() as tmp:
            ir_file = Path(tmp) / "ir.json"
            ir_file.write_text(json.dumps(ir))
            for name in children:
                out[name] = run_child(sc, name, sizes, ir_file)
                log(f"{name:<9} {out[name]}")
    return out


def _summary(result: dict[str, Any]) -> str:
    if "unique" in result:
        return f"unique {_summary(result['unique'])}; replay {_summary(result['replay'])}"
    lat = result.get("latencyUs", {})
    timing = f"{result['usPerOp']} us/op, p50 {lat.get('p50')} us, p99 {lat.get('p99')} us"
    return f"{result['opsPerSec']} ops/s ({timing})"


def _profiled(fn: Any, profile: bool, *args: Any) -> dict[str, Any]:
    if not profile:
        return dict(fn(*args))
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(fn, *args)
    stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime")
    sys.stderr.write("\n--- profile of the hot phase (tottime) ---\n")
    stats.print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return dict(result)


def publish_repo_scenarios() -> None:
    """Copy ``bench/scenarios/*`` into the reference copy's ``scenarios/``, where ``bench.mjs``
    looks, so that both sides run the same files (a changed file is copied again)."""
    target = REFBENCH / "scenarios"
    if not target.is_dir() or not REPO_SCENARIOS.is_dir():
        return
    for path in sorted(REPO_SCENARIOS.iterdir()):
        if path.suffix not in (".json", ".manifest"):
            continue
        copy = target / path.name
        data = path.read_bytes()
        if not copy.exists() or copy.read_bytes() != data:
            copy.write_bytes(data)


def run_reference(sc: Scenario, sizes: phases.Sizes, only: list[str]) -> dict[str, Any]:
    cmd = [
        "node",
        "bench.mjs",
        sc.name,
        "--json",
        "--n",
        str(sizes.n),
        "--instances",
        str(sizes.instances),
        "--mem-instances",
        str(sizes.mem_instances),
        "--events",
        str(sizes.events),
        "--warmup",
        str(sizes.warmup),
        "--only",
        ",".join(only),
    ]
    try:
        proc = subprocess.run(cmd, cwd=REFBENCH, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return {"error": "node is not installed"}
    if not proc.stdout.strip():
        return {"error": f"bench.mjs exited {proc.returncode}: {proc.stderr[-1500:]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --- CLI --------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario_pos", nargs="?", metavar="SCENARIO", help="name, comma list, or 'all'")
    p.add_argument("--scenario", help="same as the positional argument (default: inventory)")
    p.add_argument("--n", type=int, default=50_000, help="timed ops per hot/idem/corr run (default 50,000)")
    p.add_argument("--instances", type=int, default=10_000, help="instances of the round-robin run")
    p.add_argument("--mem-instances", type=int, default=100_000, help="creates of the memory phase")
    p.add_argument("--events", type=int, default=100_000, help="events of the event-log phase")
    p.add_argument("--warmup", type=int, default=5_000, help="warm-up ops before each timed run")
    p.add_argument("--only", default=",".join(ALL_PHASES), help=f"subset of {','.join(ALL_PHASES)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    p.add_argument("--runs", type=int, default=1, help="repeat ours+reference R times, report medians")
    p.add_argument("--json", action="store_true", help="print one JSON object per scenario")
    p.add_argument("--no-ref", action="store_true", help="do not run the reference (node) harness")
    p.add_argument("--profile", action="store_true", help="cProfile the hot phase (to stderr)")
    p.add_argument("--phase", choices=["memory", "eventlog"], help=argparse.SUPPRESS)
    p.add_argument("--ir-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(args.only) - set(ALL_PHASES)
    if unknown:
        p.error(f"unknown phase(s) {sorted(unknown)}")
    if min(args.n, args.instances, args.mem_instances, args.events, args.warmup, args.runs) <= 0:
        p.error("sizes must be positive")
    return args


def child_main(args: argparse.Namespace, name: str, sizes: phases.Sizes) -> None:
    sc = resolve_scenario(name)
    ir = json.loads(Path(args.ir_file).read_text()) if args.ir_file else load_ir(sc)[0]
    model, _ = build_model(ir)
    if args.phase == "memory":
        result = phases.child_memory(model, sc.workload, sizes)
    else:
        result = phases.child_eventlog(model, sc.workload, phases.prepare_cycle(sc.workload), sizes)
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = phases.Sizes(args.n, args.instances, args.mem_instances, args.events, args.warmup)
    if args.quick:
        sizes = sizes.quick()
    spec = args.scenario or args.scenario_pos or "inventory"
    names = DEFAULT_SCENARIOS if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    if args.phase:
        child_main(args, names[0], sizes)
        return 0
    if build_name() != "native":
        print(
            f"note: this is the {build_name()} build; the figures users get in production are the native"
            " build's: bash scripts/install-native && .venv-native/bin/python bench/runtime_bench.py ...",
            file=sys.stderr,
            flush=True,
        )
    if not args.no_ref:
        publish_repo_scenarios()
    status = 0
    summary: list[tuple[str, dict[str, float]]] = []
    for name in names:
        sc = resolve_scenario(name)
        log = (lambda _m: None) if args.json else (lambda m, _n=name: print(f"[{_n}] {m}", flush=True))
        ours_runs: list[dict[str, Any]] = []
        ref_runs: list[dict[str, Any]] = []
        for _ in range(args.runs):  # alternate sides so that load changes hit both alike
            ours_runs.append(run_ours(sc, sizes, args.only, log, args.profile))
            if not ours_runs[-1]["validation"]["ok"]:
                status = 3
                break
            if not args.no_ref:
                ref_runs.append(run_reference(sc, sizes, args.only))
                if not ref_runs[-1].get("validation", {"ok": True}).get("ok", True):
                    status = 3  # both sides must end every step with the same expected outcome
        ours = median_of_runs(ours_runs, 1) or ours_runs[0]
        ref = median_of_runs(ref_runs, 2)
        report = {
            "scenario": name,
            "params": {**_sizes_dict(sizes, args.quick), "runs": len(ours_runs)},
            "ours": ours,
            "reference": ref,
            "ratios": ratios(ours, ref),
        }
        if args.json:
            print(json.dumps(report), flush=True)
        else:
            print_table(name, ours, ref)
        summary.append((name, report["ratios"]))
    if len(summary) > 1 and not args.json and not args.no_ref:
        print_summary(summary)
    return status


def _sizes_dict(sizes: phases.Sizes, quick: bool) -> dict[str, Any]:
    return {
        "n": sizes.n,
        "instances": sizes.instances,
        "memInstances": sizes.mem_instances,
        "events": sizes.events,
        "warmup": sizes.warmup,
        "quick": quick,
    }


if __name__ == "__main__":
    sys.exit(main())
