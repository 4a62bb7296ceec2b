"""Differential check against the published reference compiler, run as a black box.

Needs ``node`` and the reference package (``MANIFEST_REFBENCH`` or ``/work/refbench``); skipped,
with the reason, when either is missing. The installed package (3.4.x) predates the conformance
suite's compiler (3.6.45), so only models whose output both versions agree on are compared: the
checked-in data models and the seed rewrites.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source

HERE = Path(__file__).parent
REF = Path(os.environ.get("MANIFEST_REFBENCH", "/work/refbench"))
MODULE = REF / "node_modules" / "@angriff36" / "manifest" / "dist" / "manifest" / "ir-compiler.js"
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
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the reference compiler")
    if not MODULE.exists():
        pytest.skip(f"reference package not found at {MODULE}")
    script = tmp_path_factory.mktemp("ref") / "compile.mjs"
    script.write_text(SCRIPT % json.dumps(MODULE.as_uri()))
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
