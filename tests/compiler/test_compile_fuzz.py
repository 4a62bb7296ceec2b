"""The compiler under hostile input: every kind the mutational fuzzer found stays fixed, and a
bounded fuzzing run over the conformance fixtures and the examples finds nothing new.

The run lasts ``MANIFEST_FUZZ_SECONDS`` (default 60 under ``CI=true``, 10 otherwise) from seed
``MANIFEST_FUZZ_SEED`` (default 0). A longer search (docs/compiler.md, "Fuzzing")::

    MANIFEST_FUZZ_SECONDS=1800 MANIFEST_FUZZ_SEED=7 \\
        .venv/bin/python -m pytest -q tests/compiler/test_compile_fuzz.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson
import pytest

from manifest_lang.compiler.api import compile_source

sys.path.insert(0, str(Path(__file__).parent))
from compile_fuzzer import check, load_corpus, run  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SECONDS = float(os.environ.get("MANIFEST_FUZZ_SECONDS", "60" if IN_CI else "10"))
SEED = int(os.environ.get("MANIFEST_FUZZ_SEED", "0"))

HUGE = "1" * 300  # a finite double, about 1.1e299
PAST_DOUBLE = "9" * 400  # JavaScript reads Infinity


def entity(body: str) -> str:
    return f"entity E {{\n  property required id: string\n{body}\n}}\nstore E in memory\n"


def matches(pattern: str) -> str:
    return entity(f'  property s: string = ""\n  constraint v: matches(s, "{pattern}")')


def related(clause: str) -> str:
    child = "entity C {\n  property required id: string\n}\n"
    return f"entity P {{\n  property required id: string\n  {clause}\n}}\n{child}"


def rate_limit(max_requests: str) -> str:
    return f"policy P read: true rateLimit {{ maxRequests: {max_requests} windowMs: 60000 scope: user }}\n"


RETRY = "  command go() {\n    retry { maxAttempts: 3 backoff: sometimes delay: 10 }\n  }"
CHAIN = "  property x: number = 0\n  constraint c: " + " + ".join(["x"] * 300) + " >= 0"
NOTS = "  property x: boolean = true\n  constraint c: " + "!" * 300 + "x"

#: (name, source, an error the compiler must report or None when the model must compile)
FOUND: list[tuple[str, str, str | None]] = [
    ("300-digit default", entity(f"  property n: number = {HUGE}"), None),
    ("300-digit masked parameter", entity(f"  property masked(partial, 0, {HUGE}) s: string"), None),
    (
        "21-digit literal",
        entity("  property n: number = 0\n  command go() { mutate n = 123456789012345678901 }"),
        None,
    ),
    ("300-digit decimal precision", entity(f"  property d: decimal(10, {HUGE}) = 0"), None),
    ("400-digit literal", entity(f"  property n: number = {PAST_DOUBLE}"), "beyond the largest number"),
    (
        "400-digit mask",
        entity(f"  property masked(partial, 0, {PAST_DOUBLE}) s: string"),
        "beyond the largest",
    ),
    ("regex repetition overflow", matches("^d{8901234564}$"), None),
    ("regex repetition past 4300 digits", matches("a{" + "9" * 5000 + "}"), None),
    ("regex groups nested 1000 deep", matches("(" * 1000 + ")" * 1000), None),
    ("lone surrogate in a string", entity('  property s: string = "a\ud800b"'), "lone surrogate"),
    ("lone surrogate in a comment", "// \udfff\n" + entity(""), "lone surrogate"),
    ("role allow and newline", "role U {\n  allow\n}\n", "a permission name after 'allow', got end of line"),
    ("role deny and a number", "role U {\n  deny 42\n}\n", "Expected a permission name after 'deny'"),
    ("onDelete at the end of a line", related("hasOne c: C onDelete "), "onDelete expects one of"),
    ("onUpdate of an unknown action", related("belongsTo c: C onUpdate explode"), "onUpdate expects one of"),
    ("rateLimit value not a number", rate_limit("property"), "RateLimit maxRequests must be a finite number"),
    ("rateLimit value Infinity", rate_limit("Infinity"), "finite number"),
    ("retry with an unknown backoff", entity(RETRY), "Retry backoff must be"),
    ("a chain of 300 operators", entity(CHAIN), "nests too deeply"),
    ("300 unary operators", entity(NOTS), "nests too deeply"),
]


@pytest.mark.parametrize(("name", "source", "error"), FOUND, ids=[case[0] for case in FOUND])
def test_each_kind_the_fuzzer_found_stays_fixed(name: str, source: str, error: str | None) -> None:
    assert check(source) is None
    result = compile_source(source)
    messages = [d.message for d in result.errors]
    if error is None:
        assert result.ir is not None, messages
    else:
        assert any(error in m for m in messages), messages


def test_big_literals_are_doubles_in_the_ir_as_in_the_reference() -> None:
    result = compile_source(entity(f"  property n: number = {HUGE}\n  property m: number = 9007199254740993"))
    assert result.ir is not None
    values = [p["defaultValue"]["value"] for p in result.ir["entities"][0]["properties"][1:]]
    assert values == [1.1111111111111112e299, 9007199254740992.0]
    assert all(isinstance(v, float) for v in values)
    # the JSON text is the same number the reference prints
    assert b"1.1111111111111112e+299" in orjson.dumps(result.ir)


def test_mutated_models_never_break_the_compiler(conformance_dir: Path) -> None:
    assert len(load_corpus()) >= 100  # the conformance fixtures and the examples
    report = run(SECONDS, SEED)
    print(f"compile fuzzer, seed {SEED}: {report.summary()}")
    assert report.inputs > 0
    assert not report.kinds, report.summary()


if SECONDS > 240:  # a long local run: give it the time it asked for
    test_mutated_models_never_break_the_compiler = pytest.mark.timeout(int(SECONDS) + 120)(
        test_mutated_models_never_break_the_compiler
    )
