"""open_store(url) and the ``manifest outbox`` / ``manifest relay`` command lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from manifest_lang.cli import main
from manifest_lang.errors import StoreError
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.stores.urls import open_store


def test_memory_and_sqlite_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    store = open_store(f"sqlite:///{tmp_path}/x.db?prefix=app_&synchronous=FULL&busy_timeout_ms=100")
    assert isinstance(store, SQLiteStore)
    assert store.path == f"{tmp_path}/x.db" and store.tables.prefix == "app_"
    assert store.synchronous == "FULL" and store.busy_timeout_ms == 100
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x/y",
        "sqlite://",
        "sqlite:///x.db?nope=1",
        "sqlite:///x.db?busy_timeout_ms=soon",
        "sqlite:///x.db?prefix=a-b",
    ],
)
def test_bad_urls_raise_store_errors(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


def test_postgres_url_keeps_driver_options_and_takes_store_options(postgres_dsn: str) -> None:
    store = open_store(postgres_dsn + "?schema=mt_urls&prefix=u_&pool_size=2&connect_timeout=3")
    try:
        assert store.schema == "mt_urls" and store.tables.prefix == "u_"  # type: ignore[attr-defined]
        assert "connect_timeout=3" in store.dsn  # type: ignore[attr-defined]
    finally:
        store.drop_schema(drop_namespace=True)  # type: ignore[attr-defined]
        store.close()


def test_outbox_command_prints_counts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/o.db"
    result = CliRunner().invoke(main, ["outbox", "--db", db])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "pending=0 published=0 failed=0 dead=0"
    result = CliRunner().invoke(main, ["outbox", "--db", db, "--json"])
    assert result.output.strip() == '{"pending":0,"published":0,"failed":0,"dead":0}'


def test_cli_reports_a_bad_store_or_broker_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["outbox", "--db", "oracle://x"])
    assert result.exit_code == 1 and "unsupported store URL" in result.output
    result = CliRunner().invoke(main, ["relay", "--db", f"sqlite:///{tmp_path}/o.db", "--to", "kafka://x"])
    assert result.exit_code == 1 and "unsupported broker URL" in result.output


def test_outbox_maintenance_lists_requeues_and_purges(tmp_path: Path) -> None:
    from manifest_lang.stores.base import UnitOfWork

    from .test_store_contract import event_entry

    db = f"sqlite:///{tmp_path}/m.db"
    store = open_store(db)
    store.commit(UnitOfWork(outbox=[event_entry("e1", "A"), event_entry("e2", "B")]))
    first, second = store.claim_outbox(10, now=1.0)  # type: ignore[attr-defined]
    store.mark_failed(first.seq, "poison message", retry_at=0.0, dead=True)  # type: ignore[attr-defined]
    store.mark_published([second.seq], now=1.0)  # type: ignore[attr-defined]
    runner = CliRunner()
    shown = runner.invoke(main, ["outbox", "--db", db, "--dead"])
    assert shown.exit_code == 0, shown.output
    assert "dead seq=1 entry=e1 Item#A Moved attempts=1 error=poison message" in shown.output
    assert shown.output.strip().endswith("pending=0 published=1 failed=0 dead=1")
    requeued = runner.invoke(main, ["outbox", "--db", db, "--requeue-dead", "--purge-published", "0"])
    assert "requeued 1 dead entries" in requeued.output and "purged 1 published entries" in requeued.output
    assert requeued.output.strip().endswith("pending=1 published=0 failed=0 dead=0")
    assert [r.entry_id for r in store.claim_outbox(10, now=1.0)] == ["e1"]  # type: ignore[attr-defined]
    store.close()


def test_memory_url_is_refused_by_the_outbox_commands() -> None:
    for args in (
        ["outbox", "--db", "memory://", "--dead"],
        ["relay", "--db", "memory://", "--to", "redis://x"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "memory:// lives inside one process" in result.output
