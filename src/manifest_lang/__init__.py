"""manifest-lang: the Python implementation of the Manifest language and runtime.

Public names are imported lazily so that ``import manifest_lang`` stays cheap and optional
extras (PostgreSQL, Redis, HTTP) are only needed by the names that use them. Type checkers see
the real imports below (``TYPE_CHECKING``), so every exported name keeps its type, and a name
that is not exported is an error rather than ``Any``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__ as __version__

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
    "AsyncRuntimeEngine": "manifest_lang.workflows.aio",
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
    "Worker": "manifest_lang.workflows.worker",
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
    "MissingExtraError": "manifest_lang.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    # The same names as _EXPORTS (tests/test_typing.py keeps the two lists equal).
    from .compiler.api import CompileResult as CompileResult
    from .compiler.api import compile_source as compile_source
    from .compiler.diagnostics import Diagnostic as Diagnostic
    from .errors import CompileError as CompileError
    from .errors import EvaluationBudgetExceededError as EvaluationBudgetExceededError
    from .errors import IRError as IRError
    from .errors import ManifestEffectBoundaryError as ManifestEffectBoundaryError
    from .errors import ManifestError as ManifestError
    from .errors import MissingExtraError as MissingExtraError
    from .errors import StoreConflictError as StoreConflictError
    from .errors import StoreError as StoreError
    from .expr.budget import EvaluationLimits as EvaluationLimits
    from .expr.values import UNDEFINED as UNDEFINED
    from .http.app import create_app as create_app
    from .loading import load_model as load_model
    from .runtime.engine import RuntimeEngine as RuntimeEngine
    from .runtime.heap import freeze_heap as freeze_heap
    from .runtime.idempotency import IdempotencyStore as IdempotencyStore
    from .runtime.idempotency import MemoryIdempotencyStore as MemoryIdempotencyStore
    from .runtime.model import CompiledModel as CompiledModel
    from .runtime.options import RuntimeOptions as RuntimeOptions
    from .runtime.outcomes import can_proceed_with_constraints as can_proceed_with_constraints
    from .runtime.outcomes import get_blocking_constraints as get_blocking_constraints
    from .runtime.outcomes import get_warning_constraints as get_warning_constraints
    from .runtime.results import CommandResult as CommandResult
    from .runtime.results import ConcurrencyConflict as ConcurrencyConflict
    from .runtime.results import ConstraintOutcome as ConstraintOutcome
    from .runtime.results import EmittedEvent as EmittedEvent
    from .runtime.results import GuardFailure as GuardFailure
    from .runtime.results import OverrideRequest as OverrideRequest
    from .runtime.results import PolicyDenial as PolicyDenial
    from .stores.base import Store as Store
    from .stores.base import UnitOfWork as UnitOfWork
    from .stores.memory import MemoryStore as MemoryStore
    from .stores.postgres import PostgresStore as PostgresStore
    from .stores.redis_idempotency import RedisIdempotencyStore as RedisIdempotencyStore
    from .stores.sqlite import SQLiteStore as SQLiteStore
    from .stores.urls import open_store as open_store
    from .workflows.aio import AsyncRuntimeEngine as AsyncRuntimeEngine
    from .workflows.eventlog import causal_tree as causal_tree
    from .workflows.eventlog import render_causal_tree as render_causal_tree
    from .workflows.factory import RuntimeFactory as RuntimeFactory
    from .workflows.journal import CommandJournal as CommandJournal
    from .workflows.replay import replay_and_verify as replay_and_verify
    from .workflows.saga import Saga as Saga
    from .workflows.saga import SagaResult as SagaResult
    from .workflows.saga import SagaStep as SagaStep
else:

    def __getattr__(name: str) -> Any:
        module_name = _EXPORTS.get(name)
        if module_name is None:
            raise AttributeError(f"module 'manifest_lang' has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(__all__)
