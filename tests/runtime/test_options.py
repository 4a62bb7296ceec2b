"""``RuntimeOptions``: one value for an engine's options; the keyword arguments stay the public form."""

from __future__ import annotations

import pytest

from manifest_lang import RuntimeEngine, RuntimeOptions
from manifest_lang.loading import load_model

MODEL = 'entity Note {\n  property required id: string\n  property body: string = ""\n}\n'


def test_options_value_and_keywords_give_the_same_engine() -> None:
    model = load_model(MODEL)
    ids = iter(["n1", "n2"])
    shared = RuntimeOptions(now=lambda: 42, generate_id=lambda: next(ids), conflict_retries=5)
    engine = RuntimeEngine(model, {}, options=shared, conflict_retries=1)  # a keyword overrides
    assert (engine.now(), engine.conflict_retries) == (42, 1)
    assert engine.create_instance("Note", {})["id"] == "n1"
    plain = RuntimeEngine(model, now=lambda: 7, deterministic_mode=True)
    assert plain.now() == 7 and plain.is_deterministic()


def test_an_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_option'"):
        RuntimeEngine(load_model(MODEL), no_such_option=1)  # type: ignore[call-arg]
