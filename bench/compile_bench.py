"""Compile-time benchmark: our compiler vs the reference compiler, measured in one run.

    python bench/compile_bench.py                 # fixtures + large_10/100/1000, 3 runs each
    python bench/compile_bench.py --quick         # fixtures + large_10/100, 1 run
    python bench/compile_bench.py --runs 7 --ref /path/to/refbench
    python bench/compile_bench.py --phases        # also: where our time goes on the largest model

Inputs: every conformance fixture (timed as one batch) and the generated models
``large_N.manifest`` (``$MANIFEST_BENCH_SCENARIOS``, default ``../shared/bench/scenarios`` beside the repo; ``large_1000`` is generated with
``gen_large.py --n 1000 --out -`` into a temp dir when absent). When ``node`` and the reference
package are available (``--ref``, default ``$MANIFEST_REFBENCH`` or ``../refbench`` beside the repo), a tiny .mjs script written to a
temp dir imports the package's exported compile function (found from the package's ``exports``
and type declarations) and times the same inputs: black-box use only.
Not a test: it prints a table with the ratio ours/reference (< 1 means we are faster).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
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
MJS = """
import fs from 'fs';
import { %(fn)s as compile } from %(module)s;
const [listFile, runs] = [process.argv[2], Number(process.argv[3])];
const out = {};
for (const group of JSON.parse(fs.readFileSync(listFile, 'utf8'))) {
  const sources = group.files.map((f) => fs.readFileSync(f, 'utf8'));
  const once = async () => { for (const s of sources) await compile(s%(options)s); };
  await once();
  const wall = [], cpu = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage(); const t = performance.now();
    await once();
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c); cpu.push((d.user + d.system) / 1000);
  }
  out[group.name] = { wall, cpu };
}
console.log(JSON.stringify(out));
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


def large_models(sizes: list[int], tmp: Path) -> list[tuple[str, Path]]:
    models = []
    for n in sizes:
        path = SHARED / "bench" / "scenarios" / f"large_{n}.manifest"
        if not path.exists():
            path = tmp / f"large_{n}.manifest"
            with path.open("w") as handle:
                subprocess.run(
                    [sys.executable, str(SHARED / "bench" / "gen_large.py"), "--n", str(n), "--out", "-"],
                    check=True,
                    stdout=handle,
                )
        models.append((f"large_{n}", path))
    return models


Timing = dict[str, list[float]]


def time_ours(files: list[Path], runs: int) -> Timing:
    sources = [f.read_text(encoding="utf-8") for f in files]
    for source in sources:  # warm-up (imports, caches)
        compile_source(source)
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        for source in sources:
            compile_source(source)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return {"wall": wall, "cpu": cpu}


def time_reference(
    groups: list[tuple[str, list[Path]]], runs: int, ref: Path, tmp: Path
) -> dict[str, Timing]:
    found = find_reference_compiler(ref)
    node = shutil.which("node")
    if found is None or node is None:
        print(f"(reference compiler not available: node={node}, package under {ref})", file=sys.stderr)
        return {}
    module, fn, use_cache = found
    script = tmp / "ref_compile.mjs"
    script.write_text(
        MJS
        % {
            "fn": fn,
            "module": json.dumps(module.as_uri()),
            "options": ", { useCache: false }" if use_cache else "",
        }
    )
    listing = tmp / "inputs.json"
    listing.write_text(
        json.dumps([{"name": name, "files": [str(f) for f in files]} for name, files in groups])
    )
    proc = subprocess.run([node, str(script), str(listing), str(runs)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"(reference run failed: {proc.stderr.strip()[:300]})", file=sys.stderr)
        return {}
    data: dict[str, Timing] = json.loads(proc.stdout)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per input (median reported)")
    parser.add_argument("--sizes", default="10,100,1000", help="generated model sizes (entities)")
    parser.add_argument(
        "--ref",
        type=Path,
        default=Path(os.environ.get("MANIFEST_REFBENCH", Path(__file__).resolve().parents[2] / "refbench")),
        help="reference bench dir",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 10,100 and one run")
    parser.add_argument("--phases", action="store_true", help="our CPU time per phase on the largest model")
    args = parser.parse_args()
    runs = 1 if args.quick else max(1, args.runs)
    sizes = [10, 100] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fixtures = sorted((SHARED / "conformance" / "fixtures").glob("*.manifest"))
        groups = [(f"fixtures ({len(fixtures)} files)", fixtures)]
        groups += [(name, [path]) for name, path in large_models(sizes, tmp)]
        ours = {name: time_ours(files, runs) for name, files in groups}
        theirs = time_reference(groups, runs, args.ref, tmp)
        report(groups, ours, theirs)
        if args.phases:
            name, files = groups[-1]
            report_phases(name, files[0].read_text(encoding="utf-8"), runs)


def report(groups: list[tuple[str, list[Path]]], ours: dict[str, Timing], theirs: dict[str, Timing]) -> None:
    """Median wall and CPU ms; the ratio uses CPU time (the machine is shared, wall time is noisy).

    Node's CPU time includes its GC/JIT helper threads, so its CPU figure is a slight overstatement.
    """
    print(
        f"{'input':<22}{'lines':>8}{'ours wall':>11}{'ref wall':>10}{'ours cpu':>10}{'ref cpu':>10}"
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
        cells = "".join(f"{v:>10.0f}" if v is not None else f"{'-':>10}" for v in row)
        ratio_cpu = f"{our_cpu / ref_cpu:.2f}" if ref_cpu else "-"
        ratio_wall = f"{our_wall / ref_wall:.2f}" if ref_wall else "-"
        print(f"{name:<22}{lines:>8} {cells}{ratio_cpu:>11}{ratio_wall:>11}")
        if name.startswith("large_"):
            growth.append((int(name.split("_")[1]), our_cpu))
    if len(growth) >= 2:
        print("growth (ours, CPU ms per entity): " + ", ".join(f"N={n}: {ms / n:.2f}" for n, ms in growth))
    print("ratio = ours / reference (< 1: we are faster)")


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
