"""``GET /metrics``: the server's counters in the Prometheus text format (version 0.0.4).

Written by hand (the format is a few lines of text) so the endpoint needs no extra dependency:

- ``manifest_commands_total{entity, command, outcome}``: commands run (outcome as in the runtime's
  tracing hooks: success, guard_denied, policy_denied, constraint_blocked, transition_rejected,
  concurrency_conflict, error);
- ``manifest_command_duration_seconds{entity, command}``: a latency histogram of the same commands;
- ``manifest_idempotency_replays_total``: requests answered with a stored result;
- ``manifest_conflicts_total``: commands that still lost a write race after the automatic re-runs;
- ``manifest_http_requests_total{method, status}`` and ``manifest_http_request_duration_seconds``;
- ``manifest_outbox_pending``, ``manifest_outbox_failed``, ``manifest_outbox_dead`` and
  ``manifest_outbox_lag_seconds`` (age of the oldest pending row), read from the store per scrape.

Counters are per server process: with ``--workers N`` each scrape reaches one worker (label your
scrape targets per process, or run one worker per container). Label values are bounded by the
model (entity and command names) and by HTTP (method, status): no ids, no paths.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..workflows.telemetry import classify_outcome

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[i] += 1
                break
        self.sum += seconds
        self.count += 1

    def lines(self, name: str, label_names: Sequence[str], label_values: Sequence[str]) -> list[str]:
        out, running = [], 0
        for bound, n in zip(self.buckets, self.counts, strict=True):
            running += n
            le = 'le="' + _number(bound) + '"'
            out.append(f"{name}_bucket{_labels(label_names, label_values, le)} {running}")
        infinite = 'le="+Inf"'
        out.append(f"{name}_bucket{_labels(label_names, label_values, infinite)} {self.count}")
        out.append(f"{name}_sum{_labels(label_names, label_values)} {_number(self.sum)}")
        out.append(f"{name}_count{_labels(label_names, label_values)} {self.count}")
        return out


class Metrics:
    """Thread-safe counters of one server process (commands run in worker threads)."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self._lock = threading.Lock()
        self._commands: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._requests: dict[tuple[str, str], int] = {}
        self._request_latency = _Histogram(self.buckets)
        self.replays = 0
        self.conflicts = 0
        self.hook = MetricsHook(self)

    def command(self, entity: str, command: str, outcome: str, seconds: float) -> None:
        with self._lock:
            key = (entity, command, outcome)
            self._commands[key] = self._commands.get(key, 0) + 1
            histogram = self._latency.get((entity, command))
            if histogram is None:
                histogram = self._latency[(entity, command)] = _Histogram(self.buckets)
            histogram.observe(seconds)

    def replay(self) -> None:
        with self._lock:
            self.replays += 1

    def conflict(self) -> None:
        with self._lock:
            self.conflicts += 1

    def request(self, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._request_latency.observe(seconds)

    def commands(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._commands)

    # -- exposition ------------------------------------------------------------------------------
    def render(self, store: Any = None, *, now_ms: float | None = None) -> str:
        """The text exposition; ``store`` adds the outbox gauges (one or two small queries)."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.extend(_family_lines(name, kind, help_text))

        with self._lock:
            family("manifest_commands_total", "counter", "Commands run, by entity, command and outcome.")
            for (entity, command, outcome), n in sorted(self._commands.items()):
                labels = _labels(("entity", "command", "outcome"), (entity, command, outcome))
                lines.append(f"manifest_commands_total{labels} {n}")
            name = "manifest_command_duration_seconds"
            family(name, "histogram", "Time to run a command (engine and store), in seconds.")
            for (entity, command), histogram in sorted(self._latency.items()):
                lines.extend(histogram.lines(name, ("entity", "command"), (entity, command)))
            family("manifest_idempotency_replays_total", "counter", "Requests answered with a stored result.")
            lines.append(f"manifest_idempotency_replays_total {self.replays}")
            family("manifest_conflicts_total", "counter", "Commands that lost a write race (409).")
            lines.append(f"manifest_conflicts_total {self.conflicts}")
            family("manifest_http_requests_total", "counter", "HTTP requests, by method and status.")
            for (method, status), n in sorted(self._requests.items()):
                lines.append(
                    f"manifest_http_requests_total{_labels(('method', 'status'), (method, status))} {n}"
                )
            name = "manifest_http_request_duration_seconds"
            family(name, "histogram", "Time to answer an HTTP request, in seconds.")
            lines.extend(self._request_latency.lines(name, (), ()))
        if store is not None:
            lines.extend(_outbox_lines(store, now_ms))
        return "\n".join(lines) + "\n"


def _family_lines(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _outbox_lines(store: Any, now_ms: float | None) -> list[str]:
    counts_of = getattr(store, "outbox_counts", None)
    if counts_of is None or not getattr(store, "records_outbox", True):
        return []
    counts = counts_of()
    lines: list[str] = []
    for field, help_text in (
        ("pending", "Outbox rows not yet published."),
        ("failed", "Pending outbox rows that failed at least once."),
        ("dead", "Outbox rows given up on (dead-lettered)."),
    ):
        lines += _family_lines(f"manifest_outbox_{field}", "gauge", help_text)
        lines.append(f"manifest_outbox_{field} {int(getattr(counts, field))}")
    oldest_of = getattr(store, "oldest_pending_enqueued_at", None)
    if oldest_of is not None:
        oldest = oldest_of()
        now = time.time() * 1000 if now_ms is None else now_ms
        lag = max(0.0, (now - float(oldest)) / 1000) if isinstance(oldest, int | float) else 0.0
        lines += _family_lines(
            "manifest_outbox_lag_seconds", "gauge", "Age of the oldest pending outbox row."
        )
        lines.append(f"manifest_outbox_lag_seconds {_number(round(lag, 3))}")
    return lines


class MetricsHook:
    """A command hook (``command_hooks``) that counts each top-level command and times it."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def before_command(self, engine: Any, name: str, input: Any, options: Mapping[str, Any]) -> Any:
        return time.perf_counter(), name, options.get("entity_name") or ""

    def after_command(self, token: Any, result: Any) -> None:
        started, name, entity = token
        self.metrics.command(str(entity), name, classify_outcome(result), time.perf_counter() - started)
