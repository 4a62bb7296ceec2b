"""``manifest serve`` and ``manifest trace``.

``serve`` checks the model before starting anything (a bad file is one line on stderr and exit
status 1), then runs uvicorn. The app is built by a factory that reads its settings from the
environment, so ``--workers N`` and ``--reload`` (which start fresh processes) build the same app.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ManifestError
from .check import NO_CHECK_OPTION, refuse_on_check_errors
from .serve_options import ServeOptions, announce_when_ready, serve_options

DEFAULT_DB = "sqlite:///manifest.db"
_ENV = {
    "model": "MANIFEST_SERVE_MODEL",
    "db": "MANIFEST_SERVE_DB",
    "secret": "MANIFEST_SERVE_SECRET",
    "api_keys": "MANIFEST_SERVE_API_KEYS_FILE",
    "trust_headers": "MANIFEST_SERVE_TRUST_HEADERS",
    "max_body": "MANIFEST_SERVE_MAX_BODY_BYTES",
    "webhooks": "MANIFEST_SERVE_WEBHOOKS_FILE",
    "header_timeout": "MANIFEST_SERVE_HEADER_TIMEOUT",
    "with_worker": "MANIFEST_SERVE_WITH_WORKER",
}


def app_from_env() -> Any:
    """uvicorn factory: the app described by the ``MANIFEST_SERVE_*`` environment variables."""
    from ..http.app import create_app
    from ..http.auth import KeyOrTokenAuth
    from ..runtime.heap import freeze_heap
    from ..workflows.trace import TraceRecorder

    env = os.environ
    secret = env.get(_ENV["secret"]) or None
    options = ServeOptions.from_env(secret)
    auth: Any = "headers" if env.get(_ENV["trust_headers"]) == "1" else None
    if auth is None:
        auth = KeyOrTokenAuth.from_env(
            secret=secret, api_keys_file=env.get(_ENV["api_keys"]), jwt=options.jwt
        )
    if options.otel:
        from ..http.operations import configure_tracing

        configure_tracing()
    app = create_app(
        Path(env[_ENV["model"]]),
        engine_options={"event_log_limit": options.event_log_limit},
        recorder=TraceRecorder(max_records=options.trace_limit),
        store=env.get(_ENV["db"], DEFAULT_DB),
        auth=auth,
        max_body_bytes=int(env.get(_ENV["max_body"], "1048576")),
        metrics=options.metrics,
        otel=options.otel,
        webhooks=env.get(_ENV["webhooks"]) or None,
        with_worker=env.get(_ENV["with_worker"]) == "1",
    )
    # A server keeps the model for its whole life: later full collections skip it (runtime/heap.py).
    freeze_heap()
    return app


def _tenant_required_entities(index: Any) -> list[str]:
    """Entities whose rows need a tenant the caller must supply."""
    if index.declares_tenant:
        return sorted(index.entities)
    return sorted(
        name
        for name, entity in index.entities.items()
        if "required" in ((entity.properties.get("tenantId") or {}).get("modifiers") or [])
    )


def _fail(message: str) -> None:
    # one line, even when a driver's message has several ("... refused\n\tIs the server running")
    click.echo(f"manifest: {' '.join(message.split())}", err=True)
    sys.exit(1)


def _check_model(path: Path) -> None:
    """Compile and index the model now, so a bad file never reaches uvicorn."""
    from ..http.model_index import ModelIndex
    from ..loading import load_model

    try:
        ModelIndex(load_model(path).ir)
    except ManifestError as exc:  # the message names the file
        _fail(exc.message)


@click.command("serve")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--db", default=DEFAULT_DB, show_default=True, help="Store URL (sqlite:///…, postgresql://…, memory://)."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--reload", is_flag=True, help="Restart when files change (development).")
@click.option("--secret", envvar="MANIFEST_SECRET", help="Accept HS256 JWTs signed with it.")
@click.option("--api-keys", type=click.Path(dir_okay=False, exists=True), help="JSON/TOML file of API keys.")
@click.option("--trust-headers", is_flag=True, help="Trust X-User-Id/X-User-Role/X-Tenant-Id (dev only).")
@click.option("--max-body-bytes", default=1_048_576, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--webhooks",
    "webhooks_file",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML/JSON file: tenant and secret of each webhook.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send a request's headers (then 408).",
)
@click.option("--with-worker", is_flag=True, help="Also run the durable work (jobs, schedules, approvals).")
@NO_CHECK_OPTION
@serve_options
def serve_command(
    file: Path,
    db: str,
    host: str,
    port: int,
    workers: int,
    reload: bool,
    secret: str | None,
    api_keys: str | None,
    trust_headers: bool,
    max_body_bytes: int,
    webhooks_file: str | None,
    header_timeout: float,
    with_worker: bool,
    no_check: bool,
    **operations: Any,
) -> None:
    """Serve FILE (a .manifest model or its IR JSON) as an HTTP API."""
    try:
        import uvicorn
    except ImportError as exc:
        from ..extras import missing_extra

        raise missing_extra("uvicorn", "http") from exc
    from ..http.access_log import log_config

    if not file.is_file():
        _fail(f"{file}: no such file")
    _check_model(file)
    if not no_check:
        refuse_on_check_errors(file)
    values = {
        "model": str(file.resolve()),
        "db": db,
        "secret": secret or "",
        "api_keys": str(Path(api_keys).resolve()) if api_keys else "",
        "trust_headers": "1" if trust_headers else "",
        "max_body": str(max_body_bytes),
        "webhooks": str(Path(webhooks_file).resolve()) if webhooks_file else "",
        "header_timeout": str(header_timeout),
        "with_worker": "1" if with_worker else "",
    }
    for key, value in values.items():
        os.environ[_ENV[key]] = value
    try:
        options = ServeOptions.from_cli(operations, secret)
        os.environ.update(options.to_env())
        app = app_from_env()  # open the store once here so a bad --db is one line, not a traceback
    except ManifestError as exc:
        _fail(exc.message)
    except ValueError as exc:  # a webhook configuration that does not fit the model
        _fail(str(exc))
    url = f"http://{host}:{port}"
    from ..http.auth import API_KEYS_ENV

    anonymous = not (trust_headers or secret or api_keys or os.environ.get(API_KEYS_ENV) or options.jwt)
    mode = "trusted headers" if trust_headers else ("anonymous" if anonymous else "API keys/tokens")
    scoped = _tenant_required_entities(app.state.manifest.index) if anonymous else []
    if scoped:
        click.echo(
            f"manifest: note: anonymous callers have no tenant, so {', '.join(scoped)} refuse creates "
            "(403 MISSING_TENANT_CONTEXT); pass --api-keys FILE or --secret",
            err=True,
        )
    for hook in app.state.manifest_webhooks:
        problem = hook.problem_if_unusable()
        if problem is not None:
            click.echo(f"manifest: note: {problem}: it answers 503 (see --webhooks)", err=True)
    # Printed once a client can connect: uvicorn binds the port and starts the workers after this.
    announce_when_ready(
        host,
        port,
        f"manifest: serving {file} on {url} (store {db}, auth {mode}) · docs {url}/docs",
        echo=lambda line: click.echo(line, err=True),
    )
    uvicorn.run(
        "manifest_lang.cli.serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        http="manifest_lang.http.protocol:HttpProtocol",  # header timeout, problem+json 400s
        log_level=options.log_level,
        log_config=log_config(options.log_level, options.log_format, access_log=options.access_log),
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@click.command("trace")
@click.argument("correlation_id")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Store URL to read the outbox from.")
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON.")
def trace_command(correlation_id: str, db: str, as_json: bool) -> None:
    """Print the causal tree of the workflow CORRELATION_ID from a store's outbox."""
    from ..stores.urls import open_store
    from ..workflows.trace import build_trace, durable_events, render_text

    try:
        store = open_store(db)
    except ManifestError as exc:
        _fail(exc.message)
    try:
        trace = build_trace(correlation_id, [], durable_events(store, correlation_id))
    except ManifestError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(json.dumps(trace.to_dict(), indent=2, default=str) if as_json else render_text(trace))
