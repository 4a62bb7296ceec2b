"""Observability as command hooks: an OpenTelemetry span and a log line per command.

Both are ordinary ``command_hooks`` (``before_command`` / ``after_command`` around each top-level
``run_command``), so an engine without them pays nothing: there is no tracing branch in the
command path. ``tracing_hooks()`` returns the hooks to install; it returns no OpenTelemetry hook
when ``opentelemetry-api`` is not installed.

Span ``manifest.run_command`` (the document's Best Practice 4 uses the same name) carries:
``manifest.command``, ``manifest.entity``, ``manifest.instance_id``, ``manifest.correlation_id``,
``manifest.causation_id``, ``manifest.outcome`` (success, guard_denied, policy_denied,
constraint_blocked, transition_rejected, concurrency_conflict, error),
``manifest.constraints.warned`` / ``manifest.constraints.blocked`` (constraint codes),
``manifest.events`` (names of emitted events) and ``manifest.error``. A failed command sets the
span status to ERROR; a command that raised records the exception.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

LOGGER_NAME = "manifest_lang"
SPAN_NAME = "manifest.run_command"


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def classify_outcome(result: Any) -> str:
    """One word for what happened to a command (the audit vocabulary of the runtime notes)."""
    if result is None:
        return "error"
    if _get(result, "success"):
        return "success"
    if _get(result, "policy_denial") is not None:
        return "policy_denied"
    if _get(result, "guard_failure") is not None:
        return "guard_denied"
    if _get(result, "concurrency_conflict") is not None:
        return "concurrency_conflict"
    if blocked_codes(result):
        return "constraint_blocked"
    error = str(_get(result, "error") or "")
    if error.startswith("Invalid state transition"):
        return "transition_rejected"
    return "error"


def _failed_codes(result: Any, severity: str) -> list[str]:
    codes = []
    for c in _get(result, "constraint_outcomes") or ():
        if _get(c, "severity") == severity and not _get(c, "passed") and not _get(c, "overridden"):
            codes.append(str(_get(c, "code") or _get(c, "constraint_name")))
    return codes


def warned_codes(result: Any) -> list[str]:
    return _failed_codes(result, "warn")


def blocked_codes(result: Any) -> list[str]:
    return _failed_codes(result, "block")


def _option(options: Mapping[str, Any], snake: str) -> Any:
    return options.get(snake)


class LoggingHook:
    """One DEBUG line per command on the ``manifest_lang`` logger (INFO when it did not succeed)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def before_command(self, engine: Any, name: str, input: Any, options: Mapping[str, Any]) -> Any:
        # Checking the level here keeps a disabled logger at one call per command.
        if not self.logger.isEnabledFor(logging.INFO):
            return None
        return (
            name,
            _option(options, "entity_name"),
            _option(options, "instance_id"),
            _option(options, "correlation_id"),
        )

    def after_command(self, token: Any, result: Any) -> None:
        if token is None:
            return
        name, entity, instance_id, correlation_id = token
        outcome = classify_outcome(result)
        level = logging.DEBUG if outcome == "success" else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        self.logger.log(
            level,
            "command %s on %s#%s: %s%s",
            name,
            entity or "-",
            instance_id or "-",
            outcome,
            "" if outcome == "success" else f" ({_get(result, 'error')})",
            extra={
                "manifest_command": name,
                "manifest_entity": entity,
                "manifest_instance_id": instance_id,
                "manifest_correlation_id": correlation_id,
                "manifest_outcome": outcome,
                "manifest_constraints_warned": warned_codes(result) if result is not None else [],
                "manifest_constraints_blocked": blocked_codes(result) if result is not None else [],
            },
        )


class OpenTelemetryHook:
    """A span per top-level command; needs ``opentelemetry-api`` (the ``[otel]`` extra)."""

    def __init__(self, tracer_provider: Any = None, tracer: Any = None) -> None:
        try:
            from opentelemetry import context, trace
            from opentelemetry.trace import Status, StatusCode
        except ImportError as exc:
            from ..extras import missing_extra

            raise missing_extra("opentelemetry", "otel") from exc

        self._trace = trace
        self._context = context
        self._status = (Status, StatusCode)
        self.tracer = tracer or trace.get_tracer("manifest_lang", tracer_provider=tracer_provider)

    def before_command(self, engine: Any, name: str, input: Any, options: Mapping[str, Any]) -> Any:
        attributes = {"manifest.command": name}
        for key in ("entity_name", "instance_id", "correlation_id", "causation_id"):
            value = _option(options, key)
            if value is not None:
                attr = "manifest.entity" if key == "entity_name" else f"manifest.{key}"
                attributes[attr] = str(value)
        span = self.tracer.start_span(SPAN_NAME, attributes=attributes)
        if not span.is_recording():
            # No SDK installed or the span was sampled out: nothing to record or propagate.
            return None
        # Make the span current so spans opened by stores or listeners nest under it.
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def after_command(self, token: Any, result: Any) -> None:
        if token is None:
            return
        span, ctx_token = token
        Status, StatusCode = self._status

        try:
            outcome = classify_outcome(result)
            span.set_attribute("manifest.outcome", outcome)
            if result is not None:
                span.set_attribute("manifest.constraints.warned", warned_codes(result))
                span.set_attribute("manifest.constraints.blocked", blocked_codes(result))
                events = [str(_get(e, "name")) for e in _get(result, "emitted_events") or ()]
                span.set_attribute("manifest.events", events)
            if outcome != "success":
                error = "command raised" if result is None else str(_get(result, "error") or "failed")
                span.set_attribute("manifest.error", error)
                span.set_status(Status(StatusCode.ERROR, error))
        finally:
            self._context.detach(ctx_token)
            span.end()


def otel_available() -> bool:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


def tracing_hooks(
    *, opentelemetry: bool | None = None, logging_hook: bool = True, tracer_provider: Any = None
) -> tuple[Any, ...]:
    """The hooks to pass as ``command_hooks``: OpenTelemetry (if installed) and logging.

    ``opentelemetry=None`` means "if the API is installed"; ``True`` insists (ImportError otherwise).
    """
    hooks: list[Any] = []
    if opentelemetry or (opentelemetry is None and otel_available()):
        hooks.append(OpenTelemetryHook(tracer_provider=tracer_provider))
    if logging_hook:
        hooks.append(LoggingHook())
    return tuple(hooks)
