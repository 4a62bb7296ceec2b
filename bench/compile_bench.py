"""Compile-time benchmark: our compiler vs the reference compiler, measured in one run.

    python bench/compile_bench.py                 # every input, 5 alternating rounds, fresh processes
    python bench/compile_bench.py --quick         # fixtures + large_10/100, 1 round
    python bench/compile_bench.py --runs 7 --fresh 5 --ref /path/to/refbench
    python bench/compile_bench.py --phases        # also: where our time goes on the last model

Inputs: every conformance fixture (timed as one batch), the generated models ``large_N.manifest``
(from ``$MANIFEST_BENCH_SCENARIOS``, ``../shared/bench/scenarios`` or the reference bench's
``scenarios``; else generated with ``gen_large.py --n N --out -`` into a temp dir), and three shapes
of our own (300 small files, long commands, deep expressions). The reference (``--ref``, default
``$MANIFEST_REFBENCH`` or ``../refbench`` beside the repo) is driven as a black box by small .mjs
scripts written to a temp dir, which import the package's exported compile function (found from
its ``exports`` and type declarations).

Two measures, both sides the same way (see bench/README.md):
- in process: what ``bench.mjs``'s compile phase calls "cold compile" (no IR cache, the module
  already loaded, JIT warmed by 3 compiles per input), in rounds that alternate ours, reference,
  ours... CPU time, median;
- fresh process: a new interpreter per run that imports the compiler and compiles one model once:
  the import's and the compile's CPU time, and the whole process's CPU time from the OS.
Not a test: it prints ratios ours/reference (< 1 means we are faster).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from manifest_lang import __version__  # noqa: E402
from manifest_lang.compiler.api import compile_source  # noqa: E402
from manifest_lang.compiler.diagnostics import DiagnosticSink  # noqa: E402
from manifest_lang.compiler.pipeline import Pipeline  # noqa: E402
from manifest_lang.compiler.provenance import build_provenance  # noqa: E402
from manifest_lang.syntax.lexer import tokenize  # noqa: E402
from manifest_lang.syntax.parser import Parser  # noqa: E402

SHARED = ROOT.parent / "shared"
#: The reference side is one long-lived node process, so that its rounds can alternate with ours:
#: it warms up like ``bench.mjs``'s compile phase (3 untimed compiles per input, 1 when a compile
#: takes over 2 s), then answers each line ``<group index>`` on stdin with one timed round.
MJS = """
import fs from 'fs';
import readline from 'readline';
import { %(fn)s as compile } from %(module)s;
const groups = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
  .map((g) => g.files.map((f) => fs.readFileSync(f, 'utf8')));
const once = async (sources) => { for (const s of sources) await compile(s%(options)s); };
for (const sources of groups) {
  const t = performance.now(); await once(sources);
  const warm = performance.now() - t > 2000 ? 1 : 3;
  for (let i = 0; i < warm; i++) await once(sources);
}
console.log('ready');
for await (const line of readline.createInterface({ input: process.stdin })) {
  const sources = groups[Number(line)];
  const c = process.cpuUsage(); const t = performance.now();
  await once(sources);
  const wall = performance.now() - t;
  const d = process.cpuUsage(c);
  console.log(JSON.stringify({ wall, cpu: (d.user + d.system) / 1000 }));
}
"""
#: One fresh node process: module load, then one compile (the fresh-process measure).
MJS_FRESH = """
const ms = (c) => (c.user + c.system) / 1000;
const c0 = process.cpuUsage();
const { %(fn)s: compile } = await import(%(module)s);
const c1 = process.cpuUsage();
const src = (await import('fs')).readFileSync(process.argv[2], 'utf8');
const c2 = process.cpuUsage();
await compile(src%(options)s);
const c3 = process.cpuUsage();
console.log(JSON.stringify({ import: ms(c1) - ms(c0), compile: ms(c3) - ms(c2) }));
"""
#: One fresh Python process: import of the compiler, then one compile (the fresh-process measure).
PY_FRESH = """
import sys, time, json
t0 = time.process_time()
from manifest_lang.compiler.api import compile_source
t1 = time.process_time()
src = open(sys.argv[1], encoding="utf-8").read()
t2 = time.process_time()
compile_source(src)
t3 = time.process_time()
print(json.dumps({"import": (t1 - t0) * 1000, "compile": (t3 - t2) * 1000}))
"""


def find_reference_compiler(ref: Path) -> tuple[Path, str, bool] | None:
    """(module file, exported compile function, accepts useCache) from the package's declarations."""
    package_dir = ref / "node_modules" / "@angriff36" / "manifest"
    try:
        package = json.loads((package_dir / "package.json").read_text())
    except (OSError, ValueError):
        return None
    exports = package.get("exports") or {}
    for subpath, target in exports.items():
        if "compiler" not in subpath or not isinstance(target, dict):
            continue
        types, module = target.get("types"), target.get("import")
        if not types or not module:
            continue
        try:
            declarations = (package_dir / types).read_text()
        except OSError:
            continue
        match = re.search(r"export declare function (\w*[Cc]ompile\w*)\(source: string", declarations)
        if match:
            return package_dir / module, match.group(1), "useCache" in declarations
    return None


