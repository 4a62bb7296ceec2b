"""``manifest_lang.loading``: the one rule by which every caller tells a path from source text."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from manifest_lang.errors import CompileError, InvalidInputError, IRError
from manifest_lang.loading import is_path, load_ir, load_model
from manifest_lang.runtime.model import CompiledModel

SOURCE = "entity Note {\n  property required id: string\n  property body: string = \"\"\n}\n"


def test_every_form_gives_the_same_model(tmp_path: Path) -> None:
    source_file = tmp_path / "note.manifest"
    source_file.write_text(SOURCE, encoding="utf-8")
    ir = load_ir(SOURCE)
    ir_file = tmp_path / "note.json"
    ir_file.write_bytes(orjson.dumps(ir))
    compiled = load_model(ir)
    assert isinstance(compiled, CompiledModel)
    assert load_model(compiled) is compiled
    for form in (SOURCE, source_file, str(source_file), ir_file, str(ir_file)):
        assert [e["name"] for e in load_model(form).ir["entities"]] == ["Note"]


def test_the_path_rule() -> None:
    assert is_path(Path("anything")) and is_path("models/a.manifest") and is_path("A.JSON")
    assert not is_path("entity A { }") and not is_path("a.manifest\nentity A {}")
    # A one-line model that happens to contain a slash is source, not a path.
    assert not is_path("entity A { computed half: number = 1 / 2 }")


def test_failures_name_the_origin(tmp_path: Path) -> None:
    with pytest.raises(CompileError, match="cannot read model .*missing.manifest: no such file"):
        load_model(str(tmp_path / "missing.manifest"))
    broken = tmp_path / "broken.manifest"
    broken.write_text("entity {", encoding="utf-8")
    with pytest.raises(CompileError, match="broken.manifest: model does not compile") as info:
        load_model(broken)
    assert info.value.diagnostics
    with pytest.raises(CompileError, match="<source>: model does not compile"):
        load_model("entity {")
    bad = tmp_path / "bad.json"
    bad.write_text("[", encoding="utf-8")
    with pytest.raises(IRError, match="is not valid JSON"):
        load_model(bad)
    bad.write_text("[1]", encoding="utf-8")
    with pytest.raises(IRError, match="IR must be a JSON object"):
        load_model(bad)
    bad.write_text('{"entities": 5}', encoding="utf-8")
    with pytest.raises(IRError, match="bad.json: "):
        load_model(bad)
    with pytest.raises(InvalidInputError, match="cannot load a model from int"):
        load_model(42)
