"""The catering models compile cleanly, and catering.manifest stays the sum of the separate files."""

from __future__ import annotations

import re

import pytest

from manifest_lang.compiler.api import compile_source

from .kitchen import HERE

MODELS = ["inventory", "preptask", "station", "catering"]
#: lines only the combined model can hold (relationships between entities of different files)
_CROSS_FILE = re.compile(r"^\s*(belongsTo|hasMany)\b")


@pytest.mark.parametrize("name", MODELS)
def test_model_compiles_without_diagnostics(name: str) -> None:
    result = compile_source((HERE / f"{name}.manifest").read_text(encoding="utf-8"))
    assert result.ir is not None
    assert [d.message for d in result.diagnostics] == []


def _code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("//")]


def test_catering_manifest_is_the_three_files_plus_cross_file_declarations() -> None:
    combined = [
        line
        for line in _code_lines((HERE / "catering.manifest").read_text(encoding="utf-8"))
        if not _CROSS_FILE.match(line)
    ]
    parts = []
    for name in ("inventory", "preptask", "station"):
        parts.extend(_code_lines((HERE / f"{name}.manifest").read_text(encoding="utf-8")))
    assert combined[: len(parts)] == parts
    # the rest is PrepTaskIngredient, which links files together, then the durable sagas
    assert combined[len(parts)] == "entity PrepTaskIngredient {"
    assert combined[-1] == "}"
    sagas = [line for line in combined if line.startswith("saga ")]
    assert sagas == ["saga EventPrep {", "saga EventDayTask {"]
