"""manifest-lang: the Python implementation of the Manifest language and runtime.

Public names are imported lazily so that ``import manifest_lang`` stays cheap and optional
extras (PostgreSQL, Redis, HTTP) are only needed by the names that use them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # compiler
    "compile_source": "manifest_lang.compiler.api",
    "CompileResult": "manifest_lang.compiler.api",
    "Diagnostic": "manifest_lang.compiler.diagnostics",
    # values and limits
    "UNDEFINED": "manifest_lang.expr.values",
    "EvaluationLimits": "manifest_lang.expr.budget",
    # loading a model (path | source | IR dict | CompiledModel)
    "load_model": "manifest_lang.loading",
    # runtime
    "RuntimeEngine": "manifest_lang.runtime.engine",
    "CompiledModel": "manifest_lang.runtime.model",
    "RuntimeOptions": "manifest_lang.runtime.options",
    "freeze_heap": "manifest_lang.runtime.heap",
    "CommandResult": "manifest_lang.runtime.results",
    "EmittedEvent": "manifest_lang.runtime.results",
    "ConstraintOutcome": "manifest_lang.runtime.results",
    "GuardFailure": "manifest_lang.runtime.results",
    "PolicyDenial": "manifest_lang.runtime.results",
    "ConcurrencyConflict": "manifest_lang.runtime.results",
    "OverrideRequest": "manifest_lang.runtime.results",
    "get_warning_constraints": "manifest_lang.runtime.outcomes",
    "get_blocking_constraints": "manifest_lang.runtime.outcomes",
    "can_proceed_with_constraints": "manifest_lang.runtime.outcomes",
    "IdempotencyStore": "manifest_lang.runtime.idempotency",
    "MemoryIdempotencyStore": "manifest_lang.runtime.idempotency",
    # workflows
    "CommandJournal": "manifest_lang.workflows.journal",
    "replay_and_verify": "manifest_lang.workflows.replay",
    "Saga": "manifest_lang.workflows.saga",
    "SagaStep": "manifest_lang.workflows.saga",
    "SagaResult": "manifest_lang.workflows.saga",
    "RuntimeFactory": "manifest_lang.workflows.factory",
    "causal_tree": "manifest_lang.workflows.eventlog",
    "render_causal_tree": "manifest_lang.workflows.eventlog",
    # stores
    "Store": "manifest_lang.stores.base",
    "UnitOfWork": "manifest_lang.stores.base",
    "MemoryStore": "manifest_lang.stores.memory",
    "SQLiteStore": "manifest_lang.stores.sqlite",
    "PostgresStore": "manifest_lang.stores.postgres",
    "open_store": "manifest_lang.stores.urls",
    "RedisIdempotencyStore": "manifest_lang.stores.redis_idempotency",
    # http
    "create_app": "manifest_lang.http.app",
    # errors
    "ManifestError": "manifest_lang.errors",
    "CompileError": "manifest_lang.errors",
    "IRError": "manifest_lang.errors",
    "EvaluationBudgetExceededError": "manifest_lang.errors",
    "ManifestEffectBoundaryError": "manifest_lang.errors",
    "StoreError": "manifest_lang.errors",
    "StoreConflictError": "manifest_lang.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'manifest_lang' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
