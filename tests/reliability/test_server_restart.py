"""A private PostgreSQL server (its own data directory and port, so the shared one is never
touched) restarted in the middle of a command storm: commands fail cleanly while it is down,
work again after it is back, and rows, outbox and revisions stay consistent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_inventory import all_events, inventory_ir, seed_items

from manifest_lang.errors import StoreError, StoreUnavailableError
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
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def storm() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                result = engine.run_command(
                    "reserve", {"qty": 1}, entity_name="Item", instance_id=items[n % 3]
                )
                outcomes["success" if result.success else "failed"] += 1
            except StoreUnavailableError:
                outcomes["unavailable"] += 1
                time.sleep(0.05)
            except StoreError:
                outcomes["store_error"] += 1

    worker = threading.Thread(target=storm)
    worker.start()
    time.sleep(1.0)
    before = outcomes["success"]
    started = store._fetch("SELECT pg_postmaster_start_time()")[0][0]
    private_pg.pg_ctl("-m", "fast", "restart")
    time.sleep(1.5)
    stop.set()
    worker.join(60)
    assert store._fetch("SELECT pg_postmaster_start_time()")[0][0] > started  # it did restart
    print("restart outcomes:", before, dict(outcomes))
    assert before > 10 and outcomes["success"] > before, outcomes  # it worked again after the restart
    assert outcomes["store_error"] == 0 and outcomes["failed"] == 0, outcomes

    events = all_events(store)
    per_item = Counter(e.instance_id for e in events)
    for item in items:
        row = store.load("Item", item)
        assert row is not None and row.row["reserved"] == per_item[item]
        assert row.revision == 1 + row.row["reserved"]
    assert outcomes["success"] <= len(events) <= outcomes["success"] + outcomes["unavailable"]
    store.close()
