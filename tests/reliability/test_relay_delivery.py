"""The relay on real brokers: killed mid-publish, every event still arrives, once per consumer
that dedupes by entryId, in per-instance order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from manifest_lang.errors import StoreUnavailableError
from manifest_lang.outbox.publishers import open_publisher
from manifest_lang.outbox.relay import Backoff, Relay
from manifest_lang.stores.base import UnitOfWork
from manifest_lang.stores.urls import open_store

pytestmark = pytest.mark.slow
INSTANCES = 20


def entry(instance: int, k: int) -> dict[str, Any]:
    return {
        "entryId": f"i{instance:02d}:{k:05d}",
        "enqueuedAt": k,
        "event": {
            "name": "StockReserved",
            "channel": "inventory.reserved",
            "payload": {"k": k},
            "subject": {"entity": "Item", "command": "reserve", "id": f"item-{instance}"},
            "emitIndex": 0,
        },
    }


def fill(store: Any, per_instance: int) -> list[str]:
    ids = []
    for k in range(per_instance):
        batch = [entry(i, k) for i in range(INSTANCES)]
        for start in range(0, INSTANCES, 5):  # several commits, interleaving the instances
            store.commit(UnitOfWork(outbox=batch[start : start + 5]))
        ids += [e["entryId"] for e in batch]
    return ids


def assert_exactly_once_in_order(received: list[str], expected: list[str]) -> None:
    seen: dict[str, None] = {}
    for entry_id in received:  # the consumer's dedupe by entryId
        seen.setdefault(entry_id, None)
    assert sorted(seen) == sorted(expected)
    for i in range(INSTANCES):
        mine = [e for e in seen if e.startswith(f"i{i:02d}:")]
        assert mine == sorted(mine), f"instance {i} out of order"


class Broker:
    """A unique NATS stream or Redis stream for one test, read back and removed."""

    def __init__(self, kind: str, url: str) -> None:
        tag = uuid.uuid4().hex[:8]
        self.kind = kind
        if kind == "nats":
            self.stream, self.prefix = f"RELT{tag}".upper(), f"relt{tag}"
            self.url = f"{url}?stream={self.stream}&subject_prefix={self.prefix}"
        else:
            self.stream, self.base = f"relt:{tag}", url
            self.url = f"{url}?stream={self.stream}"

    def received(self) -> list[str]:
        if self.kind == "redis":
            import redis

            client = redis.Redis.from_url(self.base)
            entries = client.xrange(self.stream)
            client.close()
            return [fields[b"entryId"].decode() for _, fields in entries]
        return asyncio.run(self._nats_messages())

    async def _nats_messages(self) -> list[str]:
        import nats

        nc = await nats.connect(self.url.split("?")[0])
        js = nc.jetstream()
        info = await js.stream_info(self.stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(self.stream, seq)
            out.append(orjson.loads(msg.data)["entryId"])
        await nc.close()
        return out

    def remove(self) -> None:
        if self.kind == "redis":
            import redis

            client = redis.Redis.from_url(self.base)
            client.delete(self.stream)
            client.close()
            return

        async def drop() -> None:
            import nats

            nc = await nats.connect(self.url.split("?")[0])
            try:
                await nc.jetstream().delete_stream(self.stream)
            finally:
                await nc.close()

        asyncio.run(drop())


@pytest.fixture(params=["nats", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    url = request.getfixturevalue("nats_url" if request.param == "nats" else "redis_url")
    b = Broker(request.param, url)
    yield b
    try:
        b.remove()
    except Exception:
        pass  # nothing was created


def relay_process(db: str, to: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "manifest_lang", "relay", "--db", db, "--to", to, "--batch-size", "50"]
    return subprocess.Popen(
        [*cmd, "--lease-ttl", "1", "--interval", "0.1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_relay_killed_mid_publish_delivers_every_event_once_in_order(
    durable_url: str, broker: Broker
) -> None:
    store = open_store(durable_url)
    expected = fill(store, per_instance=100)  # 2000 events
    proc = relay_process(durable_url, broker.url)
    deadline = time.monotonic() + 60
    while store.outbox_counts().published < 400 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    counts = store.outbox_counts()  # type: ignore[attr-defined]
    assert 400 <= counts.published < 2000, "kill the relay while it is publishing"
    time.sleep(1.2)  # the killed relay's lease runs out
    rerun = relay_process(durable_url, broker.url, "--once")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert "relay: done" in out
    assert store.outbox_counts().to_dict() == {  # type: ignore[attr-defined]
        "pending": 0,
        "published": 2000,
        "failed": 0,
        "dead": 0,
    }
    received = broker.received()
    assert_exactly_once_in_order(received, expected)
    if broker.kind == "nats":
        assert len(received) == 2000  # Nats-Msg-Id: the server dropped the re-published duplicates
    store.close()


def test_nats_subject_and_duplicate_suppression(nats_url: str, tmp_path: Any) -> None:
    b = Broker("nats", nats_url)
    store = open_store(f"sqlite:///{tmp_path}/n.db")
    try:
        store.commit(UnitOfWork(outbox=[entry(1, 0)]))
        publisher = open_publisher(b.url)
        row = store.claim_outbox(1, now=time.time())[0]  # type: ignore[attr-defined]
        assert publisher.subject_for(row) == f"{b.prefix}.inventory.reserved.StockReserved"  # type: ignore[attr-defined]
        assert publisher.publish([[row]]) == {row.seq: None}
        assert publisher.publish([[row]]) == {row.seq: None}  # a re-publish is acknowledged...
        assert b.received() == [row.entry_id]  # ...and dropped by the server
        publisher.close()
    finally:
        b.remove()
        store.close()


def test_an_unreachable_broker_costs_no_attempt_and_the_relay_keeps_trying(tmp_path: Any) -> None:
    store = open_store(f"sqlite:///{tmp_path}/r.db")
    store.commit(UnitOfWork(outbox=[entry(1, 0), entry(1, 1)]))
    publisher = open_publisher("redis://127.0.0.1:1/0")  # nothing listens on port 1
    relay = Relay(store, publisher, max_attempts=1, backoff=Backoff(base_seconds=0.02))  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailableError):
        relay.run_once()
    stop = threading.Event()
    runner = threading.Thread(target=relay.run_forever, args=(stop,))
    runner.start()
    time.sleep(0.5)  # several outage retries; with max_attempts=1 any counted attempt would be fatal
    stop.set()
    runner.join(10)
    assert store.outbox_counts().to_dict() == {"pending": 2, "published": 0, "failed": 0, "dead": 0}  # type: ignore[attr-defined]
    publisher.close()
    store.close()


def test_sigterm_stops_a_running_relay_cleanly(tmp_path: Any, redis_url: str) -> None:
    b = Broker("redis", redis_url)
    db = f"sqlite:///{tmp_path}/t.db"
    store = open_store(db)
    expected = fill(store, per_instance=5)
    proc = relay_process(db, b.url)
    try:
        deadline = time.monotonic() + 30
        while store.outbox_counts().published < len(expected) and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "SIGTERM received" in err
        assert f"relay: done published={len(expected)}" in out
        assert sorted(b.received()) == sorted(expected)
        # The lease was released: another relay can start at once.
        assert store.acquire_relay_lease("next", 5.0, now=time.time())  # type: ignore[attr-defined]
    finally:
        if proc.poll() is None:
            proc.kill()
        b.remove()
        store.close()
