"""``RuntimeOptions``: how one engine is configured (everything but the model and the context).

``RuntimeEngine(ir, context, **options)`` takes the fields as keyword arguments (the public form,
used by applications, tests and docs); ``RuntimeEngine(ir, context, options=RuntimeOptions(...))``
takes them as one value that can be built once and shared (keywords given as well override it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypedDict

from ..expr.budget import EvaluationLimits
from ..stores.base import Store
from .encryption import EncryptionProvider
from .idempotency import IdempotencyStore

StoreProvider = Store | Callable[[str], Store | None]


class CommandHook(Protocol):
    """Called around every top-level ``run_command`` (``workflows/telemetry.py`` has two): what
    ``before_command`` returns is handed to ``after_command`` with the result (None if it raised)."""

    def before_command(self, engine: Any, name: str, input: Any, options: Mapping[str, Any]) -> Any: ...

    def after_command(self, token: Any, result: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    #: the clock (epoch ms) and id source; wall clock and random UUIDs when None
    now: Callable[[], float] | None = None
    generate_id: Callable[[], str] | None = None
    evaluation_limits: EvaluationLimits | Mapping[str, int] | None = None
    idempotency_store: IdempotencyStore | None = None
    #: forbid adapter actions (persist/publish/effect); None: ``context["deterministic"]`` decides
    deterministic_mode: bool | None = None
    #: one Store, or a callable entity name -> Store (None: the engine's default memory store)
    store_provider: StoreProvider | None = None
    #: re-runs of a command whose commit met a concurrent write
    conflict_retries: int = 3
    command_hooks: Sequence[CommandHook] = ()
    effect_handler: Callable[[dict[str, Any]], Any] | None = None
    flags: Mapping[str, Any] | None = None
    flag_provider: Callable[[str], Any] | None = None
    require_tenant_context: bool = False
    #: shared by engines that must count calls together (``hit(key, now, window_ms, capacity)``)
    rate_limit_store: Any = None
    job_queue: Any = None
    approval_store: Any = None
    #: retry backoff: no real sleeping unless the application injects it (as the reference)
    sleep: Callable[[float], None] | None = None
    retry_jitter: Callable[[float], float] | None = None
    custom_builtins: Mapping[str, Callable[[Any, list[Any]], Any]] | None = None
    encryption_provider: EncryptionProvider | None = None
    max_parallel_commands: int | None = None
    #: field values a command's target instance must have (for entities with that property): a
    #: target that does not match is "not found", as another tenant's row is over HTTP
    target_scope: Mapping[str, Any] | None = None
    #: check each supplied parameter against its declared type (False: the reference's lax
    #: behaviour, any JSON for any parameter; runtime/inputs.py, docs/differences.md #18)
    strict_inputs: bool = True
    #: events the engine keeps for ``get_event_log()``/``events_for_correlation()``: None every
    #: one (the reference's behaviour), 0 none (listeners still see each), N the last N
    event_log_limit: int | None = None


class RuntimeOptionsArgs(TypedDict, total=False):
    """The fields of :class:`RuntimeOptions` as keyword arguments of ``RuntimeEngine``."""

    now: Callable[[], float] | None
    generate_id: Callable[[], str] | None
    evaluation_limits: EvaluationLimits | Mapping[str, int] | None
    idempotency_store: IdempotencyStore | None
    deterministic_mode: bool | None
    store_provider: StoreProvider | None
    conflict_retries: int
    command_hooks: Sequence[CommandHook]
    effect_handler: Callable[[dict[str, Any]], Any] | None
    flags: Mapping[str, Any] | None
    flag_provider: Callable[[str], Any] | None
    require_tenant_context: bool
    rate_limit_store: Any
    job_queue: Any
    approval_store: Any
    sleep: Callable[[float], None] | None
    retry_jitter: Callable[[float], float] | None
    custom_builtins: Mapping[str, Callable[[Any, list[Any]], Any]] | None
    encryption_provider: EncryptionProvider | None
    max_parallel_commands: int | None
    target_scope: Mapping[str, Any] | None
    strict_inputs: bool
    event_log_limit: int | None


DEFAULT_OPTIONS = RuntimeOptions()
_NAMES = tuple(f.name for f in fields(RuntimeOptions))
_NAME_SET = frozenset(_NAMES)
_DEFAULTS: dict[str, Any] = {name: getattr(DEFAULT_OPTIONS, name) for name in _NAMES}


def resolve_options(options: RuntimeOptions | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every option by name: ``options`` (or the defaults) with the keyword arguments applied.

    A plain dict, not a new ``RuntimeOptions``: engines are built per request, and a frozen
    dataclass of 21 fields costs microseconds to construct."""
    if not _NAME_SET.issuperset(overrides):
        unknown = sorted(overrides.keys() - _DEFAULTS.keys())[0]
        raise TypeError(f"RuntimeEngine() got an unexpected keyword argument {unknown!r}")
    if options is None:
        return {**_DEFAULTS, **overrides}
    return {**{name: getattr(options, name) for name in _NAMES}, **overrides}
