"""The access log and the server's log configuration (``--log-level``, ``--log-format``).

One line per HTTP request on the ``manifest_lang.access`` logger, at INFO: method, path, status,
duration and the request's ``X-Correlation-Id`` (``/healthz`` and ``/readyz`` probes are counted in
``/metrics`` but not logged). ``--log-format json`` writes every log record
(access lines, the runtime's, uvicorn's) as one JSON object per line, with the access fields as
keys, ready for a log shipper.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .metrics import Metrics

ACCESS_LOGGER = "manifest_lang.access"
STARTUP_PROBE_AGENT = "manifest-serve-startup-probe"
QUIET_PATHS = frozenset({"/healthz", "/readyz"})
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the ``extra`` fields of an access record, in the order a text line shows them
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "correlation_id", "client")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class AccessLogMiddleware:
    """ASGI middleware: logs each HTTP request when it ends and counts it in ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics | None = None, logger: logging.Logger | None = None):
        self.app = app
        self.metrics = metrics
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            seconds = time.perf_counter() - started
            method = str(scope.get("method", "-"))
            # `manifest serve` polls /healthz to know when to print its startup line: not traffic.
            probe = _header(scope, b"user-agent") == STARTUP_PROBE_AGENT
            if self.metrics is not None and not probe:
                self.metrics.request(method, status, seconds)
            # Liveness and readiness probes (every few seconds, forever) are counted, not logged.
            quiet = probe or scope.get("path") in QUIET_PATHS
            if not quiet and self.logger.isEnabledFor(logging.INFO):
                self._log(scope, method, status, seconds)

    def _log(self, scope: Scope, method: str, status: int, seconds: float) -> None:
        client = scope.get("client")
        fields = {
            "method": method,
            "path": str(scope.get("root_path", "")) + str(scope.get("path", "")),
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "correlation_id": (_header(scope, b"x-correlation-id") or "-")[:200],
            "client": f"{client[0]}:{client[1]}" if client else "-",
        }
        self.logger.info(
            "%s %s %s %.1fms correlation=%s client=%s",
            *(fields[name] for name in ACCESS_FIELDS),
            extra={"access": fields},
        )


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, plus the access fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            data.update(access)
        for key, value in record.__dict__.items():
            if key.startswith("manifest_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


JsonLogFormatter.converter = time.gmtime  # type: ignore[assignment]


def log_config(level: str = "warning", fmt: str = "text", *, access_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``manifest serve`` (also handed to uvicorn, so every
    worker process logs the same way). ``level`` is for the runtime's and uvicorn's messages; the
    access log is on (INFO) or off by itself. uvicorn's own access log is off: ours replaces it."""
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonLogFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"manifest": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "manifest",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "manifest_lang": {"handlers": ["stderr"], "level": upper, "propagate": False},
            ACCESS_LOGGER: {
                "handlers": ["stderr"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
