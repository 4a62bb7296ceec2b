"""The comparison table of ``runtime_bench.py``: our figures, the reference's, and ours/reference."""

from __future__ import annotations

import copy
import statistics
from typing import Any

#: (label, path in our result, path in the reference result, higher is better)
METRICS: list[tuple[str, str, str, bool]] = [
    ("compile cold median (ms)", "compile.medianMs", "compile.medianMs", False),
    ("CompiledModel build, once per IR (ms)", "compile.compiledModelMs", "compile.compiledModelMs", False),
    ("engine construction (ms)", "compile.engineConstructMedianMs", "compile.engineConstructMedianMs", False),
    ("hot (ops/s)", "hot.opsPerSec", "hot.opsPerSec", True),
    ("hot p50 latency (us)", "hot.latencyUs.p50", "hot.latencyUs.p50", False),
    ("hot p99 latency (us)", "hot.latencyUs.p99", "hot.latencyUs.p99", False),
    ("10k round-robin (ops/s)", "rr.opsPerSec", "rr.opsPerSec", True),
    ("rr p50 latency (us)", "rr.latencyUs.p50", "rr.latencyUs.p50", False),
    ("seed createInstance (/s)", "rr.seedPerSec", "rr.seedPerSec", True),
    ("+ idempotency, unique keys (ops/s)", "idem.unique.opsPerSec", "idem.unique.opsPerSec", True),
    ("unique keys p50 latency (us)", "idem.unique.latencyUs.p50", "idem.unique.latencyUs.p50", False),
    ("+ idempotency, replay (ops/s)", "idem.replay.opsPerSec", "idem.replay.opsPerSec", True),
    ("+ correlation/causation (ops/s)", "corr.opsPerSec", "corr.opsPerSec", True),
    ("corr p50 latency (us)", "corr.latencyUs.p50", "corr.latencyUs.p50", False),
    ("memory: create (/s)", "memory.createPerSec", "memory.createPerSec", True),
    ("memory: heap bytes/instance", "memory.heapBytesPerInstance", "memory.heapBytesPerInstance", False),
    (
        "memory: RSS bytes/instance (vs V8 heap)",
        "memory.rssBytesPerInstance",
        "memory.heapBytesPerInstance",
        False,
    ),
    ("memory: peak RSS (MB)", "memory.peakRssMB", "memory.peakRssMB", False),
    (
        "eventlog: filter by correlation (ms)",
        "eventlog.filterByCorrelationMedianMs",
        "eventlog.filterByCorrelationMedianMs",
        False,
    ),
    (
        "eventlog: indexed lookup vs ref filter (ms)",
        "eventlog.indexedLookupMedianMs",
        "eventlog.filterByCorrelationMedianMs",
        False,
    ),
    ("eventlog: heap bytes/event", "eventlog.heapBytesPerEvent", "eventlog.heapBytesPerEvent", False),
]


def dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def median_of_runs(runs: list[dict[str, Any]], side: int) -> dict[str, Any] | None:
    """One result whose METRICS values are the medians over ``runs`` (side 1: ours paths, 2: reference)."""
    present = [r for r in runs if r]
    if not present:
        return None
    merged = copy.deepcopy(present[0])
    for metric in METRICS:
        path = metric[side]
        values = [v for v in (dig(r, path) for r in present) if isinstance(v, int | float)]
        if values:
            _set(merged, path, statistics.median(values))
    return merged


def ratios(ours: dict[str, Any], ref: dict[str, Any] | None) -> dict[str, float]:
    """ours/reference for every metric both sides measured (see METRICS for which way is better)."""
    out: dict[str, float] = {}
    if not ref:
        return out
    for label, ours_path, ref_path, _ in METRICS:
        a, b = dig(ours, ours_path), dig(ref, ref_path)
        if isinstance(a, int | float) and isinstance(b, int | float) and b:
            out[label] = round(a / b, 3)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_table(name: str, ours: dict[str, Any], ref: dict[str, Any] | None) -> None:
    r = ratios(ours, ref)
    print(f"\n## {name}  (IR from {ours.get('irSource')}; {ours.get('build')})")
    if ref and ref.get("error"):
        print(f"reference: {ref['error']}")
    if ref and ref.get("validation") and not ref["validation"].get("ok"):
        print(f"reference validation MISMATCH: {ref['validation'].get('mismatches')}")
    if not ours["validation"]["ok"]:
        print(f"ours: validation MISMATCH {ours['validation']['mismatches']} (exit 3)")
        return
    rows = [("metric", "ours", "reference", "ours/ref", "better")]
    for label, ours_path, ref_path, higher in METRICS:
        a, b = dig(ours, ours_path), dig(ref, ref_path) if ref else None
        if a is None and b is None:
            continue
        ratio = r.get(label)
        rows.append(
            (
                label,
                _fmt(a),
                _fmt(b),
                f"{ratio:.2f}x" if ratio is not None else "-",
                "higher" if higher else "lower",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


#: the columns of the closing summary: (heading, METRICS label). The p50 columns (reference
#: latency / ours) hold up on a loaded machine, where one descheduling of a process moves the
#: throughput of a whole phase.
SUMMARY: list[tuple[str, str]] = [
    ("hot", "hot (ops/s)"),
    ("rr", "10k round-robin (ops/s)"),
    ("idem", "+ idempotency, unique keys (ops/s)"),
    ("replay", "+ idempotency, replay (ops/s)"),
    ("corr", "+ correlation/causation (ops/s)"),
    ("hot p50", "hot p50 latency (us)"),
    ("rr p50", "rr p50 latency (us)"),
    ("idem p50", "unique keys p50 latency (us)"),
    ("corr p50", "corr p50 latency (us)"),
    ("compile", "compile cold median (ms)"),
]


def print_summary(rows: list[tuple[str, dict[str, float]]]) -> None:
    """One line per scenario: ours/reference of each throughput phase (times: reference/ours)."""
    present = [(h, label) for h, label in SUMMARY if any(label in r for _, r in rows)]
    print("\n## summary: ours/reference (> 1 means we are faster)")
    print("| scenario | " + " | ".join(h for h, _ in present) + " |")
    print("|---|" + "---|" * len(present))
    for name, r in rows:
        cells = []
        for heading, label in present:
            value = r.get(label)
            if value and (heading == "compile" or heading.endswith("p50")):
                value = 1 / value  # a time: lower is better
            cells.append(f"{value:.2f}" if value else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
