"""``python -m tools.difftest --n 10000 --seed S``: differential fuzzing against the reference.

Case k of a run uses seed ``S * 1_000_003 + k``. A divergence is shrunk and written to
``--out`` (default ``difftest-failures/``) as ``<seed>.json``; ``--replay FILE`` runs one again.
Exit status 1 if any case diverged.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from .compare import check, shrink
from .generate import generate_case
from .reference import Reference


def case_seeds(seed: int, n: int) -> list[int]:
    return [seed * 1_000_003 + k for k in range(n)]


def run(
    seeds: list[int], out: Path, *, progress: bool = True, max_failures: int = 5
) -> tuple[int, Counter[str]]:
    """Runs the cases of ``seeds``; returns the number of divergences and the tally of outcomes."""
    tally: Counter[str] = Counter()
    failures = 0
    start = time.monotonic()
    with Reference() as ref:
        for done, seed in enumerate(seeds, 1):
            case = generate_case(seed)
            verdict = check(ref, case)
            if verdict.skipped:
                tally["skipped (no IR)"] += 1
            elif not verdict.ok:
                failures += 1
                tally["diverged"] += 1
                small = shrink(ref, case)
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"{seed}.json"
                path.write_text(json.dumps(small, indent=2) + "\n")
                print(f"\nseed {seed}: {check(ref, small).reason}\n  reproducer: {path}", file=sys.stderr)
                if failures >= max_failures:
                    break
            elif verdict.accepted_by:
                tally[f"accepted: {verdict.accepted_by}"] += 1
            else:
                tally["equal"] += 1
            if progress and (done % 50 == 0 or done == len(seeds)):
                rate = done / max(time.monotonic() - start, 1e-9)
                print(
                    f"\r{done}/{len(seeds)} cases, {failures} divergent, {rate:.0f}/s",
                    end="",
                    file=sys.stderr,
                )
    if progress:
        print(file=sys.stderr)
    return failures, tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.difftest", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="number of cases")
    parser.add_argument("--seed", type=int, default=1, help="run seed (case seeds derive from it)")
    parser.add_argument("--out", type=Path, default=Path("difftest-failures"), help="reproducer folder")
    parser.add_argument("--max-failures", type=int, default=5, help="stop after this many divergences")
    parser.add_argument("--replay", type=Path, help="run one reproducer file and show the verdict")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the engine's notes on blocked writes are expected here
    if args.replay is not None:
        case = json.loads(args.replay.read_text())
        with Reference() as ref:
            verdict = check(ref, case)
        print("equal" if verdict.ok else f"diverges: {verdict.reason}")
        return 0 if verdict.ok else 1
    failures, tally = run(case_seeds(args.seed, args.n), args.out, max_failures=args.max_failures)
    for name, count in sorted(tally.items()):
        print(f"{count:6d}  {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
