"""docs/tutorial.md, executed: every model, file and command of the page, with its shown output.

Blocks: ```manifest file=NAME``` declarations go into NAME (a declaration replaces the one of the
same kind and name, others are appended, as the text tells the reader); ```python file=NAME```
is written as is; ```console``` lines starting with `$ ` run (manifest commands through the CLI,
`curl` against the app `manifest serve` would run, `python -m pytest` in a subprocess) and the
lines after each one are its expected output (JSON shown is checked to be contained in the answer).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from manifest_lang.cli import main
from manifest_lang.http.app import create_app

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(text: str) -> list[tuple[str, dict[str, str], str]]:
    found = []
    for kind, info, body in _BLOCK.findall(text):
        attrs = dict(part.split("=", 1) for part in info.split() if "=" in part)
        found.append((kind, attrs, body))
    return found


def declarations(source: str) -> list[tuple[str, str]]:
    """(key, text) per top-level declaration; comment lines belong to the declaration after them."""
    decls: list[tuple[str, str]] = []
    pending: list[str] = []
    depth = 0
    for line in source.splitlines():
        if depth == 0 and (not line.strip() or line.startswith("//")):
            pending.append(line)
            continue
        if depth == 0:
            words = line.replace(":", " ").split()
            decls.append((" ".join(words[:2]), "\n".join([*pending, line])))
            pending = []
        else:
            key, text = decls[-1]
            decls[-1] = (key, f"{text}\n{line}")
        depth += line.count("{") - line.count("}")
    return decls


def merge(current: str, block: str) -> str:
    merged = declarations(current)
    for key, text in declarations(block):
        keys = [k for k, _ in merged]
        if key in keys:
            merged[keys.index(key)] = (key, text)
        else:
            merged.append((key, text))
    return "\n\n".join(text.strip("\n") for _, text in merged) + "\n"


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) >= len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=False))
        )
    return bool(actual == expected)


class Session:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.client: TestClient | None = None
        self.variables: dict[str, str] = {}

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None

    def run(self, command: str, expected: list[str]) -> None:
        assignment = re.fullmatch(r"([A-Z_]+)=(.*)", command)
        if assignment:
            [self.variables[assignment[1]]] = shlex.split(assignment[2])
            return
        for name, value in self.variables.items():
            command = command.replace(f'"${name}"', shlex.quote(value))
        argv = shlex.split(command)
        if argv[:2] == ["manifest", "serve"]:
            self._serve(argv[2:])
        elif argv[0] == "manifest":
            result = CliRunner().invoke(main, argv[1:])
            lines = [line.rstrip() for line in result.stdout.splitlines()]
            assert lines == [line.rstrip() for line in expected], f"{command}\n{result.stdout}{result.stderr}"
        elif argv[0] == "curl":
            self._curl(argv[1:], expected)
        elif argv[:3] == ["python", "-m", "pytest"]:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv[3:]],
                cwd=self.project,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            for line in expected:
                assert line in done.stdout
        else:
            raise AssertionError(f"the tutorial runs a command this test does not know: {command}")

    def _serve(self, args: list[str]) -> None:
        self.close()
        model = self.project / args[0]
        db = args[args.index("--db") + 1] if "--db" in args else "sqlite:///manifest.db"
        auth = "headers" if "--trust-headers" in args else None
        self.client = TestClient(create_app(model, store=db, auth=auth))
        self.client.__enter__()

    def _curl(self, args: list[str], expected: list[str]) -> None:
        assert self.client is not None, "curl before manifest serve"
        method, body, headers, url = "GET", None, {}, ""
        it = iter(args)
        for arg in it:
            if arg == "-s":
                continue
            if arg == "-X":
                method = next(it)
            elif arg == "-H":
                name, _, value = next(it).partition(":")
                headers[name.strip()] = value.strip()
            elif arg == "-d":
                body = next(it)
                method = "POST" if method == "GET" else method
            else:
                url = arg
        path = url.split("localhost:8000", 1)[1]
        response = self.client.request(method, path, content=body, headers=headers)
        answer = response.json()
        for line in expected:
            assert contains(answer, json.loads(line)), f"curl {' '.join(args)}\n{line}\n{answer}"


def test_the_tutorial_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    monkeypatch.chdir(project)
    session = Session(project)
    text = TUTORIAL.read_text(encoding="utf-8")
    ran = 0
    try:
        for kind, attrs, body in blocks(text):
            if kind == "manifest" and "file" in attrs:
                target = project / attrs["file"]
                current = target.read_text() if target.exists() else ""
                target.write_text(merge(current, body) if current else body)
                # the typo the page asks the reader to try, on the model as it is at that point
                (project / "typo.manifest").write_text(
                    target.read_text().replace("mutate stock = stock", "mutate stok = stock")
                )
            elif kind == "python" and "file" in attrs:
                (project / attrs["file"]).write_text(body)
            elif kind == "console":
                lines = body.splitlines()
                for index, line in enumerate(lines):
                    if not line.startswith("$ "):
                        continue
                    expected = []
                    for following in lines[index + 1 :]:
                        if following.startswith("$ "):
                            break
                        expected.append(following)
                    session.run(line[2:], expected)
                    ran += 1
    finally:
        session.close()
    assert ran >= 25
