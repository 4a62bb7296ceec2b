"""The fast IR validator gives the same verdicts as jsonschema on valid and mutated IRs."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import jsonschema
import pytest

from manifest_lang.errors import IRError
from manifest_lang.ir.schema import ir_schema, validate_ir

from .test_conformance_runtime import CONFORMANCE_DIR, missing_conformance

REPLACEMENTS: list[Any] = [1, "x", None, [], {}, True, -1, 1.5, "", [1], {"kind": "literal"}, "literal"]
KEYS = ["extra", "kind", "name", "value", "operator", "severity", "type", "target"]


def _dicts(x: Any, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(x, dict):
        out.append(x)
        for y in x.values():
            _dicts(y, out)
    elif isinstance(x, list):
        for y in x:
            _dicts(y, out)
    return out


def _mutants(ir: dict[str, Any], rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        mutant = copy.deepcopy(ir)
        node = rng.choice(_dicts(mutant, []))
        roll = rng.random()
        if roll < 0.35 and node:
            node[rng.choice(list(node))] = rng.choice(REPLACEMENTS)
        elif roll < 0.65 and node:
            del node[rng.choice(list(node))]
        else:
            node[rng.choice(KEYS)] = rng.choice(REPLACEMENTS)
        out.append(mutant)
    return out


def _verdict(ir: dict[str, Any]) -> bool:
    try:
        validate_ir(ir)
    except IRError:
        return False
    return True


def test_same_verdicts_as_jsonschema() -> None:
    if not CONFORMANCE_DIR.is_dir():
        missing_conformance()
    schema = ir_schema()
    oracle = jsonschema.validators.validator_for(schema)(schema)
    rng = random.Random(2026)
    paths = sorted((CONFORMANCE_DIR / "expected").glob("*.ir.json"))
    checked = 0
    for path in paths[::3]:
        base = json.loads(path.read_text())
        for ir in [base, *_mutants(base, rng, 8)]:
            assert _verdict(ir) == (not list(oracle.iter_errors(ir))), path.name
            checked += 1
    assert checked > 200


def test_error_names_the_location() -> None:
    path = CONFORMANCE_DIR / "expected" / "04-command-mutate-emit.ir.json"
    if not path.exists():
        missing_conformance()
    ir = json.loads(path.read_text())
    ir["commands"][0]["actions"][0]["expression"]["left"] = {"kind": "identifier"}
    with pytest.raises(IRError, match=r"at commands/0/actions/0/expression/left: 'name' is a required"):
        validate_ir(ir)
    ir["commands"][0]["actions"][0]["expression"]["left"] = {"kind": "teleport"}
    with pytest.raises(IRError, match='left/kind: "teleport" is not a valid kind'):
        validate_ir(ir)


def test_building_a_model_leaves_the_gc_alone_and_freeze_heap_is_explicit() -> None:
    import gc

    from manifest_lang import freeze_heap
    from manifest_lang.runtime.model import CompiledModel

    path = CONFORMANCE_DIR / "expected" / "04-command-mutate-emit.ir.json"
    if not path.exists():
        missing_conformance()
    ir = json.loads(path.read_text())
    gc.unfreeze()
    large = {**ir, "entities": [dict(ir["entities"][0], name=f"E{i}") for i in range(60)]}
    CompiledModel(large, validate=False)  # no process-wide side effect, whatever the size
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    try:
        assert freeze_heap() > 0
        assert gc.get_freeze_count() > 0 and gc.isenabled()
    finally:
        gc.unfreeze()
