"""The durable-work schema is versioned and upgraded on open; ``manifest worker`` prints counts
and schedules, and fails with one line on bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from manifest_lang.cli import main
from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.stores.work import WorkItem

TICKS = """
event Ticked: "tick" { at: number }
command tick(at: number) {
  emit Ticked
}
schedule everyMinute interval "1m" run tick(at: now())
"""


def test_a_store_from_before_durable_work_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:  # make it look like a database written before version 1
        for table in ("work", "schedules", "approvals", "rate_limits", "schema_version"):
            conn.execute(f'DROP TABLE "manifest_{table}"')
    store = SQLiteStore(path)
    assert store.enqueue_work([WorkItem("a", "job", {})], now=1.0) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT component, version FROM manifest_schema_version").fetchall() == [
            ("work", 1)
        ]
    store.close()
    SQLiteStore(path).close()  # a second open applies nothing and keeps the rows
    assert SQLiteStore(path).get_work("a") is not None


def test_a_newer_schema_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE manifest_schema_version SET version = 7")
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM manifest_schema_version").fetchone() == (7,)


def test_worker_status_and_schedules(tmp_path: Path) -> None:
    model = tmp_path / "ticks.manifest"
    model.write_text(TICKS)
    db = f"sqlite:///{tmp_path}/w.db"
    runner = CliRunner()
    once = runner.invoke(main, ["worker", str(model), "--db", db, "--once"])
    assert once.exit_code == 0, once.output
    assert json.loads(once.output.strip().splitlines()[-1]) == {"ran": 0, "statuses": {}}
    store = SQLiteStore(tmp_path / "w.db")
    store.enqueue_work([WorkItem("x", "job", {}), WorkItem("y", "job", {})], now=1.0)
    store.close()
    status = runner.invoke(main, ["worker", "status", "--db", db, "--json"])
    assert status.exit_code == 0 and json.loads(status.output)["job"]["pending"] == 2
    table = runner.invoke(main, ["worker", "status", "--db", db])
    assert "job" in table.output and "pending" in table.output
    schedules = runner.invoke(main, ["worker", "schedules", "--db", db, "--json"])
    [row] = json.loads(schedules.output)
    assert row["schedule"] == "everyMinute" and row["nextDue"] == row["lastDue"] + 60


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "ticks.manifest"
    model.write_text(TICKS)
    cases = [
        ["worker", "status", "--db", "nosuch://x"],
        ["worker", str(model), "--db", f"sqlite:///{tmp_path}/a.db", "--only", "jobs,bogus"],
        ["worker", str(tmp_path / "missing.manifest"), "--db", f"sqlite:///{tmp_path}/a.db"],
        ["worker", str(model), "--db", f"sqlite:///{tmp_path}/a.db", "--schedule-context", "[1]"],
        ["worker", str(model), "--db", f"sqlite:///{tmp_path}/a.db", "--timezone", "Nowhere/Land"],
    ]
    for args in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("manifest worker: "), (args, result.output)
