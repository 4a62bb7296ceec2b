"""Differential check against the published reference compiler, run as a black box.

Needs ``node``; the reference package is the one the repo pins (``tools/reference``, installed
with ``npm ci`` on first use). Without node or npm the test is skipped with the reason, and under
``CI=true`` that is a failure. The pinned package (3.4.x) predates the conformance
suite's compiler (3.6.45), so only models whose output both versions agree on are compared: the
checked-in data models and the seed rewrites.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
MODELS = [HERE / "data" / f"{n}.manifest" for n in ("blog", "tiny", "vnext", "misc")]
MODELS += sorted((HERE / "seed").glob("*.reference.manifest"))
SCRIPT = """
import fs from 'fs';
import { compileToIR } from %s;
const out = [];
for (const f of process.argv.slice(2)) {
  const r = await compileToIR(fs.readFileSync(f, 'utf8'), { useCache: false });
  out.push({ ir: r.ir, diagnostics: r.diagnostics.filter((d) => d.severity !== 'info') });
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def reference_outputs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from tools.difftest.reference import ReferenceUnavailable, ensure_installed, node_binary

    try:
        module = ensure_installed() / "dist" / "manifest" / "ir-compiler.js"
        node = node_binary()
    except ReferenceUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: the reference must run)")
        pytest.skip(str(exc))
    script = tmp_path_factory.mktemp("ref") / "compile.mjs"
    script.write_text(SCRIPT % json.dumps(module.as_uri()))
    proc = subprocess.run([node, str(script), *map(str, MODELS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outputs: list[dict[str, Any]] = json.loads(proc.stdout)
    return outputs


@pytest.mark.parametrize("index", range(len(MODELS)), ids=[m.name for m in MODELS])
def test_same_ir_and_diagnostics_as_reference(index: int, reference_outputs: list[dict[str, Any]]) -> None:
    reference = reference_outputs[index]
    ours = compile_source(MODELS[index].read_text())
    assert [d.to_dict() for d in ours.diagnostics] == reference["diagnostics"]
    if reference["ir"] is None:
        assert ours.ir is None
        return
    assert ours.ir is not None
    strip = lambda ir: {k: v for k, v in ir.items() if k != "provenance"}  # noqa: E731
    assert strip(ours.ir) == strip(reference["ir"])
