"""The catering models compile cleanly; catering.manifest is the three files joined by `use`."""

from __future__ import annotations

import pytest

from manifest_lang.compiler.api import compile_file, compile_source

from .kitchen import HERE

MODELS = ["inventory", "preptask", "station", "catering"]


@pytest.mark.parametrize("name", MODELS)
def test_model_compiles_without_diagnostics(name: str) -> None:
    result = compile_file(HERE / f"{name}.manifest")
    assert result.ir is not None
    assert [d.message for d in result.diagnostics] == []


def test_catering_is_its_three_models_plus_the_entity_linking_them() -> None:
    ir = compile_file(HERE / "catering.manifest").ir
    assert ir is not None
    assert [e["name"] for e in ir["entities"]] == [
        "InventoryItem",
        "PrepTask",
        "Station",
        "PrepTaskIngredient",
    ]
    sources = ir["provenance"]["sources"]
    assert [s["path"] for s in sources] == [
        "catering.manifest",
        "inventory.manifest",
        "preptask.manifest",
        "station.manifest",
    ]
    # each imported file's own IR has the same entity as the combined one
    for name, entity in (("inventory", "InventoryItem"), ("preptask", "PrepTask"), ("station", "Station")):
        alone = compile_source((HERE / f"{name}.manifest").read_text(encoding="utf-8")).ir
        assert alone is not None
        assert [e for e in ir["entities"] if e["name"] == entity] == alone["entities"]
