"""``RuntimeEngine``: runs commands of a compiled model against a store.

An engine is cheap (one per request, tenant or user is fine): the heavy work is in the shared
``CompiledModel``. Each top-level call gets an ``Execution`` (budget + write buffer); a command's
writes, outbox entries, idempotency record and audit record are committed as ONE unit of work.

The engine is the facade over the pipeline: it implements ``EngineHost`` (``host.py``), the one
thing the modules below it know of it, and nothing below this module imports it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from ..errors import (
    InvalidInputError,
    LimitExceededError,
    UnknownEntityError,
)
from ..expr.budget import Budget, EvaluationLimits
from ..expr.values import UNDEFINED, as_double
from ..stores.base import NEW_ROW, RowWrite, Store, UnitOfWork
from ..stores.memory import MemoryStore
from .approvals import MemoryApprovalStore, approve_stage, deny, expire, request_key
from .codes import ResultCode
from .commands import CommandRun, dispatch
from .computed import evaluate_computed
from .direct import create_row, delete_row, update_row
from .encryption import EncryptionProvider, FieldCrypto
from .entry import CommandEntry
from .events import EventLog
from .execution import CallOptions, Execution, commit
from .idempotency import MemoryIdempotencyStore
from .instances import check_entity_constraints, present
from .jobs import job_event, schedule_params
from .jsonvalues import LIMIT_EXCEEDED, as_id, flat_json_object, id_problem, json_problem
from .model import CompiledModel, compiled_model
from .options import RuntimeOptions, RuntimeOptionsArgs, resolve_options
from .ratelimit import MemoryRateLimitStore
from .records import CommandModel, EntityModel
from .refusal import WriteRejected
from .results import CommandResult, ConcurrencyConflict, ConstraintOutcome, EmittedEvent, OverrideRequest
from .toplevel import TopLevel

log = logging.getLogger("manifest_lang.runtime")

Listener = Callable[[EmittedEvent], Any]


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _random_id() -> str:
    """A random RFC 4122 version-4 UUID string, as ``str(uuid.uuid4())`` but without building a
    ``UUID`` object (a third of the cost; a durable command makes two: audit and outbox ids)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RuntimeEngine(CommandEntry):
    """Executes commands and reads/writes instances of one model for one context."""

    if TYPE_CHECKING:
        # What type checkers see. The implementation is ``CommandEntry.run_command`` (compiled in
        # the native build), which takes ``Any`` and checks every argument at run time, so a
        # caller without a type checker still gets a failed result, never a TypeError.
        def run_command(  # type: ignore[override]
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
        ) -> CommandResult: ...

    def __init__(
        self,
        ir: dict[str, Any] | CompiledModel,  # anything else is an IRError (checked)
        context: dict[str, Any] | None = None,  # anything else is an InvalidInputError (checked)
        *,
        options: RuntimeOptions | None = None,
        **overrides: Unpack[RuntimeOptionsArgs],
    ) -> None:
        """An engine for ``context`` over ``ir``, configured by ``options`` and/or keyword arguments
        (the fields of :class:`RuntimeOptions`: ``now``, ``store_provider``, ``idempotency_store``...)."""
        opts = resolve_options(options, overrides)
        self.model = _model_for(ir, opts["custom_builtins"])
        if context is not None and not isinstance(context, dict):
            raise InvalidInputError(f"context must be a dict, not {type(context).__name__}")
        self.context: dict[str, Any] = context if context is not None else {}
        self._top = TopLevel(self)
        self._replay_results: dict[Any, Any] | None = None
        self._replay_clock: Callable[[], float] = time.monotonic
        self._configure(opts)
        self._setup_state(opts["encryption_provider"], opts["event_log_limit"])
        self._setup_stores(opts["store_provider"])

    def _configure(self, opts: dict[str, Any]) -> None:
        self.now: Callable[[], float] = opts["now"] or _wall_clock_ms
        self.generate_id: Callable[[], str] = opts["generate_id"] or _random_id
        self.limits = EvaluationLimits.coerce(opts["evaluation_limits"])
        # The four fields the replay shortcut depends on are set directly and the shortcut decided
        # once (their property setters re-decide it on every later change).
        self._idempotency_store = self._top.idem = opts["idempotency_store"]
        self._command_hooks: tuple[Any, ...] = tuple(opts["command_hooks"])
        self._require_tenant_context = self._top.tenant_required = bool(opts["require_tenant_context"])
        self._max_parallel_commands: int | None = opts["max_parallel_commands"]
        self._refresh_replay()
        self.deterministic_mode = opts["deterministic_mode"]
        self.conflict_retries = max(0, int(opts["conflict_retries"]))
        self.effect_handler = opts["effect_handler"]
        self.flags = dict(opts["flags"] or {})
        self.roles = self.model.roles  # BuiltinHost: role -> effective permissions
        self.flag_provider = opts["flag_provider"]
        limits, approvals = opts["rate_limit_store"], opts["approval_store"]
        self.rate_limits = limits if limits is not None else MemoryRateLimitStore()
        self.job_queue = opts["job_queue"]
        self.approval_store = approvals if approvals is not None else MemoryApprovalStore()
        self.sleep: Callable[[float], None] = opts["sleep"] or (lambda ms: None)
        self.retry_jitter: Callable[[float], float] = opts["retry_jitter"] or (lambda ms: ms)
        #: False when a durable queue owns the retries (each attempt is then a work item attempt)
        self.retry_in_process = True
        scope = opts["target_scope"]
        self.target_scope: dict[str, Any] | None = dict(scope) if scope else None
        self.strict_inputs = opts["strict_inputs"]

    # The replay shortcut of ``run_command`` depends on these four; each change re-decides it.
    @property
    def idempotency_store(self) -> Any:
        return self._idempotency_store

    @idempotency_store.setter
    def idempotency_store(self, store: Any) -> None:
        self._idempotency_store = store
        self._top.idem = store
        self._refresh_replay()

    @property
    def command_hooks(self) -> tuple[Any, ...]:
        return self._command_hooks

    @command_hooks.setter
    def command_hooks(self, hooks: Sequence[Any]) -> None:
        self._command_hooks = tuple(hooks)
        self._refresh_replay()

    @property
    def require_tenant_context(self) -> bool:
        return self._require_tenant_context

    @require_tenant_context.setter
    def require_tenant_context(self, required: bool) -> None:
        self._require_tenant_context = bool(required)
        self._top.tenant_required = bool(required)
        self._refresh_replay()

    @property
    def max_parallel_commands(self) -> int | None:
        return self._max_parallel_commands

    @max_parallel_commands.setter
    def max_parallel_commands(self, limit: int | None) -> None:
        self._max_parallel_commands = limit
        self._refresh_replay()

    def _refresh_replay(self) -> None:
        """The in-memory results a replay may be answered from before anything else, or None when
        hooks, a parallelism limit or the tenant gate must see every call (the full path)."""
        idem = self._idempotency_store
        plain = (
            not self._command_hooks
            and self._max_parallel_commands is None
            and self.model.tenant is None
            and not self._require_tenant_context
        )
        if plain and type(idem) is MemoryIdempotencyStore:
            self._replay_results, self._replay_clock = idem.results, idem.clock
        else:
            self._replay_results = None

    def _setup_state(self, encryption_provider: EncryptionProvider | None, event_log_limit: Any) -> None:
        try:
            self.events = EventLog(event_log_limit)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        encrypted = {n: e.encrypted for n, e in self.model.entities.items() if e.encrypted}
        self.crypto = (
            FieldCrypto(encryption_provider, encrypted) if encryption_provider and encrypted else None
        )

    def _setup_stores(self, provider: Any) -> None:
        if provider is None:
            provider = MemoryStore()
        if hasattr(provider, "load") and hasattr(provider, "commit"):
            store: Store = provider
            self.store = store
            self.store_for: Callable[[str], Store] = lambda entity: store
            self._stores: dict[str, Store] = {}
            self.multi_store = False
            return
        if not callable(provider):
            raise InvalidInputError("store_provider must be a Store or a callable entity -> Store")
        default = MemoryStore()
        self.store = default
        stores = {name: (provider(name) or default) for name in self.model.entities}
        self._stores = stores
        self.multi_store = True
        self.store_for = lambda entity: stores.get(entity, default)

    # --- context and options ------------------------------------------------------------------

    def get_context(self) -> dict[str, Any]:
        return self.context

    def set_context(self, patch: Mapping[str, Any]) -> None:
        """Merge ``patch`` into the context (the reference's ``setContext``)."""
        self.context.update(patch)

    def replace_context(self, context: dict[str, Any]) -> None:
        self.context = context

    def is_deterministic(self) -> bool:
        if self.deterministic_mode is not None:
            return bool(self.deterministic_mode)
        return bool(self.context.get("deterministic", False))

    def flag(self, name: str) -> Any:
        if self.flag_provider is not None:
            return self.flag_provider(name)
        return self.flags.get(name, False)

    def tenant_value(self) -> str | None:
        """The tenant of the context, through the IR's ``tenant ... from <path>`` (strings only)."""
        if self.model.tenant is None:
            return None
        value = self.model.tenant_of(self.context)
        return value if isinstance(value, str) else None

    def get_last_evaluation_stats(self) -> dict[str, int] | None:
        """``{stepsUsed, peakDepth, maxSteps, maxDepth}`` of the last top-level command."""
        budget = self._top.last_budget
        return budget.stats() if budget is not None else None

    def new_execution(self, *, budget: bool = True) -> Execution:
        return Execution(self, Budget(self.limits) if budget else None)

    # --- commands -----------------------------------------------------------------------------

    def execute_in(
        self,
        ex: Execution,
        name: str,
        input: dict[str, Any],
        opts: CallOptions,
        cmd: CommandModel | None = None,
    ) -> CommandResult:
        """Run a command inside an existing execution (top level, reactions, saga steps)."""
        if cmd is not None:
            return CommandRun(ex, cmd, opts).run(input)
        return dispatch(ex, name, input, opts)

    # --- workflows: approvals, schedules, async jobs ------------------------------------------

    def approve_stage(self, entity: str, id: str, approval: str, stage: str, approver: Any) -> dict[str, Any]:
        """Record an approval of ``stage`` by ``approver`` (a user dict or id); ValueError if refused."""
        return approve_stage(self, entity, id, approval, stage, approver)

    def deny_approval(
        self, entity: str, id: str, approval: str, by: Any, reason: str | None = None
    ) -> dict[str, Any]:
        return deny(self, entity, id, approval, by, reason)

    def get_approval_request(self, entity: str, id: str | None, approval: str) -> dict[str, Any] | None:
        return self.approval_store.load(request_key(entity, id, approval))

    def expire_approvals(self, now: float | None = None) -> list[str]:
        return expire(self, now)

    def get_schedules(self) -> list[dict[str, Any]]:
        return [s.ir for s in self.model.schedules.values()]

    def run_schedule(
        self, name: str, *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> CommandResult:
        """Run a schedule's command now (the caller's scheduler decides when)."""
        schedule = self.model.schedules.get(name)
        if schedule is None:
            error = f"Schedule '{name}' not found"
            return CommandResult(success=False, error=error, code=ResultCode.UNKNOWN_SCHEDULE)
        keys = ("source", "scheduleName")
        previous: dict[str, Any] = {k: self.context[k] for k in keys if k in self.context}
        self.context.update(source="schedule", scheduleName=name)
        try:
            params = schedule_params(self, schedule)
            return self.run_command(
                schedule.command_name,
                params,
                entity_name=schedule.entity_name,
                correlation_id=correlation_id,
                causation_id=causation_id,
            )
        finally:
            for key in ("source", "scheduleName"):
                self.context.pop(key, None)
            self.context.update(previous)

    def drain_jobs(self) -> list[CommandResult]:
        """Execute every pending async job; each result carries its completion/failure event."""
        queue = self.job_queue
        if queue is None:
            return []
        results = []
        for job in queue.drain_pending():
            previous = self.context.get("source", UNDEFINED)
            self.context["source"] = "job"
            try:
                opts = CallOptions(
                    job.get("entityName"),
                    job.get("instanceId"),
                    None,
                    job.get("correlationId"),
                    job.get("causationId"),
                )
                result = self._top.execute_job(job["commandName"], dict(job.get("input") or {}), opts)
            finally:
                if previous is UNDEFINED:
                    self.context.pop("source", None)
                else:
                    self.context["source"] = previous
            result.emitted_events = [*result.emitted_events, job_event(self, job, result)]
            status = "completed" if result.success else "failed"
            queue.update_status(
                job["jobId"], status, result=result.to_dict().get("result"), error=result.error
            )
            results.append(result)
        return results

    # --- instances ----------------------------------------------------------------------------

    def _entity(self, name: str) -> EntityModel:
        em = self.model.entities.get(name) if isinstance(name, str) else None
        if em is None:
            if not isinstance(name, str):
                raise InvalidInputError(f"an entity name must be a string, not {type(name).__name__}")
            raise UnknownEntityError(f"Unknown entity '{name[:200]}'", entity=name[:200])
        return em

    def _commit(self, ex: Execution) -> None:
        writes = ex.row_writes()
        if not writes:
            return
        if self.multi_store:
            commit(self, self.store, UnitOfWork(writes))
        else:
            self.store.commit(UnitOfWork(writes))

    def create_instance(
        self, entity: str, data: Mapping[str, Any] | None = None, *, replace: bool = False
    ) -> dict[str, Any] | None:
        """Create an instance (defaults, required, unique, constraints); None if a rule blocks it.

        An id that is taken raises ``InstanceExistsError`` (``ALREADY_EXISTS``), also when a
        concurrent create commits it first; ``replace=True`` overwrites the row instead."""
        em = self._entity(entity)
        ex = self.new_execution()
        doc = create_row(ex, em, _json_object(data, "instance data"), replace=replace)
        if type(doc) is not dict:
            return None  # refused (create_or_reject says by which rule)
        self._commit(ex)
        return dict(doc)

    def create_or_reject(
        self, entity: str, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | WriteRejected:
        """As ``create_instance``, but a refused create returns the rule that refused it: a
        ``WriteRejected`` with the rule's ``code`` (``E_REQUIRED``, ``E_UNIQUE``...), ``message``,
        ``prop``, the blocking ``outcomes`` of an entity constraint, and every ``missing``
        required property."""
        em = self._entity(entity)
        ex = self.new_execution()
        doc = create_row(ex, em, _json_object(data, "instance data"))
        if isinstance(doc, WriteRejected):
            return doc
        self._commit(ex)
        return dict(doc)

    def update_instance(self, entity: str, id: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        em = self._entity(entity)
        ex = self.new_execution()
        row = update_row(ex, em, _instance_id(id), _json_object(data, "update data"))
        if row is None:
            return None
        self._commit(ex)
        self.events.publish(ex.log_only)
        return dict(row)

    def delete_instance(self, entity: str, id: str) -> bool:
        em = self._entity(entity)
        ex = self.new_execution()
        if not delete_row(ex, em, _instance_id(id)):
            return False
        self._commit(ex)
        return True

    def get_instance(self, entity: str, id: str) -> dict[str, Any] | None:
        """The instance as a reader sees it (tenant filter, read policies, masking)."""
        em = self._entity(entity)
        ex = self.new_execution()
        row, _ = ex.load_visible(em.name, _instance_id(id))
        return present(ex, em, row) if row is not None else None

    def get_all_instances(self, entity: str) -> list[dict[str, Any]]:
        em = self._entity(entity)
        ex = self.new_execution()
        return [p for p in (present(ex, em, r) for r in ex.scan(em.name)) if p is not None]

    def find_instances(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Instances whose fields equal every value of ``where`` (pushed down to the store)."""
        em = self._entity(entity)
        ex = self.new_execution()
        tenant = ex.store_tenant(em.name)
        store = self.store_for(em.name)
        where = _json_object(where, "where")
        rows = store.scan(em.name, where, tenant=tenant) if tenant else store.scan(em.name, where)
        if self.crypto is not None:
            rows = [self.crypto.decrypt_row(em.name, r) for r in rows]
        return [p for p in (present(ex, em, r) for r in rows if ex.tenant_allows(r)) if p is not None]

    def check_constraints(self, entity: str, data: Mapping[str, Any]) -> list[ConstraintOutcome]:
        """The failing outcomes (warn included) of the entity's constraints on raw ``data``."""
        em = self._entity(entity)
        ex = self.new_execution()
        return [o for o in check_entity_constraints(ex, em, _json_object(data, "data")) if not o.passed]

    def evaluate_computed(self, entity: str, id: str, prop: str) -> Any:
        em = self.model.entities.get(entity)
        if em is None:
            return UNDEFINED
        return evaluate_computed(self.new_execution(), em, _instance_id(id), prop)

    def evaluate_expression(self, expr: dict[str, Any], context: Mapping[str, Any]) -> Any:
        """Evaluate an IR expression in ``context`` (no budget, as the reference)."""
        fn = self.model.compile(expr)
        return fn(dict(context), self.new_execution(budget=False))

    # --- events -------------------------------------------------------------------------------

    def get_event_log(self) -> list[EmittedEvent]:
        return self.events.all()

    def clear_event_log(self) -> None:
        self.events.clear()

    def on_event(self, listener: Listener) -> Callable[[], None]:
        return self.events.subscribe(listener)

    def events_for_correlation(self, correlation_id: str) -> list[EmittedEvent]:
        return self.events.for_correlation(correlation_id)

    def subscribe(self, entity: str, listener: Listener) -> Callable[[], None]:
        """Listen to events whose subject is an instance of ``entity``."""

        def filtered(event: EmittedEvent) -> None:
            if event.subject is not None and event.subject.get("entity") == entity:
                listener(event)

        return self.events.subscribe(filtered)

    # --- model accessors (the reference's getters) --------------------------------------------

    def get_ir(self) -> dict[str, Any]:
        return self.model.ir

    def get_provenance(self) -> dict[str, Any] | None:
        return self.model.ir.get("provenance")

    def get_entities(self) -> list[dict[str, Any]]:
        return list(self.model.ir.get("entities", []))

    def get_entity(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.model.ir.get("entities", []) if e.get("name") == name), None)

    def get_commands(self) -> list[dict[str, Any]]:
        return list(self.model.ir.get("commands", []))

    def get_command(self, name: str, entity: str | None = None) -> dict[str, Any] | None:
        cmd = self.model.command(name, entity)
        return cmd.ir if cmd is not None else None

    def get_policies(self) -> list[dict[str, Any]]:
        return list(self.model.ir.get("policies", []))

    def get_store(self, entity: str) -> Store:
        return self.store_for(self._entity(entity).name)

    # --- persistence --------------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        return {"stores": {name: self.store_for(name).scan(name) for name in self.model.entities}}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the rows of every entity in ``snapshot`` (as produced by ``serialize``, raw)."""
        stores = snapshot.get("stores") if isinstance(snapshot, Mapping) else None
        if not isinstance(stores, Mapping):
            raise InvalidInputError("restore() expects {'stores': {Entity: [rows]}}")
        for name, rows in stores.items():
            if name not in self.model.entities or not isinstance(rows, list):
                continue
            store = self.store_for(name)
            store.clear(name)
            writes: dict[str, RowWrite] = {}
            for row in rows:
                if isinstance(row, dict):
                    doc = dict(row)
                    if not doc.get("id"):
                        doc["id"] = self.generate_id()
                    writes[str(doc["id"])] = RowWrite(name, str(doc["id"]), doc, NEW_ROW)
            if writes:
                store.commit(UnitOfWork(list(writes.values()), [], None, None))


def _model_for(ir: Any, custom_builtins: Mapping[str, Any] | None) -> CompiledModel:
    if custom_builtins and not isinstance(ir, CompiledModel):
        # Built-ins are bound at compile time: this engine gets its own model.
        return CompiledModel(ir, custom_builtins=custom_builtins)
    return compiled_model(ir)


def _json_object(data: Any, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{what} must be an object, not {type(data).__name__}")
    if type(data) is dict and flat_json_object(data):
        return dict(data)  # the usual case: string keys to scalars
    problem = json_problem(data, what)
    if problem is not None:
        raise _input_error(problem)
    return dict(as_double(dict(data)))  # an int beyond 2**53 is the double it denotes


def _instance_id(value: Any) -> str:
    """An instance id argument as the stores key it; InvalidInputError if it cannot be one."""
    value = as_id(value)
    problem = id_problem(value)
    if problem is not None:
        raise _input_error(problem)
    return value  # type: ignore[no-any-return]


def _input_error(problem: str) -> InvalidInputError:
    if problem.startswith(LIMIT_EXCEEDED):
        return LimitExceededError(problem[len(LIMIT_EXCEEDED) + 2 :])
    return InvalidInputError(problem)


__all__ = ["RuntimeEngine", "CommandResult", "ConcurrencyConflict"]
