"""One compiled model and one store, many short-lived engines.

The document builds a runtime per request (``createInventoryRuntime({tenantId, userId,
storeProvider})``). Here that is ``RuntimeFactory``: compile the model once, open the store once,
and hand out a cheap ``RuntimeEngine`` bound to a context ``{tenantId, user}`` for each request,
tenant or user. Every engine gets the same options (limits, idempotency store, hooks, clock), so a
workflow that uses several "runtimes" (Pattern 3) sees one consistent system.

The factory also answers the instance queries the document does with Prisma
(``prisma.prepTask.findMany({where: {tenantId, eventId, status}})``), through the engine's
``find_instances``, and can keep a bounded shared log of the events of all its engines so that a
correlation id can be followed across them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..loading import load_model
from ..runtime.engine import RuntimeEngine
from .eventlog import events_for_correlation


def model_ir(model: Any) -> dict[str, Any]:
    """The IR dict behind an engine, a ``CompiledModel`` or an IR dict."""
    if isinstance(model, Mapping):
        return dict(model)
    for attr in ("ir", "model"):
        inner = getattr(model, attr, None)
        if inner is not None and inner is not model:
            if callable(inner):
                inner = inner()
            return model_ir(inner)
    get_ir = getattr(model, "get_ir", None)
    if callable(get_ir):
        return dict(get_ir())
    raise TypeError(f"cannot find the IR of {type(model).__name__}")


def entity_names(model: Any) -> list[str]:
    return [e["name"] for e in model_ir(model).get("entities", [])]


class RuntimeFactory:
    """Builds engines that share one compiled model, one store and one set of options."""

    def __init__(
        self,
        model: Any,
        store: Any = None,
        *,
        idempotency_store: Any = None,
        evaluation_limits: Any = None,
        now: Callable[[], float] | None = None,
        generate_id: Callable[[], str] | None = None,
        command_hooks: Sequence[Any] = (),
        tracing: bool = False,
        deterministic_mode: bool = False,
        event_log_size: int = 0,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = load_model(model)
        if store is None:
            from ..stores.memory import MemoryStore

            store = MemoryStore()
        self.store = store
        hooks = list(command_hooks)
        if tracing:
            from .telemetry import tracing_hooks

            hooks.extend(tracing_hooks())
        self.command_hooks: tuple[Any, ...] = tuple(hooks)
        options: dict[str, Any] = dict(engine_options or {})
        for key, value in (
            ("idempotency_store", idempotency_store),
            ("evaluation_limits", evaluation_limits),
            ("now", now),
            ("generate_id", generate_id),
        ):
            if value is not None:
                options[key] = value
        if deterministic_mode:
            options["deterministic_mode"] = True
        self._options = options
        self._events: deque[Any] | None = deque(maxlen=event_log_size) if event_log_size > 0 else None
        self._events_lock = threading.Lock()

    # -- engines -------------------------------------------------------------------------------

    def engine(
        self,
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        user: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> Any:
        """An engine for one request: ``factory.engine(tenant_id="t1", user_id="chef-1")``."""
        ctx: dict[str, Any] = dict(context)
        if tenant_id is not None:
            ctx["tenantId"] = tenant_id
        if user is not None or user_id is not None:
            ctx["user"] = {**(user or {}), **({"id": user_id} if user_id is not None else {})}
        return self.for_context(ctx)

    def for_context(self, context: Mapping[str, Any]) -> Any:
        """An engine bound to ``context`` (the ``context``/``user`` bindings of expressions)."""
        engine = RuntimeEngine(
            self.model,
            dict(context),
            store_provider=self.store,
            command_hooks=self.command_hooks,
            **self._options,
        )
        if self._events is not None:
            engine.on_event(self._record_event)
        return engine

    # -- queries -------------------------------------------------------------------------------

    def find(
        self,
        entity: str,
        where: Mapping[str, Any] | None = None,
        *,
        tenant_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Instances of ``entity`` whose fields equal ``where`` (plus ``tenantId`` when given)."""
        criteria = dict(where or {})
        if tenant_id is not None:
            criteria["tenantId"] = tenant_id
        ctx = dict(context or {})
        if tenant_id is not None:
            ctx.setdefault("tenantId", tenant_id)
        return list(self.for_context(ctx).find_instances(entity, criteria))

    def events(self) -> list[Any]:
        """The shared event log (empty unless ``event_log_size`` > 0), oldest first."""
        if self._events is None:
            return []
        with self._events_lock:
            return list(self._events)

    def events_for_correlation(self, correlation_id: str) -> list[Any]:
        return events_for_correlation(self.events(), correlation_id)

    def _record_event(self, event: Any) -> None:
        if self._events is not None:
            with self._events_lock:
                self._events.append(event)

    def close(self) -> None:
        """Close the shared store (engines handed out before must not be used afterwards)."""
        self.store.close()

    def __enter__(self) -> RuntimeFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merged_events(engines: Iterable[Any]) -> list[Any]:
    """The event logs of several engines as one list (Pattern 3 merges three runtimes)."""
    out: list[Any] = []
    for engine in engines:
        out.extend(engine.get_event_log())
    return out
