"""CLI: compile / validate / lint through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from manifest_lang.cli import main

GOOD = (
    "entity A {\n  property x: number = 0\n  command set(v: number) {\n    mutate x = v\n  }\n}\n"
    "store A in memory\n"
)
BAD = "entity A {\n  property x string\n}\n"


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_compile_writes_ir_to_stdout_and_file(tmp_path: Path) -> None:
    src = tmp_path / "a.manifest"
    src.write_text(GOOD)
    code, out, _ = run("compile", str(src))
    assert code == 0 and json.loads(out)["entities"][0]["name"] == "A"
    target = tmp_path / "out.json"
    code, out, _ = run("compile", str(src), "-o", str(target))
    assert code == 0 and out == "" and json.loads(target.read_text())["version"] == "1.0"


def test_compile_reads_stdin() -> None:
    code, out, _ = run("compile", "-", input=GOOD)
    assert code == 0 and json.loads(out)["commands"][0]["name"] == "set"


def test_compile_failure_prints_diagnostic_and_exits_1(tmp_path: Path) -> None:
    src = tmp_path / "bad.manifest"
    src.write_text(BAD)
    code, out, err = run("compile", str(src))
    assert code == 1 and out == ""
    assert f"{src}:2:20: error: Expected :, got string" in err


def test_validate_formats_with_source_line_and_caret(tmp_path: Path) -> None:
    src = tmp_path / "bad.manifest"
    src.write_text(BAD)
    code, out, _ = run("validate", str(src))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{src}:2:20: error: Expected :, got string"
    assert lines[1].strip() == "property x string" and lines[2].strip() == "^"


def test_validate_good_file_and_stdin(tmp_path: Path) -> None:
    src = tmp_path / "a.manifest"
    src.write_text(GOOD)
    assert run("validate", str(src))[0] == 0
    assert run("validate", "-", input=BAD)[0] == 1


def test_missing_binary_and_non_utf8_files_give_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "bin.manifest"
    binary.write_bytes(b"\x7fELF\x00\x01")
    latin = tmp_path / "latin.manifest"
    latin.write_bytes("entity Caf\xe9 {}".encode("latin-1"))
    for path, text in (
        (tmp_path / "nope.manifest", "no such file"),
        (binary, "binary file"),
        (latin, "not valid UTF-8"),
        (tmp_path, "is a directory"),
    ):
        for command in ("compile", "validate", "lint"):
            code, _, err = run(command, str(path))
            assert code != 0
            assert err.count("\n") == 1 and text in err and "Traceback" not in err


def test_lint_reports_silent_drops_without_changing_compile(tmp_path: Path) -> None:
    src = tmp_path / "a.manifest"
    src.write_text(
        '# header\nentity A {\n  property x: number = 0\n  command c() {\n    guard x > 0 "pos"\n'
        "    mutate x = 1\n  }\n}\nstore A in memory\n"
    )
    code, out, _ = run("lint", str(src))
    assert code == 1
    assert "'#' is not a comment" in out and "'header' is ignored at top level" in out
    assert "is not a guard message" in out
    assert run("compile", str(src))[0] == 0


def test_validate_reports_whole_model_warnings_without_a_position(tmp_path: Path) -> None:
    src = tmp_path / "w.manifest"
    src.write_text("entity A {\n  property x: number = 0\n}\nstore A in memory\n")
    code, out, _ = run("validate", str(src))
    assert code == 0
    assert out.startswith(f"{src}: warning: Entity 'A' is persisted (has store) but has no commands")


def test_compile_writes_numbers_past_64_bits(tmp_path: Path) -> None:
    src = tmp_path / "big.manifest"
    src.write_text(
        "entity A {\n  property required id: string\n"
        "  property total: number = 1000000000000000000000\n"
        "  property wide: number = 18446744073709551616\n}\n"
    )
    code, out, err = run("compile", str(src))
    assert code == 0, err
    ir = json.loads(out)
    values = [p.get("defaultValue", {}).get("value") for p in ir["entities"][0]["properties"]]
    assert values[1:] == [1e21, 2.0**64]