def large_models(sizes: list[int], ref: Path, tmp: Path) -> list[tuple[str, Path]]:
    models = []
    for n in sizes:
        places = [SHARED / "bench" / "scenarios", ref / "scenarios"]
        if os.environ.get("MANIFEST_BENCH_SCENARIOS"):
            places.insert(0, Path(os.environ["MANIFEST_BENCH_SCENARIOS"]))
        path = next((p / f"large_{n}.manifest" for p in places if (p / f"large_{n}.manifest").exists()), None)
        if path is None:
            path = tmp / f"large_{n}.manifest"
            with path.open("w") as handle:
                subprocess.run(
                    [sys.executable, str(SHARED / "bench" / "gen_large.py"), "--n", str(n), "--out", "-"],
                    check=True,
                    stdout=handle,
                )
        models.append((f"large_{n}", path))
    return models


def own_shapes(tmp: Path) -> list[tuple[str, list[Path]]]:
    """Inputs of other shapes than ``gen_large.py``'s, so a speed-up is not tuned to one file:
    many small models, a few very long commands, and deep expressions (parentheses, long chains)."""
    small = tmp / "small"
    small.mkdir()
    files = []
    for i in range(300):
        path = small / f"m{i:03d}.manifest"
        path.write_text(
            f"entity Item{i} {{\n  property required id: string\n  property qty: number = {i}\n"
            f'  property label: string = "item {i}"\n'
            f"  command bump(by: number) {{\n    guard by > 0\n    mutate qty = self.qty + by\n"
            f"    emit Bumped{i}\n  }}\n}}\nevent Bumped{i}: {{ id: string }}\n"
        )
        files.append(path)
    long_cmds = ["entity Long {", "  property required id: string"]
    long_cmds += [f"  property p{k}: number = 0" for k in range(60)]
    for c in range(40):
        long_cmds.append(f"  command c{c}(a: number, b: number) {{")
        long_cmds += [f"    guard a + {k} > b - {k}" for k in range(30)]
        long_cmds += [f"    mutate p{k} = self.p{k} + a * {k} - b" for k in range(60)]
        long_cmds.append("  }")
    long_cmds.append("}")
    deep = ["entity Deep {", "  property required id: string", "  property x: number = 0"]
    for c in range(200):
        nested = "self.x"
        for k in range(25):
            nested = f"({nested} + {k}) * 2"
        chain = " and ".join(f"x > {k}" for k in range(40))
        deep.append(f"  command d{c}(x: number) {{")
        deep.append(f"    guard {chain}")
        deep.append(f"    mutate x = {nested}")
        deep.append("  }")
    deep.append("}")
    shapes = [("small_models (300 files)", files)]
    for name, lines in (("long_commands", long_cmds), ("deep_expressions", deep)):
        path = tmp / f"{name}.manifest"
        path.write_text("\n".join(lines) + "\n")
        shapes.append((name, [path]))
    return shapes


Timing = dict[str, list[float]]


