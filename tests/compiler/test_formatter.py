"""`manifest fmt`: formatting never changes the compiled model, keeps comments, and is idempotent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_lang.cli import main
from manifest_lang.compiler.api import compile_source
from manifest_lang.compiler.formatter import format_source

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MANIFEST_SHARED_DIR", REPO.parent / "shared"))
FIXTURES = SHARED / "conformance" / "fixtures"
SOURCES = sorted(FIXTURES.glob("*.manifest")) + sorted((REPO / "examples").rglob("*.manifest"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def test_the_sources_are_there() -> None:
    if not FIXTURES.is_dir() and not IN_CI:
        pytest.skip(f"conformance fixtures missing at {FIXTURES}")
    assert len(SOURCES) > 100


def meaning(source: str) -> tuple[Any, list[str]]:
    result = compile_source(source)
    ir = None if result.ir is None else {k: v for k, v in result.ir.items() if k != "provenance"}
    return ir, [f"{d.severity}: {d.message}" for d in result.diagnostics]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_formatting_keeps_the_model_and_is_idempotent(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    formatted = format_source(source)
    assert meaning(formatted) == meaning(source)
    assert format_source(formatted) == formatted
    # every comment survives
    assert [line.strip() for line in source.splitlines() if line.strip().startswith("//")] == [
        line.strip() for line in formatted.splitlines() if line.strip().startswith("//")
    ]


def _perturb(source: str, data: st.DataObject) -> str:
    """Re-indent every line at random and widen the blanks between words (outside strings)."""
    out = []
    for line in source.splitlines():
        if '"' in line or "'" in line or "`" in line or "/*" in line or "*/" in line:
            out.append(line)
            continue
        indent = data.draw(st.sampled_from(["", "  ", "\t", "        "]))
        gap = data.draw(st.sampled_from([" ", "  ", " \t"]))
        out.append(indent + gap.join(line.split(" ")).strip(" \t"))
        if data.draw(st.booleans()) and data.draw(st.booleans()):
            out.append("")
    return "\n".join(out) + "\n"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SOURCES), st.data())
def test_any_layout_formats_to_the_same_model(path: Path, data: st.DataObject) -> None:
    source = path.read_text(encoding="utf-8")
    messy = _perturb(source, data)
    formatted = format_source(messy)
    assert meaning(formatted) == meaning(messy)
    assert format_source(formatted) == formatted


def test_canonical_layout() -> None:
    messy = (
        "entity   Item {\n\n\n\tproperty required id:   string\n      property n: number = 0\n"
        '  computed label = n > 0\n      ? "some"\n      : "none"\n'
        "command add( by: number ,x: number ) {\n  guard by > 0   // positive\n"
        "   mutate n = n + by\n}\n\n\n}\r\n"
        'store Item in memory\npolicy p execute:\n    user.role == "a" or\n    user.role == "b"\n\n\n'
    )
    assert format_source(messy) == (
        "entity Item {\n"
        "  property required id: string\n"
        "  property n: number = 0\n"
        "  computed label = n > 0\n"
        '    ? "some"\n'
        '    : "none"\n'
        "  command add(by: number, x: number) {\n"
        "    guard by > 0 // positive\n"
        "    mutate n = n + by\n"
        "  }\n"
        "}\n"
        "store Item in memory\n"
        "policy p execute:\n"
        '  user.role == "a" or\n'
        '  user.role == "b"\n'
    )


def test_strings_and_block_comments_are_copied_as_written() -> None:
    source = 'entity A {\n  /* keep\n      this   as is */\n  property s: string = "a  ,  b"\n}\n'
    assert format_source(source) == source


def test_cli_fmt_and_check(tmp_path: Path) -> None:
    ugly = tmp_path / "a.manifest"
    ugly.write_text("entity A {\nproperty id: string\n}\n")
    neat = tmp_path / "b.manifest"
    neat.write_text("entity B {\n  property id: string\n}\n")
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "--check", str(ugly), str(neat)])
    assert result.exit_code == 1 and result.stdout == f"would reformat {ugly}\n"
    assert ugly.read_text() == "entity A {\nproperty id: string\n}\n"  # --check writes nothing
    result = runner.invoke(main, ["fmt", str(ugly), str(neat)])
    assert result.exit_code == 0 and ugly.read_text() == "entity A {\n  property id: string\n}\n"
    assert runner.invoke(main, ["fmt", "--check", str(ugly), str(neat)]).exit_code == 0
    result = runner.invoke(main, ["fmt", "-"], input="entity C {\nproperty id: string\n}\n")
    assert result.stdout == "entity C {\n  property id: string\n}\n"
    assert runner.invoke(main, ["fmt", str(tmp_path / "missing.manifest")]).exit_code == 1


def test_every_example_is_formatted() -> None:
    result = CliRunner().invoke(main, ["fmt", "--check", *map(str, (REPO / "examples").rglob("*.manifest"))])
    assert result.exit_code == 0, result.stdout
