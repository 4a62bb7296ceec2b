"""The benchmark harness: its workloads stay valid on our runtime, and its report is well-formed.

Nothing here is timed (speed is measured by ``bench/runtime_bench.py`` itself); these tests make
sure a benchmark run can be trusted: every workload step ends with its expected outcome.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import runtime_bench as rb  # noqa: E402
import runtime_bench_phases as phases  # noqa: E402
from runtime_bench_report import METRICS, dig, median_of_runs, ratios  # noqa: E402

needs_scenarios = pytest.mark.skipif(
    not (rb.SHARED_SCENARIOS / "inventory.workload.json").exists(),
    reason=f"shared bench scenarios not found in {rb.SHARED_SCENARIOS}",
)


@needs_scenarios
@pytest.mark.parametrize("name", ["inventory", "preptask", "large_10", "large_10_last"])
def test_workload_cycles_end_with_their_expected_outcomes(name: str) -> None:
    sc = rb.resolve_scenario(name)
    ir, source = rb.load_ir(sc)
    assert source == "manifest_lang.compile_source"
    result = phases.phase_validate(ir, sc.workload, phases.prepare_cycle(sc.workload))
    assert result["mismatches"] == []
    assert result["ok"]


@pytest.mark.parametrize("name", ["station", "order", "station_refusals", "order_refusals"])
def test_repo_workloads_end_with_their_expected_outcomes(name: str) -> None:
    """bench/scenarios: the workloads the repo keeps (the shared folder has neither model)."""
    sc = rb.resolve_scenario(name)
    assert sc.manifest.parent == rb.REPO_SCENARIOS
    ir, source = rb.load_ir(sc)
    assert source == "manifest_lang.compile_source"
    cycle = phases.prepare_cycle(sc.workload)
    result = phases.phase_validate(ir, sc.workload, cycle)
    assert result["mismatches"] == []
    if name.endswith("_refusals"):
        # refusal-heavy: half the steps refused, of every kind, and the user switched on most steps
        assert result["mix"]["success"] * 2 == len(cycle)
        assert {"guard", "constraint", "policy", "transition"} <= set(result["mix"])
        assert sum(1 for s in sc.workload["cycle"] if "as" in s) >= len(cycle) // 2


def test_repo_scenarios_are_published_into_the_reference_copy(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "scenarios").mkdir()
    stale = tmp_path / "scenarios" / "order.manifest"
    stale.write_text("old")
    monkeypatch.setattr(rb, "REFBENCH", tmp_path)
    rb.publish_repo_scenarios()
    for path in rb.REPO_SCENARIOS.glob("*.workload.json"):
        assert (tmp_path / "scenarios" / path.name).read_bytes() == path.read_bytes()
    assert stale.read_text() == (rb.REPO_SCENARIOS / "order.manifest").read_text()


@needs_scenarios
def test_drive_walks_every_instance_through_the_cycle() -> None:
    sc = rb.resolve_scenario("preptask")
    ir, _ = rb.load_ir(sc)
    cycle = phases.prepare_cycle(sc.workload)
    engine = phases.make_engine(ir, sc.workload)
    ids = phases.seed(engine, sc.workload, 3)
    out = phases.drive(engine, sc.workload, cycle, ids, 3 * len(cycle))
    expected_success = sum(s.expect == "success" for s in cycle) / len(cycle)
    assert out["successRate"] == round(expected_success, 3)
    assert [s["command"] for s in out["perStepMedianUs"]] == [s.command for s in cycle]


def _result(**fields: Any) -> SimpleNamespace:
    base: dict[str, Any] = {
        "success": False,
        "policy_denial": None,
        "parameter_failure": None,
        "guard_failure": None,
        "concurrency_conflict": None,
        "constraint_outcomes": None,
        "error": None,
    }
    return SimpleNamespace(**{**base, **fields})


def test_classify_uses_the_order_of_bench_mjs() -> None:
    blocking = SimpleNamespace(passed=False, overridden=None, severity="block")
    warning = SimpleNamespace(passed=False, overridden=None, severity="warn")
    assert phases.classify(_result(success=True)) == "success"
    assert phases.classify(_result(policy_denial={}, guard_failure={})) == "policy"
    assert phases.classify(_result(guard_failure={"index": 0})) == "guard"
    assert phases.classify(_result(constraint_outcomes=[warning, blocking])) == "constraint"
    assert phases.classify(_result(constraint_outcomes=[warning], error="x")) == "other:x"
    assert phases.classify(_result(error="Invalid state transition from a to b")) == "transition"


def test_round_cycles_and_quick_sizes() -> None:
    assert phases.round_cycles(25, 10) == 30
    assert phases.round_cycles(3, 10) == 10
    assert phases.Sizes().quick() == phases.Sizes(2000, 500, 5000, 5000, 500)


def test_ratios_compare_only_metrics_both_sides_measured() -> None:
    ours = {"hot": {"opsPerSec": 30000}, "memory": {"rssBytesPerInstance": 600}}
    ref = {"hot": {"opsPerSec": 20000}, "memory": {"heapBytesPerInstance": 300}, "rr": {"opsPerSec": 1}}
    assert ratios(ours, ref) == {"hot (ops/s)": 1.5, "memory: RSS bytes/instance (vs V8 heap)": 2.0}
    assert ratios(ours, None) == {}
    assert dig(ours, "hot.opsPerSec") == 30000
    assert dig(ours, "hot.missing.deeper") is None
    assert len({label for label, *_ in METRICS}) == len(METRICS)


def test_cli_rejects_unknown_phases_and_bad_sizes() -> None:
    with pytest.raises(SystemExit):
        rb.parse_args(["inventory", "--only", "hot,bogus"])
    with pytest.raises(SystemExit):
        rb.parse_args(["inventory", "--n", "0"])
    args = rb.parse_args(["preptask", "--quick", "--only", "hot"])
    assert args.only == ["hot"] and args.quick


def test_median_of_runs_takes_each_metric_median_and_keeps_the_rest() -> None:
    runs = [
        {"validation": {"ok": True}, "hot": {"opsPerSec": 10, "latencyUs": {"p50": 3.0}}},
        {"validation": {"ok": True}, "hot": {"opsPerSec": 30, "latencyUs": {"p50": 1.0}}},
        {"validation": {"ok": True}, "hot": {"opsPerSec": 20}},
    ]
    merged = median_of_runs(runs, 1)
    assert merged is not None
    assert merged["hot"]["opsPerSec"] == 20
    assert merged["hot"]["latencyUs"]["p50"] == 2.0
    assert merged["validation"] == {"ok": True}
    assert runs[0]["hot"]["opsPerSec"] == 10  # inputs untouched
    assert median_of_runs([], 2) is None


def test_the_summary_has_one_row_per_scenario_and_inverts_compile(capsys: Any) -> None:
    from runtime_bench_report import print_summary

    print_summary(
        [
            ("station", {"hot (ops/s)": 3.5, "compile cold median (ms)": 0.5}),
            ("order", {"hot (ops/s)": 4.0}),
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1] == "| scenario | hot | compile |"
    assert lines[3] == "| station | 3.50 | 2.00 |"  # a time: reference/ours, > 1 still means faster
    assert lines[4] == "| order | 4.00 | - |"
