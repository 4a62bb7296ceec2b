"""The runtime fuzzer in the suite (issue 12): mutated IR and hostile API calls on memory and
SQLite raise nothing outside ``manifest_lang.errors``.

About a minute in all under ``CI=true`` (less locally). A longer run, for example ten minutes per
store with another seed:

    MANIFEST_FUZZ_SECONDS=600 MANIFEST_FUZZ_SEED=7 \
        .venv/bin/python -m pytest -q -s tests/runtime/test_runtime_fuzz.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore
from manifest_lang.stores.sqlite import SQLiteStore

from .runtime_fuzz import load_irs, run

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

SECONDS = float(os.environ.get("MANIFEST_FUZZ_SECONDS", "25" if IN_CI else "6"))
SEED = int(os.environ.get("MANIFEST_FUZZ_SEED", "12"))


@pytest.fixture(scope="module")
def irs(conformance_dir: Path) -> list[dict[str, Any]]:
    return load_irs(conformance_dir)


def test_fuzz_memory_store(irs: list[dict[str, Any]]) -> None:
    findings = run(irs, SECONDS, SEED, lambda: MemoryStore(record_outbox=True, record_audit=True))
    print(f"runtime fuzz (memory, seed {SEED}): {findings.calls} calls, {findings.escaped} escaped")
    assert not findings.kinds, findings.summary()


def test_fuzz_sqlite_store(irs: list[dict[str, Any]], tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "fuzz.db")

    def reset(s: Any) -> None:
        s._execute(f"DELETE FROM {s.tables.instances}")
        s._execute(f"DELETE FROM {s.tables.idempotency}")

    try:
        findings = run(irs, SECONDS, SEED + 1, lambda: store, SqlIdempotencyStore, reset)
    finally:
        store.close()
    print(f"runtime fuzz (sqlite, seed {SEED + 1}): {findings.calls} calls, {findings.escaped} escaped")
    assert not findings.kinds, findings.summary()
