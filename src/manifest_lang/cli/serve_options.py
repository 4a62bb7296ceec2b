"""The ``manifest serve`` options for JWT auth and operations, and their trip to the workers.

uvicorn starts fresh processes for ``--workers N`` and ``--reload``, so every setting travels in
``MANIFEST_SERVE_*`` environment variables that ``app_from_env`` reads back (``ServeOptions``).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import click

from ..http.access_log import LOG_FORMATS, LOG_LEVELS, STARTUP_PROBE_AGENT

F = Callable[..., Any]

_ENV = {
    "log_level": "MANIFEST_SERVE_LOG_LEVEL",
    "log_format": "MANIFEST_SERVE_LOG_FORMAT",
    "otel": "MANIFEST_SERVE_OTEL",
    "metrics": "MANIFEST_SERVE_METRICS",
    "event_log_limit": "MANIFEST_SERVE_EVENT_LOG_LIMIT",
    "trace_limit": "MANIFEST_SERVE_TRACE_LIMIT",
}

#: events each engine of a server keeps in memory (``RuntimeEngine(event_log_limit=)``): engines
#: are per request there, so this only bounds a long-running one (an embedded worker's, a saga's)
DEFAULT_EVENT_LOG_LIMIT = 1000
#: command records ``/trace`` keeps per workflow (``TraceRecorder(max_records=)``)
DEFAULT_TRACE_LIMIT = 1000


#: ``--event-log-limit N`` (``manifest serve`` and ``manifest worker run``)
EVENT_LOG_LIMIT_OPTION = click.option(
    "--event-log-limit",
    default=DEFAULT_EVENT_LOG_LIMIT,
    show_default=True,
    type=click.IntRange(min=0),
    help="Events each engine keeps in memory (the last N; 0: none). Listeners and SSE see every event.",
)


def serve_options(command: F) -> F:
    """Add the auth and operations options to a click command (as keyword arguments)."""
    options = [
        click.option(
            "--jwt-jwks", help="JWKS file or https:// URL with the identity provider's keys (RS256, ES256)."
        ),
        click.option("--jwt-issuer", help="Accept only tokens with this iss."),
        click.option("--jwt-audience", multiple=True, help="Accept only tokens for this aud (repeatable)."),
        click.option(
            "--jwt-algorithm",
            multiple=True,
            help="Accepted algorithm (repeatable; default HS256 with --secret, RS256 + ES256 with a JWKS).",
        ),
        click.option(
            "--jwt-max-lifetime",
            default=24 * 3600,
            show_default=True,
            type=click.IntRange(min=1),
            help="Refuse tokens valid for longer than this many seconds.",
        ),
        click.option(
            "--jwt-claim",
            multiple=True,
            metavar="TARGET=CLAIM",
            help="Map a claim into the context: user.id=sub, user.role=role, tenantId=tenantId (defaults).",
        ),
        click.option(
            "--log-level",
            type=click.Choice(LOG_LEVELS),
            default="warning",
            show_default=True,
            help="Level of the server's and the runtime's messages (the access log has its own switch).",
        ),
        click.option(
            "--access-log/--no-access-log",
            default=True,
            show_default=True,
            help="One line per request: method, path, status, duration, correlation id.",
        ),
        click.option(
            "--log-format",
            type=click.Choice(LOG_FORMATS),
            default="text",
            show_default=True,
            help="json: one JSON object per log line (access log included).",
        ),
        click.option(
            "--otel",
            is_flag=True,
            help="A span per command via OpenTelemetry (exporter: OTEL_TRACES_EXPORTER).",
        ),
        click.option("--no-metrics", is_flag=True, help="Do not serve /metrics."),
        click.option(
            "--trace-limit",
            default=DEFAULT_TRACE_LIMIT,
            show_default=True,
            type=click.IntRange(min=1),
            help="Command records /trace keeps in memory per workflow (older ones are evicted).",
        ),
        EVENT_LOG_LIMIT_OPTION,
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class ServeOptions:
    log_level: str = "warning"
    log_format: str = "text"
    access_log: bool = True
    otel: bool = False
    metrics: bool = True
    event_log_limit: int = DEFAULT_EVENT_LOG_LIMIT
    trace_limit: int = DEFAULT_TRACE_LIMIT
    jwt: Any = None  # JWTSettings | None (imported lazily: it needs the [http] extra)

    @classmethod
    def from_cli(cls, values: Mapping[str, Any], secret: str | None) -> ServeOptions:
        from ..http.jwt_auth import ClaimMap, JWTSettings

        jwt = None
        if secret or values.get("jwt_jwks"):
            jwt = JWTSettings(
                secret=secret or None,
                jwks=values.get("jwt_jwks") or None,
                algorithms=tuple(values.get("jwt_algorithm") or ()),
                issuer=values.get("jwt_issuer") or None,
                audience=tuple(values.get("jwt_audience") or ()),
                max_lifetime=int(values.get("jwt_max_lifetime") or 24 * 3600),
                claims=ClaimMap.parse(values.get("jwt_claim") or ()),
            )
        return cls(
            log_level=values.get("log_level") or "warning",
            log_format=values.get("log_format") or "text",
            access_log=values.get("access_log", True) is not False,
            otel=bool(values.get("otel")),
            metrics=not values.get("no_metrics"),
            event_log_limit=_int(values.get("event_log_limit"), DEFAULT_EVENT_LOG_LIMIT),
            trace_limit=_int(values.get("trace_limit"), DEFAULT_TRACE_LIMIT),
            jwt=jwt,
        )

    def to_env(self) -> dict[str, str]:
        env = {
            _ENV["log_level"]: self.log_level,
            _ENV["log_format"]: self.log_format,
            _ENV["otel"]: "1" if self.otel else "",
            _ENV["metrics"]: "1" if self.metrics else "",
            _ENV["event_log_limit"]: str(self.event_log_limit),
            _ENV["trace_limit"]: str(self.trace_limit),
        }
        if self.jwt is not None:
            env.update(self.jwt.to_env())
        return env

    @classmethod
    def from_env(cls, secret: str | None, environ: Mapping[str, str] = os.environ) -> ServeOptions:
        from ..http.jwt_auth import JWTSettings

        options = cls(
            log_level=environ.get(_ENV["log_level"], "warning"),
            log_format=environ.get(_ENV["log_format"], "text"),
            otel=environ.get(_ENV["otel"]) == "1",
            metrics=environ.get(_ENV["metrics"], "1") == "1",
            event_log_limit=_int(environ.get(_ENV["event_log_limit"]), DEFAULT_EVENT_LOG_LIMIT),
            trace_limit=_int(environ.get(_ENV["trace_limit"]), DEFAULT_TRACE_LIMIT),
        )
        return replace(options, jwt=JWTSettings.from_env(secret, environ))


def _int(value: Any, default: int) -> int:
    return default if value is None or value == "" else int(value)


def announce_when_ready(
    host: str, port: int, message: str, *, echo: Callable[[str], None], timeout: float = 300.0
) -> threading.Thread:
    """Print ``message`` once the server answers ``GET /healthz`` on ``host:port``.

    uvicorn binds the port and starts its workers after ``serve`` has checked everything, so
    the startup line is printed from here, when a client can really connect (a model on a slow
    database can take seconds per worker).
    """
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection(probe_host, port, timeout=2.0)
            try:
                connection.request("GET", "/healthz", headers={"User-Agent": STARTUP_PROBE_AGENT})
                if connection.getresponse().status == 200:
                    echo(message)
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.05)

    thread = threading.Thread(target=wait, name="manifest-serve-ready", daemon=True)
    thread.start()
    return thread
