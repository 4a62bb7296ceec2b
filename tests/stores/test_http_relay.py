"""Outbound HTTP delivery: the relay POSTs outbox events to a real receiver on 127.0.0.1 that
fails, times out and drops connections; every event arrives (deduped by its id), signed, in
per-instance order, and the hopeless ones are dead-lettered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.errors import StoreUnavailableError
from manifest_lang.outbox.http_publisher import HttpPublisher
from manifest_lang.outbox.publishers import open_publisher
from manifest_lang.outbox.relay import Backoff, Relay
from manifest_lang.outbox.signing import compute, signature_header, verify_timestamped
from manifest_lang.stores.base import UnitOfWork
from manifest_lang.stores.sqlite import SQLiteStore

from .partner import Partner, free_port
from .test_relay import Clock
from .test_store_contract import event_entry


@pytest.fixture
def partner() -> Iterator[Partner]:
    p = Partner().start()
    yield p
    p.stop()


def fill(store: Any, per_instance: int, instances: str = "ABC") -> list[str]:
    ids = []
    for k in range(per_instance):
        batch = [event_entry(f"{i}{k}", i) for i in instances]
        store.commit(UnitOfWork(outbox=batch))
        ids += [e["entryId"] for e in batch]
    return ids


def publisher_for(partner: Partner, timeout: float = 0.3) -> HttpPublisher:
    return HttpPublisher(partner.url, secret=partner.secret, timeout_seconds=timeout)


def drain(relay: Relay, clock: Clock, rounds: int = 60) -> None:
    for _ in range(rounds):
        stats = relay.run_once()
        if stats.pending == 0:
            return
        clock.now += 60  # past any backoff
    raise AssertionError("the relay did not empty the outbox")


def in_instance_order(ids: list[str]) -> bool:
    for instance in {i[0] for i in ids}:
        mine = [int(i[1:]) for i in ids if i[0] == instance]
        if mine != sorted(mine):
            return False
    return True


def test_every_event_arrives_once_signed_in_order_through_failures(store: Any, partner: Partner) -> None:
    expected = fill(store, 4)
    trouble = {"A1": "500", "B0": "drop", "C2": "timeout", "A3": "429"}
    partner.slow_seconds = 0.6
    partner.script = lambda entry, attempt: trouble.get(entry, "ok") if attempt == 1 else "ok"
    clock = Clock()
    relay = Relay(store, publisher_for(partner), backoff=Backoff(base_seconds=1), clock=clock)
    try:
        drain(relay, clock)
    finally:
        relay.publisher.close()
    assert sorted(partner.accepted) == sorted(expected)
    assert in_instance_order(partner.accepted)
    assert all(d.signed_ok for d in partner.deliveries)
    # each troubled event was sent twice; its instance's later events waited for it
    assert {d.entry_id for d in partner.deliveries if d.attempt == 2} == set(trouble)
    first = partner.deliveries[0]
    assert first.headers["idempotency-key"] == first.entry_id == first.body["entryId"]
    assert first.headers["manifest-event-name"] == "Moved"
    assert first.body["event"]["subject"]["entity"] == "Item"
    counts = store.outbox_counts().to_dict()
    assert counts == {"pending": 0, "published": 12, "failed": 0, "dead": 0}
    # the timed-out one reached the receiver twice: the dedupe by event id absorbed it
    assert partner.duplicates == 1


def test_always_failing_event_is_dead_lettered_then_its_instance_flows(store: Any, partner: Partner) -> None:
    fill(store, 3, "AB")
    partner.script = lambda entry, attempt: "503" if entry == "A0" else "ok"
    clock = Clock()
    relay = Relay(store, publisher_for(partner), max_attempts=3, backoff=Backoff(base_seconds=1), clock=clock)
    try:
        drain(relay, clock)
    finally:
        relay.publisher.close()
    assert [d.attempt for d in partner.deliveries if d.entry_id == "A0"] == [1, 2, 3]
    assert partner.accepted.count("A1") == 1 and "A0" not in partner.accepted
    assert [e for e in partner.accepted if e[0] == "A"] == ["A1", "A2"]
    counts = store.outbox_counts().to_dict()
    assert (counts["dead"], counts["published"], counts["pending"]) == (1, 5, 0)


def test_a_client_error_is_permanent_and_retry_after_is_honoured(store: Any, partner: Partner) -> None:
    fill(store, 1, "AB")
    partner.script = lambda entry, attempt: (
        {"A0": "422", "B0": "429"}.get(entry, "ok") if attempt == 1 else "ok"
    )
    clock = Clock()
    relay = Relay(store, publisher_for(partner), max_attempts=5, backoff=Backoff(base_seconds=1), clock=clock)
    try:
        stats = relay.run_once()
        assert (stats.dead, stats.failed) == (1, 1)
        clock.now += 6  # the backoff (1 s) is over, the receiver's Retry-After (7 s) is not
        assert relay.run_once().claimed == 0
        clock.now += 1
        assert relay.run_once().published == 1
    finally:
        relay.publisher.close()
    assert partner.accepted == ["B0"]
    assert store.outbox_counts().dead == 1


def test_an_unreachable_endpoint_is_an_outage_that_costs_no_attempt(store: Any) -> None:
    fill(store, 1, "A")
    url = f"http://127.0.0.1:{free_port()}/hook"
    publisher = HttpPublisher(url, secret="s", timeout_seconds=0.5)
    relay = Relay(store, publisher, clock=Clock())
    try:
        with pytest.raises(StoreUnavailableError, match="unreachable"):
            relay.run_once()
    finally:
        publisher.close()
    [row] = store.claim_outbox(10, now=2000.0)
    assert row.attempts == 0


def test_a_wrong_secret_is_refused_by_the_receiver(store: Any, partner: Partner) -> None:
    fill(store, 1, "A")
    publisher = HttpPublisher(partner.url, secret="not-the-partners", timeout_seconds=1)
    relay = Relay(store, publisher, clock=Clock())
    try:
        stats = relay.run_once()
    finally:
        publisher.close()
    assert stats.dead == 1 and partner.accepted == []  # 401: permanent, for an operator to look at


def test_signature_scheme_round_trip() -> None:
    body = b'{"a":1}'
    header = signature_header("k", body, 1_700_000_000)
    assert header == f"t=1700000000,v1={compute('k', body, 1_700_000_000)}"
    assert verify_timestamped(["k"], body, header, now=1_700_000_100).ok
    assert not verify_timestamped(["k"], body + b" ", header, now=1_700_000_100).ok
    assert verify_timestamped(["k"], body, header, now=1_700_000_301).reason.endswith("tolerance")
    assert verify_timestamped(["old", "k"], body, header, now=1_700_000_000).ok  # a rotation


def test_open_publisher_needs_a_secret_for_http() -> None:
    from manifest_lang.errors import StoreError

    with pytest.raises(StoreError, match="signing secret"):
        open_publisher("https://partner.example/hook")
    publisher = open_publisher("https://partner.example/hook?token=x", secret=None)
    assert isinstance(publisher, HttpPublisher) and publisher.url.endswith("?token=x")
    publisher.close()


def _manifest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "manifest_lang", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_manifest_relay_to_an_http_endpoint(tmp_path: Path, partner: Partner) -> None:
    store = SQLiteStore(tmp_path / "relay.db")
    expected = fill(store, 3, "AB")
    store.close()
    db = f"sqlite:///{tmp_path / 'relay.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MANIFEST_RELAY_SECRET"}
    refused = _manifest("relay", "--db", db, "--to", partner.url, "--once", env=env)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: set MANIFEST_RELAY_SECRET to the signing secret (or pass --unsigned)"
    )
    env["MANIFEST_RELAY_SECRET"] = partner.secret
    started = time.monotonic()
    done = _manifest("relay", "--db", db, "--to", partner.url, "--once", env=env)
    assert done.returncode == 0, done.stderr
    assert "published=6" in done.stdout and time.monotonic() - started < 30
    assert sorted(partner.accepted) == sorted(expected) and in_instance_order(partner.accepted)
    assert all(d.signed_ok for d in partner.deliveries)
