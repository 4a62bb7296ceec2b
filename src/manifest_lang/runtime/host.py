"""``EngineHost``: what the command pipeline needs of the engine that runs it.

``RuntimeEngine`` implements it; every module below ``engine.py`` (the execution, the top level,
the rules, jobs and approvals) is typed against this protocol and never imports the engine, so
the pipeline can be read, tested and compiled on its own. The members are the engine's own public
attributes: a clock, an id source, the context, the stores, the limits and the event log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..expr.budget import EvaluationLimits
from ..stores.base import Store
from .encryption import FieldCrypto
from .events import EventLog
from .model import CompiledModel


class RateLimits(Protocol):
    """Sliding-window counters (``ratelimit.MemoryRateLimitStore``, or one shared by processes)."""

    def hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None: ...


class EngineHost(Protocol):
    """The engine as the pipeline sees it (also the ``BuiltinHost`` of built-in functions)."""

    model: CompiledModel
    #: the ``context`` binding of expressions (``user``, ``tenantId``, ...); shared, not copied
    context: dict[str, Any]
    limits: EvaluationLimits
    #: the store of single-store engines; with a per-entity provider, the default one
    store: Store
    store_for: Callable[[str], Store]
    multi_store: bool
    crypto: FieldCrypto | None
    events: EventLog
    effect_handler: Callable[[dict[str, Any]], Any] | None
    flags: dict[str, Any]
    flag_provider: Callable[[str], Any] | None
    rate_limits: RateLimits
    approval_store: Any
    job_queue: Any
    conflict_retries: int
    #: typed command inputs (runtime/inputs.py); False: the reference's lax behaviour
    strict_inputs: bool
    sleep: Callable[[float], None]
    retry_jitter: Callable[[float], float]
    #: False when a durable queue owns the retries (each attempt is one work item attempt)
    retry_in_process: bool
    #: field values a top-level command's target must have (``RuntimeOptions.target_scope``)
    target_scope: dict[str, Any] | None

    def now(self) -> float: ...

    def generate_id(self) -> str: ...

    @property
    def idempotency_store(self) -> Any: ...

    def tenant_value(self) -> str | None: ...

    def is_deterministic(self) -> bool: ...

    def flag(self, name: str) -> Any: ...
