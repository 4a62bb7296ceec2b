"""The shared parts every engine of a worker (or of ``manifest serve``) gets from one store.

``durable_options(store)`` is what makes the workflow features durable: async commands enqueue
work items in the caller's transaction (``StoreJobQueue``), approval requests live in the
store's approvals table (``StoreApprovalStore``), and rate-limit windows in its rate-limit table
(``StoreRateLimitStore``), so every engine, thread and process on the database sees the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..runtime.idempotency import MemoryIdempotencyStore
from ..stores.base import IdempotencyKey
from ..stores.sql_common import SqlStore
from ..stores.sql_idempotency import SqlIdempotencyStore


def load_compiled(model: Any) -> Any:
    """A ``CompiledModel`` from a path, source text, IR dict or compiled model."""
    from ..loading import load_model

    return load_model(model)


def durable_options(store: Any, model: Any = None) -> dict[str, Any]:
    """Engine options that keep jobs, approvals and rate-limit windows in ``store``."""
    from .approvals import StoreApprovalStore
    from .jobs import StoreJobQueue
    from .ratelimits import StoreRateLimitStore

    return {
        "job_queue": StoreJobQueue(store),
        "approval_store": StoreApprovalStore(store, model),
        "rate_limit_store": StoreRateLimitStore(store),
    }


def work_idempotency(store: Any, *, in_progress_ttl_seconds: float = 30.0) -> Any:
    """The idempotency store a work item's command runs with: recorded in the command's own
    transaction on the SQL stores, so a re-run after a crash answers from it."""
    if isinstance(store, SqlStore):
        return SqlIdempotencyStore(store, in_progress_ttl_seconds=in_progress_ttl_seconds)
    return SuccessesOnly()


class SuccessesOnly(MemoryIdempotencyStore):
    """In process, as the SQL stores do: only a committed success is recorded, so the next
    attempt of a failed item runs again instead of answering with the failure."""

    def set(self, key: IdempotencyKey, result: Any, fingerprint: str | None = None) -> None:
        success = result.success if hasattr(result, "success") else bool(result.get("success"))
        if success:
            super().set(key, result, fingerprint)
        else:
            self.release(key)  # the in-progress claim goes too: the next attempt runs


class WorkServices:
    """One compiled model, one store, the durable options, and engines built from them."""

    def __init__(
        self,
        model: Any,
        store: Any,
        engine_options: Mapping[str, Any] | None = None,
        *,
        in_progress_ttl_seconds: float = 30.0,
    ) -> None:
        self.model = load_compiled(model)
        self.store = store
        self.idempotency = work_idempotency(store, in_progress_ttl_seconds=in_progress_ttl_seconds)
        self.options: dict[str, Any] = {**durable_options(store, self.model), **dict(engine_options or {})}

    def engine(self, context: dict[str, Any], **options: Any) -> Any:
        from ..runtime.engine import RuntimeEngine

        merged = {
            "store_provider": self.store,
            **self.options,
            "idempotency_store": self.idempotency,
            **options,
        }
        return RuntimeEngine(self.model, context, **merged)