class Ours:
    """Our side of the in-process measure: the same warm-up as the reference's, then one round per call."""

    def __init__(self, groups: list[tuple[str, list[Path]]]) -> None:
        self.sources = [[f.read_text(encoding="utf-8") for f in files] for _, files in groups]
        for (name, _files), sources in zip(groups, self.sources, strict=True):
            if not name.startswith("fixtures") and any(compile_source(s).ir is None for s in sources):
                raise SystemExit(f"compile_bench: {name} does not compile with ours")
            start = time.perf_counter()
            self._once(sources)
            for _ in range(1 if time.perf_counter() - start > 2 else 3):
                self._once(sources)

    @staticmethod
    def _once(sources: list[str]) -> None:
        for source in sources:
            compile_source(source)

    def round(self, index: int) -> tuple[float, float]:
        start, start_cpu = time.perf_counter(), time.process_time()
        self._once(self.sources[index])
        return (time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000


class Reference:
    """The reference's side: one node process (see ``MJS``), or None when node or the package is missing."""

    def __init__(self, groups: list[tuple[str, list[Path]]], ref: Path, tmp: Path) -> None:
        found = find_reference_compiler(ref)
        node = shutil.which("node")
        self.proc: subprocess.Popen[str] | None = None
        self.node, self.fresh_script = node or "node", None
        if found is None or node is None:
            print(f"(reference compiler not available: node={node}, package under {ref})", file=sys.stderr)
            return
        module, fn, use_cache = found
        fields = {
            "fn": fn,
            "module": json.dumps(module.as_uri()),
            "options": ", { useCache: false }" if use_cache else "",
        }
        self.fresh_script = tmp / "ref_fresh.mjs"
        self.fresh_script.write_text(MJS_FRESH % fields)
        script = tmp / "ref_compile.mjs"
        script.write_text(MJS % fields)
        listing = tmp / "inputs.json"
        listing.write_text(json.dumps([{"name": n, "files": [str(f) for f in files]} for n, files in groups]))
        self.proc = subprocess.Popen(
            [node, str(script), str(listing)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            print("(reference run failed to start)", file=sys.stderr)
            self.proc = None

    def round(self, index: int) -> tuple[float, float] | None:
        if self.proc is None:
            return None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{index}\n")
        self.proc.stdin.flush()
        data = json.loads(self.proc.stdout.readline())
        return float(data["wall"]), float(data["cpu"])

    def close(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            self.proc.wait()


def fresh_process(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """One child process: its whole CPU time (start-up included, from the OS) and its own report
    of the CPU time of the compiler's import and of the one compile (node's includes its helper
    threads, as everywhere in this script)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    report: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"process_cpu": cpu, "process_wall": wall, **report}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds per input (median reported)")
    parser.add_argument("--sizes", default="10,100,1000", help="generated model sizes (entities)")
    parser.add_argument(
        "--ref",
        type=Path,
        default=Path(os.environ.get("MANIFEST_REFBENCH", Path(__file__).resolve().parents[2] / "refbench")),
        help="reference bench dir",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 10,100, no extra shapes, one round")
    parser.add_argument("--no-shapes", action="store_true", help="skip the extra shapes (small/long/deep)")
    parser.add_argument("--fresh", type=int, default=3, help="fresh-process runs per model (0: skip)")
    parser.add_argument("--phases", action="store_true", help="our CPU time per phase on the largest model")
    args = parser.parse_args()
    runs = 1 if args.quick else max(1, args.runs)
    sizes = [10, 100] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fixtures = sorted((SHARED / "conformance" / "fixtures").glob("*.manifest"))
        groups = [(f"fixtures ({len(fixtures)} files)", fixtures)]
        groups += [(name, [path]) for name, path in large_models(sizes, args.ref, tmp)]
        if not (args.quick or args.no_shapes):
            groups += own_shapes(tmp)
        ours_side, ref_side = Ours(groups), Reference(groups, args.ref, tmp)
        ours: dict[str, Timing] = {name: {"wall": [], "cpu": []} for name, _ in groups}
        theirs: dict[str, Timing] = {name: {"wall": [], "cpu": []} for name, _ in groups}
        try:
            for _ in range(runs):  # alternating: ours, reference, ours, reference...
                for index, (name, _) in enumerate(groups):
                    for side, result in ((ours, ours_side.round(index)), (theirs, ref_side.round(index))):
                        if result is not None:
                            side[name]["wall"].append(result[0])
                            side[name]["cpu"].append(result[1])
        finally:
            ref_side.close()
        report(groups, ours, {k: v for k, v in theirs.items() if v["cpu"]})
        if args.fresh and not args.quick:
            report_fresh(groups, args.fresh, ref_side)
        if args.phases:
            name, files = groups[-1]
            report_phases(name, files[0].read_text(encoding="utf-8"), runs)


def report(groups: list[tuple[str, list[Path]]], ours: dict[str, Timing], theirs: dict[str, Timing]) -> None:
    """Median wall and CPU ms; the ratio uses CPU time (the machine is shared, wall time is noisy).

    Node's CPU time includes its GC/JIT helper threads, so its CPU figure is a slight overstatement.
    """
    print("in process, warmed up, as bench.mjs's compile phase (median ms of alternating rounds):")
    print(
        f"{'input':<26}{'lines':>8}{'ours wall':>11}{'ref wall':>10}{'ours cpu':>10}{'ref cpu':>10}"
        f"{'ratio cpu':>11}{'ratio wall':>11}"
    )
    growth: list[tuple[int, float]] = []
    for name, files in groups:
        lines = sum(f.read_text(encoding="utf-8").count("\n") for f in files)
        mine, ref = ours[name], theirs.get(name)
        our_wall, our_cpu = statistics.median(mine["wall"]), statistics.median(mine["cpu"])
        ref_wall = statistics.median(ref["wall"]) if ref else None
        ref_cpu = statistics.median(ref["cpu"]) if ref else None
        row = [our_wall, ref_wall, our_cpu, ref_cpu]
        cells = "".join(f"{v:>10.1f}" if v is not None else f"{'-':>10}" for v in row)
        ratio_cpu = f"{our_cpu / ref_cpu:.2f}" if ref_cpu else "-"
        ratio_wall = f"{our_wall / ref_wall:.2f}" if ref_wall else "-"
        print(f"{name:<26}{lines:>8} {cells}{ratio_cpu:>11}{ratio_wall:>11}")
        if name.startswith("large_"):
            growth.append((int(name.split("_")[1]), our_cpu))
    if len(growth) >= 2:
        print("growth (ours, CPU ms per entity): " + ", ".join(f"N={n}: {ms / n:.2f}" for n, ms in growth))
    print("ratio = ours / reference (< 1: we are faster)")


def report_fresh(groups: list[tuple[str, list[Path]]], runs: int, ref: Reference) -> None:
    """A new process per run that loads the compiler and compiles one model once (medians)."""
    print(
        "\nfresh process, one compile (median CPU ms: the compiler's import, the first compile, and "
        "the child's whole CPU time incl. interpreter start-up):"
    )
    print(
        f"{'input':<26}{'ours import':>12}{'ref import':>11}{'ours 1st':>10}{'ref 1st':>10}"
        f"{'ours process':>13}{'ref process':>12}{'ratio':>7}"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for name, files in groups:
        if len(files) != 1:
            continue
        ours_runs, ref_runs = [], []
        for _ in range(runs):  # alternating
            ours_runs.append(fresh_process([sys.executable, "-c", PY_FRESH, str(files[0])], env))
            if ref.fresh_script is not None:
                ref_runs.append(fresh_process([ref.node, str(ref.fresh_script), str(files[0])]))
        cells = []
        for key in ("import", "compile", "process_cpu"):
            cells.append(statistics.median(r[key] for r in ours_runs))
            cells.append(statistics.median(r[key] for r in ref_runs) if ref_runs else None)
        text = "".join(f"{v:>11.1f} " if v is not None else f"{'-':>11} " for v in cells)
        ratio = f"{cells[4] / cells[5]:.2f}" if cells[5] else "-"
        print(f"{name:<26}{text}{ratio:>7}", flush=True)


def report_phases(name: str, source: str, runs: int) -> None:
    """Median CPU ms of lexing, parsing, lowering + checks and provenance (irHash) for one model."""
    timings: dict[str, list[float]] = {"lex": [], "parse": [], "lower+checks": [], "irHash": []}
    gc.disable()  # as compile_source does
    try:
        for _ in range(runs):
            marks = [time.process_time()]
            tokens = tokenize(source).tokens
            marks.append(time.process_time())
            program = Parser(tokens).parse_program()
            marks.append(time.process_time())
            ir = Pipeline(program, DiagnosticSink()).run()
            marks.append(time.process_time())
            build_provenance(source, __version__, dict(ir or {}))
            marks.append(time.process_time())
            for values, start, end in zip(timings.values(), marks, marks[1:], strict=False):
                values.append((end - start) * 1000)
    finally:
        gc.enable()
    medians = ", ".join(f"{phase} {statistics.median(v):.0f}" for phase, v in timings.items())
    print(f"{name} phases (ours, CPU ms): {medians}")


if __name__ == "__main__":
    main()
