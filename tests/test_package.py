from __future__ import annotations

from click.testing import CliRunner

import manifest_lang
from manifest_lang.cli import main
from manifest_lang.stores import MemoryStore, RowWrite, UnitOfWork


def test_version_and_lazy_exports() -> None:
    assert manifest_lang.__version__
    assert manifest_lang.UNDEFINED is manifest_lang.UNDEFINED
    assert not manifest_lang.UNDEFINED


def test_cli_lists_commands_without_importing_them() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "compile" in result.output and "serve" in result.output


def test_memory_store_commit_checks_revisions() -> None:
    store = MemoryStore()
    store.commit(UnitOfWork(writes=[RowWrite("Item", "a", {"id": "a", "n": 1}, 0)]))
    loaded = store.load("Item", "a")
    assert loaded is not None and loaded.revision == 1
    stale = UnitOfWork(writes=[RowWrite("Item", "a", {"id": "a", "n": 2}, 0)])
    try:
        store.commit(stale)
    except manifest_lang.StoreConflictError:
        pass
    else:  # pragma: no cover - the assertion below documents intent
        raise AssertionError("stale write must conflict")
    assert store.scan("Item") == [{"id": "a", "n": 1}]
