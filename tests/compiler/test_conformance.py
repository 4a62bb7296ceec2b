"""Conformance: compile every fixture and check it exactly as the conformance README says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from manifest_lang.compiler.api import compile_source
from manifest_lang.compiler.provenance import compute_ir_hash

HERE = Path(__file__).resolve().parents[2]
FIXTURES = sorted((HERE.parent / "shared" / "conformance" / "fixtures").glob("*.manifest"))
NORMALISED = {
    "compiledAt": "2024-01-01T00:00:00.000Z",
    "contentHash": "normalized-content-hash",
    "irHash": "normalized-ir-hash",
    "compilerVersion": "normalized-compiler-version",
}


def normalise(ir: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(ir))
    copy["provenance"].update(NORMALISED)
    return copy


@pytest.fixture(scope="module")
def schema(conformance_dir: Path) -> dict[str, Any]:
    return json.loads((conformance_dir / "ir-v1.schema.json").read_text())


@pytest.mark.parametrize("fixture", [f.stem for f in FIXTURES])
def test_fixture_compiles_as_expected(fixture: str, conformance_dir: Path, schema: dict[str, Any]) -> None:
    source = (conformance_dir / "fixtures" / f"{fixture}.manifest").read_text(encoding="utf-8")
    result = compile_source(source)
    diagnostics_file = conformance_dir / "expected" / f"{fixture}.diagnostics.json"
    if diagnostics_file.exists():
        expected = json.loads(diagnostics_file.read_text())
        if expected.get("shouldFail"):
            assert result.ir is None
            assert any(d.severity == "error" for d in result.diagnostics)
        elif result.ir is not None:
            jsonschema.validate(result.ir, schema)
        actual = [d.to_dict() for d in result.diagnostics]
        assert len(actual) == len(expected["diagnostics"]), actual
        for got, want in zip(actual, expected["diagnostics"], strict=True):
            for key in ("severity", "message", "line", "column", "code"):
                if key in want or key in ("severity", "message"):
                    assert got.get(key) == want[key], (key, got, want)
        return
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    assert result.ir is not None
    jsonschema.validate(result.ir, schema)
    expected_ir = json.loads((conformance_dir / "expected" / f"{fixture}.ir.json").read_text())
    assert normalise(result.ir) == normalise(expected_ir)


def test_fixture_04_is_stable_across_compiles(conformance_dir: Path) -> None:
    source = (conformance_dir / "fixtures" / "04-command-mutate-emit.manifest").read_text()
    irs = [normalise(compile_source(source).ir or {}) for _ in range(3)]
    assert irs[0] == irs[1] == irs[2]


def test_ir_hash_matches_provenance(conformance_dir: Path) -> None:
    source = (conformance_dir / "fixtures" / "04-command-mutate-emit.manifest").read_text()
    ir = compile_source(source).ir
    assert ir is not None
    assert compute_ir_hash(ir) == ir["provenance"]["irHash"]


@pytest.mark.parametrize("fixture", [f.stem for f in FIXTURES])
def test_superset_does_not_change_conformance(fixture: str, conformance_dir: Path) -> None:
    """The seed-syntax extension gives the same result as the strict reference grammar."""
    source = (conformance_dir / "fixtures" / f"{fixture}.manifest").read_text(encoding="utf-8")
    extended, strict = compile_source(source), compile_source(source, strict=True)
    assert extended.diagnostics == strict.diagnostics
    assert (extended.ir is None) == (strict.ir is None)
    if extended.ir is not None and strict.ir is not None:
        assert normalise(extended.ir) == normalise(strict.ir)
