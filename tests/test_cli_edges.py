"""Hostile files and lines given to the ``manifest`` commands (issue 12): one clear line on stderr
and a non-zero exit, never a traceback; ``manifest run`` answers a bad line and goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from manifest_lang.cli import main
from manifest_lang.compiler.api import compile_source

MODEL = """entity A {
  property required id: string
  property x: number = 0
  constraint c: x >= 0
  command go() { mutate x = 1 }
}
store A in memory
"""


def invoke(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=True)


def assert_one_clear_line(result: Result, *needles: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines, "no message"
    message = lines[-1]
    for needle in needles:
        assert needle in message, message


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ir = compile_source(MODEL).ir
    assert ir is not None
    deep_expression = ir["entities"][0]["constraints"][0]["expression"]
    for _ in range(245):  # a valid IR shape, too deep for the checker (and for orjson to write)
        deep_expression = {"kind": "unary", "operator": "!", "operand": deep_expression}
    too_deep = json.loads(json.dumps(ir))
    too_deep["entities"][0]["constraints"][0]["expression"] = deep_expression
    paths = {
        "ok": (MODEL.encode(), ".manifest"),
        "latin1": (MODEL.encode() + "// café\n".encode("latin-1"), ".manifest"),
        "nul": (MODEL.encode().replace(b"entity", b"ent\x00ity", 1), ".manifest"),
        "ir_5000": (b"[" * 5000 + b"]" * 5000, ".json"),
        "ir_objects": (b'{"a":' * 5000 + b"1" + b"}" * 5000, ".json"),
        "ir_expression": (json.dumps(too_deep).encode(), ".json"),
        "binary": (bytes(range(256)) * 4, ".txt"),
    }
    out = {}
    for name, (data, suffix) in paths.items():
        out[name] = tmp_path / f"{name}{suffix}"
        out[name].write_bytes(data)
    return out


@pytest.mark.parametrize("command", ["run", "serve", "compile"])
def test_a_model_that_is_not_utf8_is_one_line(files: dict[str, Path], command: str) -> None:
    assert_one_clear_line(invoke(command, str(files["latin1"]), stdin=b""), "not valid UTF-8")


@pytest.mark.parametrize("command", ["run", "serve", "compile", "validate", "lint"])
def test_a_model_with_nul_bytes_is_refused_by_every_command(files: dict[str, Path], command: str) -> None:
    assert_one_clear_line(invoke(command, str(files["nul"]), stdin=b""), "NUL")


@pytest.mark.parametrize("name", ["ir_5000", "ir_objects", "ir_expression"])
@pytest.mark.parametrize("command", ["run", "serve"])
def test_an_ir_nested_too_deep_is_one_line(files: dict[str, Path], command: str, name: str) -> None:
    result = invoke(command, str(files[name]), stdin=b"")
    assert_one_clear_line(result, files[name].name)
    assert "deep" in result.output.splitlines()[-1]


def test_a_binary_script_is_refused_before_anything_runs(files: dict[str, Path]) -> None:
    result = invoke("run", str(files["ok"]), "--script", str(files["binary"]))
    assert_one_clear_line(result, "--script", "binary")


def test_bad_stdin_lines_answer_an_error_and_the_session_goes_on(files: dict[str, Path]) -> None:
    deep = b"[" * 990 + b"]" * 990
    lines = [
        b'{"op": "create", "entity": "A", "data": {"id": "a1", "x": ' + deep + b"}}",
        b"\xff\xfe not utf-8",
        b"[" * 100_000,
        b'{"op": "create", "entity": "A", "data": {"id": "a2"}}',
        b'{"op": "run", "command": "go", "entity": "A", "id": "a2"}',
        b'{"op": "get", "entity": "A", "id": "a2"}',
    ]
    result = invoke("run", str(files["ok"]), stdin=b"\n".join(lines) + b"\n")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert [a["ok"] for a in answers] == [False, False, False, True, True, True]
    assert "deeper than" in answers[0]["error"] and "UnicodeDecodeError" in answers[1]["error"]
    assert answers[-1]["instance"]["x"] == 1


def test_a_port_out_of_range_is_refused(files: dict[str, Path]) -> None:
    for port in ("70000", "0", "-1"):
        assert_one_clear_line(invoke("serve", str(files["ok"]), "--port", port), "--port")


def test_a_deep_api_keys_file_is_one_line(files: dict[str, Path]) -> None:
    result = invoke("serve", str(files["ok"]), "--db", "memory://", "--api-keys", str(files["ir_objects"]))
    assert_one_clear_line(result, "API keys", "deeper than")


def test_compile_prints_the_same_numbers_as_compile_source(tmp_path: Path) -> None:
    source = MODEL.replace("property x: number = 0", "property x: number = " + "1" * 300)
    path = tmp_path / "big.manifest"
    path.write_text(source)
    result = invoke("compile", str(path))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout, parse_constant=_no_constants)  # strict: no NaN/Infinity
    ir = compile_source(source).ir
    assert ir is not None
    assert printed["entities"][0]["properties"][1]["defaultValue"] == {
        "kind": "number",
        "value": 1.1111111111111112e299,
    }
    assert printed["entities"] == ir["entities"]
    path.write_text(MODEL.replace("property x: number = 0", "property x: number = " + "9" * 400))
    refused = invoke("compile", str(path))
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "error: Number literal 99999999999999999999... is beyond the largest number" in refused.output


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
