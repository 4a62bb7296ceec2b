"""The seed document's syntax is a strict superset: it compiles to the IR of its reference rewrite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source
from manifest_lang.syntax.parser import parse

SEED = Path(__file__).parent / "seed"


def without_provenance(ir: dict[str, Any] | None) -> dict[str, Any]:
    assert ir is not None
    return {k: v for k, v in json.loads(json.dumps(ir)).items() if k != "provenance"}


@pytest.mark.parametrize("name", ["inventory_item", "prep_task"])
def test_seed_block_lowers_to_the_ir_of_its_reference_rewrite(name: str) -> None:
    seed = compile_source((SEED / f"{name}.seed.manifest").read_text())
    rewrite = compile_source((SEED / f"{name}.reference.manifest").read_text())
    assert seed.diagnostics == [] and rewrite.diagnostics == []
    assert without_provenance(seed.ir) == without_provenance(rewrite.ir)


@pytest.mark.parametrize("name", ["inventory_item", "prep_task"])
def test_seed_syntax_is_rejected_in_reference_mode(name: str) -> None:
    """The extension is opt-out: strict mode reproduces the reference's parse errors."""
    result = parse((SEED / f"{name}.seed.manifest").read_text(), extended=False)
    assert [d.message for d in result.diagnostics][:2] == ["Expected :, got =", "Expected :, got severity"]


def test_seed_constraint_inlines_computed_formula() -> None:
    ir = compile_source((SEED / "prep_task.seed.manifest").read_text()).ir
    assert ir is not None
    claim = next(c for c in ir["commands"] if c["name"] == "claim")
    constraint = claim["constraints"][0]
    assert constraint["failWhen"] is True and constraint["severity"] == "warn"
    left = constraint["expression"]["left"]
    assert left["kind"] == "binary" and left["operator"] == "and"  # isOverdue's formula, not self.isOverdue


def test_seed_constraint_overrideable_with_policy() -> None:
    source = (
        "entity A {\n  property n: number = 0\n  command take(q: number) {\n"
        "    constraint overrideable bigTake severity block\n      when q > 10\n"
        '      message "Large take"\n      overridePolicy managers\n    mutate n = q\n  }\n}\n'
        'store A in memory\npolicy managers override: user.role == "manager"\n'
    )
    rewrite = (
        "entity A {\n  property n: number = 0\n  command take(q: number) {\n"
        "    constraint overrideable failWhen bigTake {\n      expression: q > 10\n      severity: block\n"
        '      failWhen: true\n      message: "Large take"\n      overridePolicy: managers\n    }\n'
        "    mutate n = q\n  }\n}\n"
        'store A in memory\npolicy managers override: user.role == "manager"\n'
    )
    seed_ir, ref_ir = compile_source(source), compile_source(rewrite)
    assert seed_ir.diagnostics == [] and ref_ir.diagnostics == []
    assert without_provenance(seed_ir.ir) == without_provenance(ref_ir.ir)
    constraint = without_provenance(seed_ir.ir)["commands"][0]["constraints"][0]
    assert constraint["overrideable"] is True and constraint["overridePolicyRef"] == "managers"


def test_seed_constraint_without_when_is_an_error() -> None:
    source = 'entity A {\n  command c() {\n    constraint x severity warn message "m"\n  }\n}\n'
    messages = [d.message for d in compile_source(source).diagnostics]
    assert messages == ["Constraint 'x' needs a 'when <expression>' clause"]
