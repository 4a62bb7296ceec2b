"""``manifest worker``: run the durable work of a database, and look at it.

- ``manifest worker MODEL --db URL [--concurrency N] [--only jobs,schedules,approvals,sagas]``: run
  until SIGTERM/SIGINT (each thread finishes the item in hand, then the process exits 0).
- ``manifest worker status --db URL [--json]``: items by kind and status.
- ``manifest worker schedules --db URL [--json]``: each schedule's last and next due time.

Errors (a bad model, a store that cannot be opened) are one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..errors import CompileError, ManifestError
from .serve_options import EVENT_LOG_LIMIT_OPTION

GROUPS = ("jobs", "schedules", "approvals")


def _fail(message: str) -> None:
    click.echo(f"manifest worker: {message}", err=True)
    sys.exit(2)


def _open(db: str) -> Any:
    from ..stores.urls import open_store

    try:
        store = open_store(db)
    except ManifestError as exc:
        _fail(exc.message)
    if not hasattr(store, "claim_work"):
        _fail(f"{db}: this store keeps no durable work")
    return store


class _WorkerGroup(click.Group):
    """``manifest worker MODEL ...`` is ``manifest worker run MODEL ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("worker", cls=_WorkerGroup, context_settings={"help_option_names": ["-h", "--help"]})
def worker_command() -> None:
    """Run durable work (async commands, schedules, approval timeouts): manifest worker MODEL --db URL."""


def _groups(only: str | None) -> set[str] | None:
    if not only:
        return None
    groups = {g.strip() for g in only.split(",") if g.strip()}
    from ..workflows.worker import registered_kinds

    known = {k.group for k in registered_kinds().values()}
    unknown = sorted(groups - known)
    if unknown:
        _fail(f"--only: unknown group(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return groups


def _json_option(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        _fail(f"{what} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _fail(f"{what} must be a JSON object")
    return dict(value)


@worker_command.command("run")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", required=True, help="Store URL (sqlite:///file.db, postgresql://...).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option("--batch", type=click.IntRange(1, 1000), default=4, show_default=True, help="Items per claim.")
@click.option("--only", help="Comma-separated groups to run: jobs,schedules,approvals,sagas (default: all).")
@click.option("--lease-seconds", type=click.FloatRange(0.5, 3600), default=30.0, show_default=True)
@click.option("--poll-interval", type=click.FloatRange(0.01, 60), help="Longest idle wait between claims.")
@click.option("--schedule-context", help='Context schedules run in, JSON: {"tenantId": "t1", "user": {...}}.')
@click.option("--timezone", "tz", help="Time zone of cron schedules (default UTC).")
@click.option(
    "--rate-limits",
    "rate_limits",
    help="redis://... to keep rate-limit windows in Redis (default: the store).",
)
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING"]), default="INFO")
@EVENT_LOG_LIMIT_OPTION
def run_command(
    model: Path,
    db: str,
    concurrency: int,
    batch: int,
    only: str | None,
    lease_seconds: float,
    poll_interval: float | None,
    schedule_context: str | None,
    tz: str | None,
    rate_limits: str | None,
    once: bool,
    log_level: str,
    event_log_limit: int,
) -> None:
    """Run the work items of --db for MODEL until stopped (SIGTERM: finish what is in hand)."""
    from ..workflows.worker import Worker

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    groups = _groups(only)
    context = _json_option(schedule_context, "--schedule-context")
    store = _open(db)
    options: dict[str, Any] = {"event_log_limit": event_log_limit}
    if rate_limits:
        from ..stores.redis_ratelimit import RedisRateLimitStore

        options["rate_limit_store"] = RedisRateLimitStore(rate_limits)
    try:
        worker = Worker(
            model,
            store,
            concurrency=concurrency,
            batch_size=batch,
            only=groups,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            schedule_context=context,
            schedule_timezone=tz,
            engine_options=options,
        )
    except CompileError as exc:
        _fail(exc.message)
    except ManifestError as exc:
        _fail(f"{model}: {exc.message}")
    try:
        if once:
            reports = worker.run_once()
            click.echo(json.dumps({"ran": len(reports), "statuses": _tally(r.status for r in reports)}))
        else:
            worker.run(install_signals=True)
    finally:
        store.close()


def _tally(statuses: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


@worker_command.command("status")
@click.option("--db", required=True, help="Store URL.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(db: str, as_json: bool) -> None:
    """Work items by kind: pending, running, done, failed, dead."""
    store = _open(db)
    try:
        counts = store.work_counts()
    except ManifestError as exc:
        _fail(exc.message)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(counts, sort_keys=True))
        return
    statuses = ("pending", "running", "done", "failed", "dead")
    click.echo(f"{'kind':<20}" + "".join(f"{s:>10}" for s in statuses))
    for kind in sorted(counts):
        click.echo(f"{kind:<20}" + "".join(f"{counts[kind].get(s, 0):>10}" for s in statuses))
    if not counts:
        click.echo("(no work items)")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@worker_command.command("schedules")
@click.option("--db", required=True, help="Store URL.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def schedules_command(db: str, as_json: bool) -> None:
    """Each schedule a worker has seen: its last fired and its next due time (UTC)."""
    store = _open(db)
    try:
        rows = store.schedule_rows()
    except ManifestError as exc:
        _fail(exc.message)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows))
        return
    click.echo(f"{'schedule':<28}{'last due':<24}{'next due':<24}")
    for row in rows:
        click.echo(f"{row['schedule']:<28}{_when(row['lastDue']):<24}{_when(row['nextDue']):<24}")
    if not rows:
        click.echo("(no schedule seen yet: start a worker with the model)")
