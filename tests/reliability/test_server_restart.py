"""A private PostgreSQL server (its own data directory and port, so the shared one is never
touched) restarted in the middle of a command storm: commands fail cleanly while it is down,
work again after it is back, and rows, outbox and revisions stay consistent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_inventory import ReserveStorm, assert_storm_consistent, inventory_ir, seed_items

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.postgres import PostgresStore

pytestmark = pytest.mark.slow
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)


class PrivateServer:
    def __init__(self, root: Path) -> None:
        assert PG_BIN is not None
        self.data, self.port = root / "data", _free_port()
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        # -l: the server must not inherit our pipes, or waiting for pg_ctl would wait for the server
        log = str(self.data.parent / "server.log")
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", *args)  # type: ignore[operator]


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PrivateServer]:
    if PG_BIN is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) or runuser not installed")
    root = Path("/tmp") / f"manifest-pg-{os.getpid()}-{tmp_path.name}"
    server = PrivateServer(root)
    server.pg_ctl("start")
    try:
        yield server
    finally:
        server.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_server_restart_mid_storm(private_pg: PrivateServer) -> None:
    store = PostgresStore(private_pg.dsn, pool_size=2, pool_timeout=3, connect_timeout=2)
    items = seed_items(store, 3, stock=1_000_000)
    engine = RuntimeEngine(inventory_ir(), {}, store_provider=store)
    with ReserveStorm(engine, items, pause_when_unavailable=0.05) as storm:
        time.sleep(1.0)
        before = storm.outcomes["success"]
        started = store._fetch("SELECT pg_postmaster_start_time()")[0][0]
        private_pg.pg_ctl("-m", "fast", "restart")
        time.sleep(1.5)
    outcomes = storm.outcomes
    assert store._fetch("SELECT pg_postmaster_start_time()")[0][0] > started  # it did restart
    print("restart outcomes:", before, dict(outcomes))
    assert before > 10 and outcomes["success"] > before, outcomes  # it worked again after the restart
    assert_storm_consistent(store, items, outcomes)
    store.close()
