"""`manifest check`: each typo of issue 16 and each finding kind, with its code, line and column."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from manifest_lang.cli import main
from manifest_lang.compiler.checker import CODES, check_file, check_source
from manifest_lang.compiler.checker.builtins import BUILTIN_FUNCTIONS
from manifest_lang.expr.builtins import BUILTIN_NAMES

FIXTURES = Path(os.environ.get("MANIFEST_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
FIXTURES = FIXTURES / "conformance" / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TYPOS = """\
hello world
entity Item {
  property required id: string
  property name: strng
  property quantity: number = 0

  command restock(qty: number) {
    guard unknownFn(1)
    mutate self.zz = 1
    mutate quantity = quantity + qty
    emit Nope
  }
}
store Item in memory
"""


def findings(source: str) -> list[tuple[str | None, int | None, int | None]]:
    return [(d.code, d.line, d.column) for d in check_source(source).findings]


def test_each_typo_of_the_issue_is_reported_with_line_and_column() -> None:
    assert findings(TYPOS) == [
        ("CHECK_IGNORED_TEXT", 1, 1),
        ("CHECK_IGNORED_TEXT", 1, 7),
        ("CHECK_UNKNOWN_TYPE", 4, 18),
        ("CHECK_UNKNOWN_FUNCTION", 8, 11),
        ("CHECK_UNDECLARED_PROPERTY", 9, 17),
        ("CHECK_UNDECLARED_EVENT", 11, 10),
    ]
    result = check_source(TYPOS)
    assert result.compiled.ok  # the reference compiler accepts all of it
    assert not result.ok
    by_code = {d.code: d for d in result.findings}
    assert by_code["CHECK_UNDECLARED_EVENT"].severity == "warning"  # the seed syntax allows it
    assert "did you mean 'string'" in by_code["CHECK_UNKNOWN_TYPE"].message


def model(body: str, extra: str = "") -> str:
    return (
        "entity A {\n  property required id: string\n  property n: number = 0\n"
        '  property label: string = ""\n  property status: string = "open"\n'
        f"{body}\n  command touch() {{\n    mutate n = n + 1\n  }}\n}}\nstore A in memory\n{extra}"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  command c(v: number) {\n    mutate n = nn + v\n  }", ("CHECK_UNKNOWN_IDENTIFIER", 7, 16)),
        ("  command c(v: number) {\n    guard self.nn > v\n  }", ("CHECK_UNKNOWN_PROPERTY", 7, 16)),
        ("  command c(v: number, w: string) {\n    mutate n = v\n  }", ("CHECK_UNUSED_PARAMETER", 6, 24)),
        (
            '  transition status from "open" to ["done"]\n  transition status from "ghost" to ["open"]',
            ("CHECK_UNREACHABLE_TRANSITION", 7, 27),
        ),
        ("  command c() {\n    guard 1 > 2\n    mutate n = 1\n  }", ("CHECK_CONSTANT_CONDITION", 7, 11)),
        ("  constraint same: self.n == self.n", ("CHECK_CONSTANT_CONDITION", 6, 20)),
        ("  computed a: number = b + 1\n  computed b: number = a * 2", ("CHECK_COMPUTED_CYCLE", 6, 12)),
        ('  command c(v: number) {\n    guard v == "5"\n  }', ("CHECK_TYPE_MISMATCH", 7, 11)),
        ("  command c(q: string) {\n    mutate n = n - q\n  }", ("CHECK_TYPE_MISMATCH", 7, 16)),
        (
            "  command c(q: string) {\n    mutate label = label + n + q\n  }",
            ("CHECK_STRING_ARITHMETIC", 7, 20),
        ),
        ('  command c() {\n    mutate n = "x"\n  }', ("CHECK_TYPE_MISMATCH", 7, 12)),
        ("  belongsTo owner: Ownr", ("CHECK_UNKNOWN_ENTITY", 6, 20)),
        ("  command c(v: number) {\n    guard input.v > 0\n  }", ("CHECK_UNKNOWN_IDENTIFIER", 7, 11)),
    ],
)
def test_finding(body: str, expected: tuple[str, int, int]) -> None:
    found = findings(model(body))
    assert expected in found, found
    assert expected[0] in CODES


def test_enum_states_are_checked() -> None:
    source = model(
        '  property phase: Phase = "draft"\n  transition phase from "draft" to ["publshed"]',
        "enum Phase { draft published }\n",
    )
    assert ("CHECK_UNKNOWN_STATE", 7, 38) in findings(source)


def test_clean_models_have_no_findings() -> None:
    source = model(
        "  computed double: number = self.n * 2\n"
        "  command bump(by: number) {\n    guard by > 0 and length(label) < 100\n"
        "    mutate n = n + by\n    emit Bumped\n  }",
        'event Bumped: "a.bumped" {\n  by: number\n}\n',
    )
    assert findings(source) == []


def test_builtin_table_matches_the_runtime_registry() -> None:
    assert BUILTIN_FUNCTIONS == BUILTIN_NAMES


def test_compile_diagnostics_come_first_and_are_unchanged() -> None:
    broken = "entity A {\n  property x string\n}\n"
    result = check_source(broken)
    assert [d.message for d in result.diagnostics][:1] == ["Expected :, got string"]
    assert not result.ok


def test_findings_in_imported_files_name_their_file(tmp_path: Path) -> None:
    (tmp_path / "root.manifest").write_text('use "./lib/a.manifest"\n')
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.manifest").write_text("entity A {\n  property x: strng\n}\nstore A in memory\n")
    [d] = check_file(tmp_path / "root.manifest").findings
    assert (d.file, d.line, d.column, d.code) == ("lib/a.manifest", 2, 15, "CHECK_UNKNOWN_TYPE")


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout


def test_cli_text_json_and_validate_strict(tmp_path: Path) -> None:
    src = tmp_path / "typos.manifest"
    src.write_text(TYPOS)
    code, out = run("check", str(src))
    assert code == 1
    lines = out.splitlines()
    assert (
        lines[0]
        == f"{src}:1:1: error: 'hello' is ignored at top level (silently skipped) [CHECK_IGNORED_TEXT]"
    )
    assert lines[1] == "    hello world" and lines[2] == "    ^"
    assert f"{src}:9:17: error: Command 'restock' assigns 'zz'" in out
    assert "        mutate self.zz = 1\n                    ^" in out
    code, out = run("check", "--format", "json", str(src))
    [report] = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert {"file": str(src), "line": 4, "column": 18, "code": "CHECK_UNKNOWN_TYPE"}.items() <= report[
        "diagnostics"
    ][2].items()
    assert run("validate", str(src))[0] == 0  # default validate = the reference's verdict
    assert run("validate", "--strict", str(src))[0] == 1
    assert run("check", "-", input=model(""))[0] == 0
    code, out = run("check", "--codes")
    assert code == 0 and all(c in out for c in CODES)


def test_serve_and_run_refuse_a_model_with_checker_errors(tmp_path: Path) -> None:
    src = tmp_path / "typos.manifest"
    src.write_text(TYPOS)
    script = tmp_path / "ops.jsonl"
    script.write_text('{"op": "create", "entity": "Item", "data": {"id": "i1"}}\n')
    result = CliRunner().invoke(main, ["run", str(src), "--script", str(script)])
    assert result.exit_code == 1 and "checker error(s); fix them or pass --no-check" in result.stderr
    assert "[CHECK_UNKNOWN_TYPE]" in result.stderr
    result = CliRunner().invoke(main, ["run", str(src), "--script", str(script), "--no-check"])
    assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[0])["ok"] is True
    result = CliRunner().invoke(main, ["serve", str(src), "--db", "memory://", "--port", "1"])
    assert result.exit_code == 1 and "pass --no-check" in result.stderr


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="conformance fixtures not present beside the repo")
def test_checker_never_crashes_on_the_fixtures_and_examples() -> None:
    paths = sorted(FIXTURES.glob("*.manifest")) + sorted(EXAMPLES.rglob("*.manifest"))
    assert len(paths) > 100
    for path in paths:
        result = check_file(path)
        for d in result.findings:
            assert d.code in CODES and d.line is not None and d.column is not None
