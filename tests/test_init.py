"""`manifest init`: the project it writes checks, tests and serves as its README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from manifest_lang.cli import main
from manifest_lang.http.app import create_app


def test_init_writes_a_project_that_checks_tests_and_serves(tmp_path: Path) -> None:
    project = tmp_path / "board"
    result = CliRunner().invoke(main, ["init", str(project)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "tasks.manifest", "test_tasks.py"]
    assert "manifest serve tasks.manifest" in result.stdout
    model = project / "tasks.manifest"
    assert CliRunner().invoke(main, ["check", str(model)]).exit_code == 0
    assert CliRunner().invoke(main, ["fmt", "--check", str(model)]).exit_code == 0
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    # the README's curl session, against the same app `manifest serve` runs
    with TestClient(create_app(model, store="memory://")) as client:
        assert client.post("/Task", json={"id": "t1"}).status_code == 201
        planned = client.post("/Task/t1/commands/plan", json={"title": "Write docs", "estimate": 3})
        assert planned.status_code == 200, planned.text
        assert client.post("/Task/t1/commands/start").status_code == 200
        assert client.get("/Task/t1").json()["status"] == "doing"
    readme = (project / "README.md").read_text()
    assert "/Task/t1/commands/plan" in readme and "python -m pytest" in readme


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "tasks.manifest").write_text("// mine\n")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1 and "already exist" in result.output
    assert (tmp_path / "tasks.manifest").read_text() == "// mine\n"
    assert not (tmp_path / "README.md").exists()
