"""The public API is typed for users: mypy --strict and pyright see every exported name with its
type, so a typo'd method and a wrong argument type in a user's script are reported."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import IN_CI

import manifest_lang

GOOD = '''
from manifest_lang import CommandResult, MemoryStore, RuntimeEngine, compile_source, load_model

SOURCE = """
entity Note {
  property required id: string
  property title: string = ""
  command rename(title: string) {
    mutate title = title
  }
}
"""

compiled = compile_source(SOURCE)
assert compiled.ir is not None
engine = RuntimeEngine(compiled.ir, {"user": {"id": "u1"}}, store_provider=MemoryStore())
created: dict[str, object] | None = engine.create_instance("Note", {"id": "n1"})
result: CommandResult = engine.run_command(
    "rename", {"title": "hello"}, entity_name="Note", instance_id="n1", correlation_id="c-1"
)
ok: bool = result.success
model = load_model(SOURCE)
print(ok, created, model.ir["version"] if "version" in model.ir else None)
'''

BAD = (
    GOOD
    + """
engine.run_comand("rename", {"title": "typo"})
engine.run_command(42, entity_name="Note")
"""
)


def _checker(name: str) -> list[str]:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        message = f"{name} is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return [found]


def _run(command: list[str], script: Path) -> subprocess.CompletedProcess[str]:
    # Run from the script's directory: no project configuration applies, as for a user's script.
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    return subprocess.run(
        [*command, script.name], capture_output=True, text=True, cwd=script.parent, timeout=600, env=env
    )


@pytest.fixture
def scripts(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = tmp_path / "good" / "user_script.py"
    bad = tmp_path / "bad" / "user_script.py"
    good.write_text(GOOD)
    bad.write_text(BAD)
    return good, bad


def test_mypy_strict_sees_the_api(scripts: tuple[Path, Path]) -> None:
    good, bad = scripts
    mypy = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        sys.executable,
    ]
    clean = _run(mypy, good)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = _run(mypy, bad)
    assert broken.returncode == 1, broken.stdout
    assert '"RuntimeEngine" has no attribute "run_comand"' in broken.stdout, broken.stdout
    assert 'Argument 1 to "run_command" of "RuntimeEngine" has incompatible type "int"' in broken.stdout


def test_pyright_sees_the_api(scripts: tuple[Path, Path]) -> None:
    good, bad = scripts
    pyright = [*_checker("pyright"), "--pythonpath", sys.executable]
    clean = _run(pyright, good)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = _run(pyright, bad)
    assert broken.returncode == 1, broken.stdout
    assert 'Cannot access attribute "run_comand"' in broken.stdout, broken.stdout
    assert '"Literal[42]" is not assignable to "str"' in broken.stdout, broken.stdout


def test_the_type_checking_imports_match_the_exports() -> None:
    tree = ast.parse(Path(manifest_lang.__file__).read_text())
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            typed |= {
                alias.asname or alias.name
                for n in node.body
                if isinstance(n, ast.ImportFrom)
                for alias in n.names
            }
    assert typed == set(manifest_lang._EXPORTS)


def test_runtime_checks_stay_for_untyped_callers() -> None:
    engine = manifest_lang.RuntimeEngine(
        manifest_lang.load_model("entity Note { property required id: string }")
    )
    refused = engine.run_command(42)  # type: ignore[arg-type]
    assert not refused.success and "INVALID_INPUT" in (refused.error or "")
