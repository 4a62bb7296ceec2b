"""Dataclasses whose ``__init__`` is written out (so the native build compiles it) still take
exactly their fields: the same names, in the same order, with the same defaults."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.runtime.execution import CallOptions, Pending
from manifest_lang.runtime.results import CommandResult, ConstraintOutcome, GuardFailure, PolicyDenial

SRC = Path(__file__).resolve().parents[2] / "src" / "manifest_lang" / "runtime"
WRITTEN = {
    CommandResult: "results.py",
    ConstraintOutcome: "results.py",
    GuardFailure: "results.py",
    PolicyDenial: "results.py",
    CallOptions: "execution.py",
    Pending: "execution.py",
}


def _written_init(cls: Any, filename: str) -> ast.FunctionDef:
    # Read from the source: a compiled __init__ (native build) has no introspectable signature.
    tree = ast.parse((SRC / filename).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return item
    raise AssertionError(f"{cls.__name__} has no written __init__ in {filename}")


@pytest.mark.parametrize("cls", list(WRITTEN), ids=lambda c: c.__name__)
def test_init_matches_the_fields(cls: Any) -> None:
    init = _written_init(cls, WRITTEN[cls])
    params = init.args.args[1:]
    defaults: list[ast.expr | None] = [None] * (len(params) - len(init.args.defaults)) + list(
        init.args.defaults
    )
    fields = dataclasses.fields(cls)
    assert [p.arg for p in params] == [f.name for f in fields]
    for default, f in zip(defaults, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert default is not None, f.name
            if isinstance(default, ast.Constant):
                assert default.value is f.default, f.name
            else:  # a name such as UNDEFINED
                assert isinstance(default, ast.Name) and f.default is getattr(
                    __import__(cls.__module__, fromlist=["_"]), default.id
                ), f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert isinstance(default, ast.Constant) and default.value is None, f.name  # a fresh default
        else:
            assert default is None, f.name


def test_a_fresh_list_per_result_and_replace_still_works() -> None:
    a, b = CommandResult(success=True), CommandResult(success=True)
    assert a.emitted_events == [] and a.emitted_events is not b.emitted_events
    c = dataclasses.replace(a, error="x")
    assert c.error == "x" and c.success is True and c == dataclasses.replace(c)
    assert CommandResult(True, 5).result == 5
