"""The differential fuzzer (tools/difftest) against the reference runtime the repo pins.

A bounded run: a fixed list of run seeds plus one derived from the commit being tested, about
300 cases in all; any divergence beyond docs/differences.md fails, naming the reproducer file
(``python -m tools.difftest --replay FILE`` runs it again). Without node/npm it is skipped with
the reason; under ``CI=true`` it must run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.difftest.__main__ import case_seeds, run  # noqa: E402
from tools.difftest.generate import generate_case  # noqa: E402
from tools.difftest.reference import Reference, ReferenceUnavailable, ensure_installed  # noqa: E402

FIXED_SEEDS = (1, 2, 3, 4, 5)
CASES_PER_SEED = 50


def _commit_seed() -> int:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    head = proc.stdout.strip() if proc.returncode == 0 else "no-git"
    return int(hashlib.sha256(head.encode()).hexdigest()[:8], 16)


def test_generated_cases_agree_with_the_reference(tmp_path: Path) -> None:
    try:
        ensure_installed()
    except ReferenceUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: the reference must run)")
        pytest.skip(str(exc))
    seeds = [s for run_seed in (*FIXED_SEEDS, _commit_seed()) for s in case_seeds(run_seed, CASES_PER_SEED)]
    failures, tally = run(seeds, tmp_path, progress=False, max_failures=3)
    reproducers = sorted(p.name for p in tmp_path.glob("*.json"))
    assert failures == 0, (
        f"{failures} divergent case(s), reproducers {reproducers} in {tmp_path}; tally {dict(tally)}"
    )


def test_a_planted_divergence_is_found_and_shrunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: answers of ours altered on purpose (a successful command given
    override requests) must be reported, and the reproducer cut down to the operations and model
    lines that matter."""
    try:
        ensure_installed()
    except ReferenceUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: the reference must run)")
        pytest.skip(str(exc))
    from tools.difftest import compare

    honest = compare.run_ours

    def planted(case: dict[str, Any]) -> dict[str, Any]:
        answers = honest(case)
        for op, answer in zip(case["ops"], answers["results"], strict=True):
            value = answer.get("value")
            if op["op"] == "run" and op.get("overrides") and isinstance(value, dict) and value.get("success"):
                value["planted"] = True
        return answers

    monkeypatch.setattr(compare, "run_ours", planted)
    failures, _ = run(case_seeds(99, 300), tmp_path, progress=False, max_failures=1)
    assert failures == 1
    (path,) = tmp_path.glob("*.json")
    small = json.loads(path.read_text())
    assert small["ops"][-1]["op"] == "run" and small["ops"][-1].get("overrides")
    assert len(small["ops"]) <= 3
    assert len(small["source"].splitlines()) < len(generate_case(int(path.stem))["source"].splitlines())
    with Reference() as ref:
        assert "planted" in compare.check(ref, small).reason  # the file replays the divergence
