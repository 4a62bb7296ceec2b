"""compile_source never raises; diagnostics shape; provenance."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_lang.compiler.api import compile_file, compile_source
from manifest_lang.compiler.diagnostics import Diagnostic
from manifest_lang.compiler.provenance import collation_key, compute_ir_hash, content_hash, verify_ir_hash

WORDS = st.sampled_from(
    "entity property command mutate emit guard store in memory event policy constraint { } ( ) : = "
    '== and or not ? . , [ ] \n A B x y 1 2.5 "s" self user computed hasMany on run module enum # '
    "approval stages saga role webhook schedule cron every fanOut match else create params".split(" ")
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_only_returns_diagnostics(text: str) -> None:
    result = compile_source(text)
    assert all(isinstance(d, Diagnostic) for d in result.diagnostics)
    assert (result.ir is None) == any(d.severity == "error" for d in result.diagnostics)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(WORDS, max_size=80).map(" ".join))
def test_token_soup_only_returns_diagnostics(text: str) -> None:
    result = compile_source(text)
    if result.ir is None:
        assert any(d.severity == "error" for d in result.diagnostics)
    assert not any("Internal compiler error" in d.message for d in result.diagnostics)


def test_deep_nesting_is_a_diagnostic_not_a_crash() -> None:
    result = compile_source("entity A {\n  computed x: number = " + "(" * 5000 + "1" + ")" * 5000 + "\n}\n")
    assert result.ir is None and result.diagnostics


def test_diagnostic_to_dict_omits_absent_fields() -> None:
    assert Diagnostic("warning", "m").to_dict() == {"severity": "warning", "message": "m"}
    assert Diagnostic("error", "m", 1, 2, "C").to_dict() == {
        "severity": "error",
        "message": "m",
        "line": 1,
        "column": 2,
        "code": "C",
    }


def test_provenance_fields() -> None:
    source = "entity A {\n  property x: number = 0\n  command c() {\n    mutate x = 1\n  }\n}\n"
    result = compile_source(source, now=datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC))
    assert result.ir is not None
    prov = result.ir["provenance"]
    assert list(prov) == ["contentHash", "irHash", "compilerVersion", "schemaVersion", "compiledAt"]
    assert prov["contentHash"] == content_hash(source)
    assert prov["compiledAt"] == "2024-05-06T07:08:09.123Z"
    assert prov["irHash"] == compute_ir_hash(result.ir) and verify_ir_hash(result.ir)
    result.ir["entities"][0]["name"] = "B"
    assert not verify_ir_hash(result.ir)


def test_locale_collation_orders_like_localecompare() -> None:
    keys = ["overridePolicyRef", "overrideable", "_b", "a1", "B", "b", "10", "Zed"]
    assert sorted(keys, key=collation_key) == [
        "_b",
        "10",
        "a1",
        "b",
        "B",
        "overrideable",
        "overridePolicyRef",
        "Zed",
    ]


def test_compile_file_reports_unreadable_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.manifest"
    bad.write_bytes(b"\xff\xfe")
    result = compile_file(bad)
    assert result.ir is None and result.diagnostics[0].message.startswith("Cannot read")
    assert compile_file(tmp_path / "missing.manifest").ir is None


def test_compile_restores_garbage_collection() -> None:
    import gc

    assert gc.isenabled()
    compile_source("entity A {\n  property x: number = 0\n}\n")
    compile_source("entity entity {")
    assert gc.isenabled()


def test_fast_compiler_hash_equals_generic_canonical_hash(conformance_dir) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from manifest_lang.compiler.provenance import compiler_ir_hash

    sources = sorted((conformance_dir / "fixtures").glob("*.manifest"))
    sources += sorted((Path(__file__).parent / "data").glob("*.manifest"))
    sources += sorted((Path(__file__).parent / "seed").glob("*.manifest"))
    extra = (
        'entity A {\n  property m: map<number> = { zeta: 1, Alpha: 2, _b: 3, "10": 4 }\n'
        '  property l: list<string> = ["b", "A"]\n  constraint c: true "m" {\n'
        "    details: { Zed: 1, alpha: 2 }\n    overridePolicy: p\n  }\n"
        "  command create(x: number) {\n    mutate n2 = x\n  }\n}\n"
        "store A in memory {\n  Beta: 1\n  alpha: { Zq: 1, za: [1, { B: 2, a: 3 }] }\n}\n"
        'entity S {\n  property status: map<string> = { Zb: "x", a: "y" }\n'
        "  command create(n: number) {\n    mutate status = n\n  }\n}\n"
        # constraints with only overridePolicyRef, only detailsMapping, or neither (fast path)
        'entity B {\n  property x: number = 0\n  constraint overrideable c1: self.x > 0 "m" {\n'
        '    overridePolicy: p\n  }\n  constraint c2: self.x > 1 "m" {\n    details: { Zed: 1, a: 2 }\n  }\n'
        '  constraint overrideable c3: self.x > 2 "m"\n  command create(x: number) {\n'
        '    constraint overrideable c4: x > 2 "m" {\n      overridePolicy: p\n    }\n'
        "    mutate x = x\n  }\n}\n"
    )
    checked = 0
    for text in [s.read_text() for s in sources] + [extra]:
        ir = compile_source(text).ir
        if ir is None:
            continue
        assert compiler_ir_hash(ir) == compute_ir_hash(ir) == ir["provenance"]["irHash"]
        checked += 1
    assert checked > 80


def test_compiler_hash_takes_the_fast_encoder_on_ordinary_models(conformance_dir, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The exact encoder is only for numbers JavaScript writes differently; version strings such
    as ``"1.0"`` (in every IR) once sent every compile to it, costing a third of the compile."""
    from manifest_lang.compiler import provenance

    fallbacks: list[int] = []
    exact = provenance.canonical_json_bytes

    def counted(ir):  # type: ignore[no-untyped-def]
        fallbacks.append(1)
        return exact(ir)

    monkeypatch.setattr(provenance, "canonical_json_bytes", counted)
    compiled = 0
    for path in sorted((conformance_dir / "fixtures").glob("*.manifest")):
        compiled += compile_source(path.read_text()).ir is not None
    assert compiled >= 80
    assert fallbacks == []
    ir = compile_source("entity A {\n  property x: number = 9007199254740993\n}\n").ir
    assert ir is not None and len(fallbacks) == 1
    assert ir["provenance"]["irHash"] == provenance.compute_ir_hash(ir)
