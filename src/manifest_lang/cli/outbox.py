"""``manifest relay`` and ``manifest outbox``."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

import click
import orjson

from ..errors import ManifestError
from ..outbox.relay import Backoff, Relay, RelayStats
from ..outbox.types import OutboxSource
from ..stores.urls import open_store


def _open_source(db: str) -> OutboxSource:
    if db.lower().startswith("memory:"):
        raise click.ClickException("memory:// lives inside one process; use sqlite:///path or postgresql://")
    store = open_store(db)
    if not isinstance(store, OutboxSource):
        raise click.ClickException(f"the store at {db!r} keeps no outbox")
    return store


@click.command("relay")
@click.option("--db", required=True, help="Store URL: sqlite:///path.db or postgresql://…")
@click.option("--to", "to", required=True, help="Broker URL: nats://host:4222 or redis://host:6379/0")
@click.option("--once", is_flag=True, help="Publish until the backlog is empty, then exit.")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--max-attempts", default=10, show_default=True, type=click.IntRange(1))
@click.option("--backoff", "backoff_base", default=0.5, show_default=True, help="First retry delay (s).")
@click.option("--interval", default=0.5, show_default=True, help="Idle poll interval (s).")
@click.option("--lease-ttl", default=30.0, show_default=True, help="Active-relay lease (s).")
def relay_command(
    db: str,
    to: str,
    once: bool,
    batch_size: int,
    max_attempts: int,
    backoff_base: float,
    interval: float,
    lease_ttl: float,
) -> None:
    """Publish outbox events to NATS JetStream or Redis Streams (at least once, per-instance order)."""
    from ..outbox.publishers import open_publisher

    try:
        store = _open_source(db)
        publisher = open_publisher(to)
    except ManifestError as exc:
        raise click.ClickException(exc.message) from None
    relay = Relay(
        store,
        publisher,
        batch_size=batch_size,
        max_attempts=max_attempts,
        backoff=Backoff(base_seconds=backoff_base),
        lease_ttl_seconds=lease_ttl,
        poll_interval_seconds=interval,
    )
    try:
        totals = _drain(relay) if once else _serve(relay)
    except ManifestError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        publisher.close()
        getattr(store, "close", lambda: None)()
    click.echo(f"relay: done {totals.line()}")


def _progress(stats: RelayStats) -> None:
    if not stats.lease_held:
        click.echo("relay: another relay holds the lease; waiting", err=True)
        return
    click.echo(f"relay: {stats.line()}")
    sys.stdout.flush()


def _drain(relay: Relay) -> RelayStats:
    totals = RelayStats()
    try:
        while True:
            stats = relay.run_once()
            totals.add(stats)
            if stats.claimed:
                _progress(stats)
            # Stop when nothing more can go now (the rest is backing off or another relay's).
            if not stats.lease_held or stats.published == 0:
                return totals
    finally:
        relay.release()


def _serve(relay: Relay) -> RelayStats:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"relay: {signal.Signals(signum).name} received, finishing the current batch", err=True)
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return relay.run_forever(stop, on_batch=_progress)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("outbox")
@click.option("--db", required=True, help="Store URL: sqlite:///path.db or postgresql://…")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.option("--dead", "show_dead", is_flag=True, help="Also list dead-lettered entries and their errors.")
@click.option("--requeue-dead", is_flag=True, help="Put dead-lettered entries back to pending.")
@click.option(
    "--purge-published", type=float, metavar="SECONDS", help="Delete rows published before now-SECONDS."
)
@click.option("--purge-expired-keys", is_flag=True, help="Delete expired idempotency records.")
def outbox_command(
    db: str,
    as_json: bool,
    show_dead: bool,
    requeue_dead: bool,
    purge_published: float | None,
    purge_expired_keys: bool,
) -> None:
    """Print outbox counts: pending, published, failed (pending after a failure), dead."""
    try:
        store = _open_source(db)
        _maintain(store, show_dead, requeue_dead, purge_published, purge_expired_keys)
        counts = store.outbox_counts()
    except ManifestError as exc:
        raise click.ClickException(exc.message) from None
    getattr(store, "close", lambda: None)()
    if as_json:
        click.echo(orjson.dumps(counts.to_dict()).decode())
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in counts.to_dict().items()))


def _maintain(store: OutboxSource, show_dead: bool, requeue: bool, purge: float | None, keys: bool) -> None:
    if (show_dead or requeue or keys or purge is not None) and not hasattr(store, "outbox_rows"):
        raise click.ClickException("this store has no outbox maintenance (use sqlite:// or postgresql://)")
    sql: Any = store
    if show_dead:
        for row in sql.outbox_rows("dead"):
            click.echo(
                f"dead seq={row['seq']} entry={row['entryId']} {row['entity']}#{row['instanceId']} "
                f"{row['name']} attempts={row['attempts']} error={row['lastError']}"
            )
    if requeue:
        click.echo(f"requeued {sql.requeue_dead()} dead entries")
    if purge is not None:
        click.echo(f"purged {sql.purge_published(purge)} published entries")
    if keys:
        click.echo(f"purged {sql.purge_expired_keys()} expired idempotency records")
