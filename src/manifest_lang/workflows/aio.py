"""``AsyncRuntimeEngine``: the engine for asyncio code (FastAPI handlers, aiohttp, workers).

The core is synchronous by design (DESIGN.md, "Sync core"); this facade runs each call in a
bounded pool of worker threads, so an ``await`` never blocks the event loop and at most
``max_workers`` commands hold a database connection at once; more callers wait in the pool's
queue, not on the loop. Results are the engine's own objects: the same ``CommandResult`` a
synchronous call returns.

Why threads rather than psycopg's async connections: the command pipeline (expressions, guards,
constraints, the commit) is CPU-bound Python that would still run on the loop thread and stall
it; a store round trip releases the GIL in a worker thread just as well. ``bench/async_facade.py``
measures both on PostgreSQL (docs/http.md, "asyncio").
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar, Unpack

from ..runtime.engine import RuntimeEngine
from ..runtime.model import CompiledModel
from ..runtime.options import RuntimeOptionsArgs
from ..runtime.results import CommandResult, ConstraintOutcome, EmittedEvent, OverrideRequest

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_MAX_WORKERS = min(32, (os.cpu_count() or 1) + 4)


class AsyncRuntimeEngine:
    """Awaitable versions of ``RuntimeEngine``'s command and instance methods.

    ``AsyncRuntimeEngine(engine)`` wraps an engine; ``AsyncRuntimeEngine.create(ir, context,
    **options)`` builds one. Share one ``executor`` between engines (one per request is fine)
    to bound the threads of the whole process.
    """

    def __init__(
        self,
        engine: RuntimeEngine,
        *,
        executor: ThreadPoolExecutor | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        if not isinstance(engine, RuntimeEngine):
            from ..errors import InvalidInputError

            raise InvalidInputError(f"AsyncRuntimeEngine wraps a RuntimeEngine, not {type(engine).__name__}")
        self.engine = engine
        self._owns_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="manifest")

    @classmethod
    def create(
        cls,
        ir: dict[str, Any] | CompiledModel,
        context: dict[str, Any] | None = None,
        *,
        executor: ThreadPoolExecutor | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        **options: Unpack[RuntimeOptionsArgs],
    ) -> AsyncRuntimeEngine:
        return cls(RuntimeEngine(ir, context, **options), executor=executor, max_workers=max_workers)

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def run_command(
        self,
        name: str,
        input: Mapping[str, Any] | None = None,
        *,
        entity_name: str | None = None,
        instance_id: str | None = None,
        override_requests: Sequence[OverrideRequest | Mapping[str, Any]] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """``RuntimeEngine.run_command`` in a worker thread."""
        return await self._call(
            self.engine.run_command,
            name,
            input,
            entity_name=entity_name,
            instance_id=instance_id,
            override_requests=override_requests,
            correlation_id=correlation_id,
            causation_id=causation_id,
            idempotency_key=idempotency_key,
        )

    async def create_instance(
        self, entity: str, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        return await self._call(self.engine.create_instance, entity, data)

    async def update_instance(self, entity: str, id: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        return await self._call(self.engine.update_instance, entity, id, data)

    async def delete_instance(self, entity: str, id: str) -> bool:
        return await self._call(self.engine.delete_instance, entity, id)

    async def get_instance(self, entity: str, id: str) -> dict[str, Any] | None:
        return await self._call(self.engine.get_instance, entity, id)

    async def get_all_instances(self, entity: str) -> list[dict[str, Any]]:
        return await self._call(self.engine.get_all_instances, entity)

    async def find_instances(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        return await self._call(self.engine.find_instances, entity, where)

    async def check_constraints(self, entity: str, data: Mapping[str, Any]) -> list[ConstraintOutcome]:
        return await self._call(self.engine.check_constraints, entity, data)

    def get_event_log(self) -> list[EmittedEvent]:
        """In memory, no I/O: a plain call."""
        return self.engine.get_event_log()

    def close(self) -> None:
        """Stop the worker threads this engine started (a shared ``executor`` is left alone)."""
        if self._owns_executor:
            self.executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncRuntimeEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
