"""The native build's module list matches pyproject.toml, and the running build names itself."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from manifest_lang.native import NATIVE_MODULES, build_name, compiled_modules

ROOT = Path(__file__).resolve().parents[1]


def test_module_list_matches_the_build_hook() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]["include"]
    as_modules = [p.removeprefix("src/").removesuffix(".py").replace("/", ".") for p in include]
    assert as_modules == list(NATIVE_MODULES)


def test_the_running_build_names_itself() -> None:
    assert build_name() in ("native", "python")  # a half-compiled install would be a packaging bug
    assert build_name() == ("native" if compiled_modules() else "python")
    # CI's native stage sets this, so its suites cannot silently run the plain-Python modules.
    expected = os.environ.get("MANIFEST_EXPECT_BUILD")
    if expected:
        assert build_name() == expected
