"""docs/language.md, executed: every manifest block compiles and checks clean, its `// >` lines
run on the engine, and every row of the built-in table evaluates to the value shown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source
from manifest_lang.compiler.checker import check_source
from manifest_lang.compiler.checker.builtins import BUILTIN_FUNCTIONS
from manifest_lang.runtime.engine import RuntimeEngine

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```manifest\n(.*?)^```", TEXT, re.S | re.M)
T0 = 1_707_840_000_000


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) >= len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=False))
        )
    return bool(actual == expected)


def engine_for(source: str) -> RuntimeEngine:
    compiled = compile_source(source)
    assert compiled.ir is not None, [d.format() for d in compiled.diagnostics]
    ids = iter(range(1, 1000))
    return RuntimeEngine(
        compiled.ir,
        {"user": {"id": "ada", "role": "clerk"}, "tenantId": "t1"},
        now=lambda: T0,
        generate_id=lambda: f"id-{next(ids)}",
    )


def test_the_page_has_an_example_per_section() -> None:
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_example(source: str) -> None:
    checked = check_source(source)
    assert checked.compiled.ir is not None, [d.format() for d in checked.compiled.diagnostics]
    assert checked.errors == [], [d.format() for d in checked.errors]
    engine = engine_for(source)
    for line in source.splitlines():
        if not line.startswith("// > "):
            continue
        verb, rest = line[5:].split(" ", 1)
        if verb == "create":
            entity, data = rest.split(" ", 1)
            assert engine.create_instance(entity, json.loads(data)) is not None, line
            continue
        expected: Any = None
        if " => " in rest:
            rest, shown = rest.split(" => ", 1)
            expected = json.loads(shown)
        parts = rest.split(" ", 3)
        if verb in ("run", "fails"):
            entity, instance, command = parts[:3]
            payload = json.loads(parts[3]) if len(parts) > 3 else {}
            result = engine.run_command(command, payload, entity_name=entity, instance_id=instance)
            if verb == "fails":
                assert not result.success, line
            else:
                assert result.success, f"{line}: {result.error}"
                assert contains(result.to_dict(), expected), f"{line}: {result.to_dict()}"
        elif verb == "get":
            assert contains(engine.get_instance(parts[0], parts[1]), expected), line
        elif verb == "computed":
            assert engine.evaluate_computed(parts[0], parts[1], parts[2]) == expected, line
        else:
            raise AssertionError(f"unknown example verb in {line!r}")


_ROW = re.compile(r"^\| `(?P<expr>[^`]+)` \| `(?P<value>[^`]+)` \|", re.M)
BUILTIN_ROWS = [(m["expr"], m["value"]) for m in _ROW.finditer(TEXT.split("## Built-in functions", 1)[1])]


def test_every_builtin_is_in_the_table() -> None:
    called = {re.match(r"\w+", expr)[0] for expr, _ in BUILTIN_ROWS}  # type: ignore[index]
    # `map` is a type keyword the parser cannot call; the page says so instead of showing a row
    assert called | {"map"} == set(BUILTIN_FUNCTIONS)
    assert "`map` is a type keyword" in TEXT


def test_builtin_table() -> None:
    lines = [f"  computed e{i} = {expr}" for i, (expr, _) in enumerate(BUILTIN_ROWS)]
    source = (
        "entity Eval {\n  property required id: string\n"
        + "\n".join(lines)
        + "\n  command touch() {\n    mutate id = id\n  }\n}\nstore Eval in memory\n"
        "role agent {\n  allow execute\n}\n"
    )
    engine = engine_for(source)
    engine.create_instance("Eval", {"id": "x"})
    for i, (expr, value) in enumerate(BUILTIN_ROWS):
        assert engine.evaluate_computed("Eval", "x", f"e{i}") == json.loads(value), expr


def test_the_readme_shows_a_model_in_its_first_screen() -> None:
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(readme.splitlines()[:60])
    [source] = re.findall(r"^```manifest\n(.*?)^```", first_screen, re.S | re.M)
    checked = check_source(source)
    assert checked.ok and checked.findings == [], [d.format() for d in checked.diagnostics]
