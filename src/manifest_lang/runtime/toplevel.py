"""The outer wrapper of ``run_command``: tenant gate, idempotency, async enqueue, the retry loop
around store conflicts, the single commit (rows + outbox + idempotency + audit), then events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import StoreConflictError
from ..expr.budget import Budget
from ..expr.values import as_double
from ..stores.base import IdempotencyEntry, IdempotencyKey, UnitOfWork
from .audit import audit_record
from .codes import ResultCode
from .commands import CommandRun
from .execution import CallOptions, Execution, commit, new_execution
from .host import EngineHost
from .idempotency import caller_of, request_fingerprint, scope_tenant
from .jobs import with_retry
from .jsonvalues import failure_code, failure_text, flat_json_object, json_problem
from .records import CommandModel
from .results import CommandResult, ConcurrencyConflict

log = logging.getLogger("manifest_lang.runtime")

MISSING_KEY = "IdempotencyStore is configured but no idempotencyKey was provided"
MISSING_JOB_QUEUE = "MISSING_JOB_QUEUE: async command invoked but no jobQueue is configured in RuntimeOptions"
KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
BAD_TENANT = "INVALID_INPUT: the context's tenant must be a string to scope an idempotency key"
MISSING_TENANT = "MISSING_TENANT_CONTEXT: tenant-scoped command invoked without context.tenantId"


class TopLevel:
    """The outer wrapper of one engine's commands (the engine's ``run_command`` calls ``run``)."""

    def __init__(self, engine: EngineHost) -> None:
        self.engine = engine
        #: the engine's idempotency store and tenant requirement, kept here by the engine's
        #: setters: reading them from the engine would be an interpreted property call per command
        self.idem: Any = None
        self.tenant_required = False
        self._idem: Any = None
        self._caps: _IdempotencyCaps | None = None
        #: the budget of the last top-level command (``engine.get_last_evaluation_stats``); kept
        #: here, in a compiled object, because setting it on the engine costs a dict write per call
        self.last_budget: Budget | None = None

    def caps(self) -> _IdempotencyCaps:
        """The idempotency store's optional capabilities, looked up once per store object."""
        idem = self.idem
        if self._caps is None or self._idem is not idem:
            self._idem, self._caps = idem, _IdempotencyCaps(idem)
        return self._caps

    def run(self, name: str, input: Any, opts: CallOptions, key: str | None) -> CommandResult:
        engine = self.engine
        if (engine.model.tenant is not None or self.tenant_required) and not self._tenant_present():
            return CommandResult(success=False, error=MISSING_TENANT, code=ResultCode.MISSING_TENANT_CONTEXT)
        idem = self.idem
        scoped: IdempotencyKey | None = None
        fingerprint: str | None = None
        held = False  # the claim goes into the command's own transaction (see _claims_held)
        if idem is not None:
            # A replay returns before anything else is looked at (the reference's order).
            if key is None:
                code = ResultCode.MISSING_IDEMPOTENCY_KEY
                return CommandResult(success=False, error=MISSING_KEY, code=code)
            tenant = self.scope_tenant()
            if tenant is None:
                return CommandResult(success=False, error=BAD_TENANT, code=ResultCode.INVALID_INPUT)
            scoped = tuple.__new__(IdempotencyKey, (tenant, key))  # the NamedTuple __new__ is slower
            fingerprint = request_fingerprint(
                name,
                opts.entity_name,
                opts.instance_id,
                input,
                opts.override_requests,
                caller_of(engine.context),
            )
            # With claims in the command's own transaction, the claim itself tells whether a
            # record exists: the lookup waits until it does (or until a refusal needs it first).
            held = self._claims_held(opts)
            if not held:
                replayed = self._replayed(scoped, fingerprint)
                if replayed is not None:
                    return replayed
        if input is None:
            input = {}
        elif type(input) is not dict:
            if not isinstance(input, Mapping):
                error = f"Command input must be an object, not {type(input).__name__}"
                refused = CommandResult(success=False, error=error, code=ResultCode.INVALID_INPUT)
                return self._replay_first(scoped, fingerprint, held, refused)
            input = dict(input)
        if not flat_json_object(input):
            problem = json_problem(input)
            if problem is not None:
                error, code = failure_text(problem), failure_code(problem)
                refused = CommandResult(success=False, error=error, code=code)
                return self._replay_first(scoped, fingerprint, held, refused)
            input = as_double(input)
        if scoped is None:
            return self._execute(name, input, opts, None, None)
        return self._execute_claimed(name, input, opts, scoped, fingerprint, held)

    def _store(self, opts: CallOptions) -> Any:
        engine = self.engine
        return engine.store_for(opts.entity_name or "") if engine.multi_store else engine.store

    def _claims_held(self, opts: CallOptions) -> bool:
        """Whether this command's idempotency claim goes into its own held transaction (SQL
        stores): claim, rows, outbox, audit and result then commit together, and a crash leaves
        nothing behind. Other stores (Redis, memory) claim first and record after the commit."""
        caps = self.caps()
        if not caps.claims_in_transaction:
            return False
        store = self._store(opts)
        return caps.transactional_store is store and hasattr(store, "serialize_writers")

    def _replay_first(
        self, key: IdempotencyKey | None, fingerprint: str | None, held: bool, refused: CommandResult
    ) -> CommandResult:
        """A refusal found before the claim: a stored record still answers first (the reference's
        order), as the lookup the held claim deferred would have."""
        if key is not None and held:
            replayed = self._replayed(key, fingerprint)
            if replayed is not None:
                return replayed
        return refused

    def scope_tenant(self) -> str | None:
        """The tenant an idempotency key belongs to: the declared tenant, else ``tenantId``."""
        engine = self.engine
        if engine.model.tenant is not None:
            return scope_tenant(engine.tenant_value())
        return scope_tenant(engine.context.get("tenantId"))

    def _replayed(self, key: IdempotencyKey, fingerprint: str | None) -> CommandResult | None:
        """The stored result of ``key`` if the same request made it; a refusal if another did."""
        caps = self.caps()
        if caps.lookup is not None:
            record = caps.lookup(key)
            if record is None:
                return None
            cached, recorded = record
        else:
            cached, recorded = self.idem.get(key), None
            if cached is None:
                return None
        if recorded is not None and recorded != fingerprint:
            return CommandResult(
                success=False,
                error=f"{KEY_REUSED}: idempotency key '{key.key}' was already used for another request "
                "(another command, instance, input, override requests or caller)",
                code=ResultCode.IDEMPOTENCY_KEY_REUSED,
            )
        return cached if isinstance(cached, CommandResult) else CommandResult.from_dict(cached)

    def _execute_claimed(
        self,
        name: str,
        input: dict[str, Any],
        opts: CallOptions,
        key: IdempotencyKey,
        fingerprint: str | None,
        held: bool,
    ) -> CommandResult:
        if held:
            cmd = self.engine.model.command(name, opts.entity_name)
            if cmd is not None and not cmd.is_async:
                return self._execute(name, input, opts, key, fingerprint, held=True)
            replayed = self._replayed(key, fingerprint)  # the lookup the held claim deferred
            if replayed is not None:
                return replayed
            if cmd is None:
                return self._execute(name, input, opts, None, None)  # refused: nothing to claim
        caps = self.caps()
        if caps.claim is not None and not caps.claim(key):
            # Completed between the lookup and the claim: answer as a replay would.
            return self._not_claimed(key, fingerprint)
        try:
            return self._execute(name, input, opts, key, fingerprint)
        except BaseException:
            if caps.release is not None:
                caps.release(key)
            raise

    def _not_claimed(self, key: IdempotencyKey, fingerprint: str | None) -> CommandResult:
        """The answer to a request whose key another request holds or has completed."""
        replayed = self._replayed(key, fingerprint)
        if replayed is not None:
            return replayed
        return CommandResult(
            success=False,
            error=f"IDEMPOTENCY_IN_PROGRESS: a command with key '{key.key}' is still running",
            code=ResultCode.IDEMPOTENCY_IN_PROGRESS,
        )

    def _tenant_present(self) -> bool:
        engine = self.engine
        if engine.model.tenant is not None:
            return bool(engine.tenant_value())
        return bool(engine.context.get("tenantId"))

    def _execute(
        self,
        name: str,
        input: dict[str, Any],
        opts: CallOptions,
        key: IdempotencyKey | None,
        fingerprint: str | None,
        *,
        held: bool = False,
    ) -> CommandResult:
        """Run the command and commit it. ``held``: the idempotency claim of ``key`` is made
        inside the command's held transaction and commits (as its result) with the rows."""
        engine = self.engine
        store = self._store(opts)
        audit_id = engine.generate_id() if store.records_audit else None
        audit = (audit_id, engine.now()) if audit_id is not None else None
        cmd = engine.model.command(name, opts.entity_name)
        if cmd is None:
            result = CommandResult(
                success=False,
                error=f"Command '{name}' not found",
                code=ResultCode.UNKNOWN_COMMAND,
                correlation_id=opts.correlation_id,
                causation_id=opts.causation_id,
            )
            self.last_budget = Budget(engine.limits)  # nothing was evaluated
            if audit is not None and getattr(store, "audit_refusals", False):
                store.commit(UnitOfWork(audit=self._audit(audit[0], audit[1], name, opts, result)))
            return result
        if cmd.is_async and engine.context.get("source") != "job":
            return self._enqueue(name, input, opts, cmd, key, fingerprint, store)
        # On the SQL stores a command on one instance holds it while it runs (see
        # serialize_writers): writers of a hot row then queue instead of losing revision races.
        on_instance = opts.instance_id and opts.entity_name
        hold = getattr(store, "serialize_writers", None) if held or on_instance else None
        attempt = 0
        while True:
            if hold is None:
                ex, result, lost = self._run_once(name, input, opts, cmd, key, fingerprint, store, audit)
            else:
                with hold(opts.entity_name, opts.instance_id):
                    claims = self._held_claims(key) if held else None
                    if claims is not None and not claims[0](key):
                        ran = None
                    else:
                        ran = self._run_once(name, input, opts, cmd, key, fingerprint, store, audit)
                        if claims is not None and ran[2] is None and not ran[1].success:
                            claims[1](key)  # a refusal is not recorded: its claim goes
                if ran is None:
                    assert key is not None
                    return self._not_claimed(key, fingerprint)  # a record exists: another request's
                ex, result, lost = ran
            if lost is None:
                break
            attempt += 1
            if attempt > engine.conflict_retries:
                result = _store_conflict_result(lost, opts)
                if not held:  # a held claim rolled back with its transaction
                    self._finish_idempotency(key, fingerprint, result, store, committed=False)
                return result
        self.last_budget = ex.budget
        events = result.emitted_events if result.success else ex.log_only
        if events:
            engine.events.publish(events)
        if key is not None and not held:
            self._finish_idempotency(key, fingerprint, result, store, committed=True)
        return result

    def _held_claims(self, key: IdempotencyKey | None) -> tuple[Callable[[Any], bool], Callable[[Any], Any]]:
        """(claim, release) of the idempotency store, for a held transaction."""
        caps = self.caps()
        assert key is not None and caps.claim is not None and caps.release is not None
        return caps.claim, caps.release

    def _run_once(
        self,
        name: str,
        input: dict[str, Any],
        opts: CallOptions,
        cmd: CommandModel,
        key: IdempotencyKey | None,
        fingerprint: str | None,
        store: Any,
        audit: tuple[str, float] | None,
    ) -> tuple[Execution, CommandResult, StoreConflictError | None]:
        """One run of the command and its commit; the conflict if the commit lost a race."""
        engine = self.engine
        if cmd.retry and engine.retry_in_process:
            ex, result = with_retry(
                cmd.retry,
                lambda: self._attempt(input, opts, cmd),
                engine.sleep,
                engine.retry_jitter,
            )
        else:
            ex, result = self._attempt(input, opts, cmd)
        # A refused or failed command writes nothing, unless the store keeps refusals in its audit.
        audited = audit is not None and (result.success or getattr(store, "audit_refusals", False))
        if not ex.pending and not audited and not (store.records_outbox and result.emitted_events):
            if key is None or not result.success or not self._transactional_idempotency(store):
                return ex, result, None  # nothing to commit (a refusal, or a command that wrote nothing)
        uow = self._unit_of_work(ex, result, key, fingerprint, store)
        if audited and audit is not None:
            uow.audit = self._audit(audit[0], audit[1], name, opts, result)
        try:
            commit(self.engine, store, uow)
        except StoreConflictError as exc:
            return ex, result, exc
        return ex, result, None

    def _audit(
        self, audit_id: str, at: float, name: str, opts: CallOptions, result: CommandResult
    ) -> dict[str, Any]:
        context, ir_hash = self.engine.context, self.engine.model.ir_hash
        return audit_record(audit_id, at, name, opts.entity_name, context, ir_hash, result)

    def _attempt(
        self, input: dict[str, Any], opts: CallOptions, cmd: CommandModel
    ) -> tuple[Execution, CommandResult]:
        ex = new_execution(self.engine)
        return ex, CommandRun(ex, cmd, opts).run(input)

    def execute_job(self, name: str, input: dict[str, Any], opts: CallOptions) -> CommandResult:
        """A drained async job: executed and committed, without tenant gate or idempotency."""
        return self._execute(name, input, opts, None, None)

    def _unit_of_work(
        self,
        ex: Execution,
        result: CommandResult,
        key: IdempotencyKey | None,
        fingerprint: str | None,
        store: Any,
    ) -> UnitOfWork:
        if not result.success:
            return UnitOfWork([], [], None, None)
        uow = UnitOfWork(ex.row_writes(), [], None, None)
        if store.records_outbox and result.emitted_events:
            engine = self.engine
            entries: list[dict[str, Any]] = [
                {"entryId": engine.generate_id(), "event": e.to_dict()} for e in result.emitted_events
            ]
            at = engine.now()
            for entry in entries:
                entry["enqueuedAt"] = at
            uow.outbox = entries
        if key is not None and self._transactional_idempotency(store):
            uow.idempotency = IdempotencyEntry(key, fingerprint, result.to_dict())
        return uow

    def _transactional_idempotency(self, store: Any) -> bool:
        return self.idem is not None and self.caps().transactional_store is store

    def _finish_idempotency(
        self,
        key: IdempotencyKey | None,
        fingerprint: str | None,
        result: CommandResult,
        store: Any,
        *,
        committed: bool,
    ) -> None:
        idem = self.idem
        if idem is None or key is None:
            return
        caps = self.caps()
        if caps.transactional_store is store:
            # Recorded inside the unit of work on success; a failure is not cached (retry re-executes).
            if caps.release is not None and not (result.success and committed):
                caps.release(key)
            return
        value = result if caps.accepts_results else result.to_dict()
        if caps.takes_fingerprint:
            idem.set(key, value, fingerprint)
        else:
            idem.set(key, value)

    def _enqueue(
        self,
        name: str,
        input: dict[str, Any],
        opts: CallOptions,
        cmd: CommandModel,
        key: IdempotencyKey | None,
        fingerprint: str | None,
        store: Any,
    ) -> CommandResult:
        engine = self.engine
        check = CommandRun(new_execution(engine), cmd, opts)
        check.validate_only = True
        checked = check.run(input)
        if not checked.success:
            return checked
        queue = engine.job_queue
        if queue is None:
            return CommandResult(success=False, error=MISSING_JOB_QUEUE, code=ResultCode.MISSING_JOB_QUEUE)
        job = {
            "jobId": engine.generate_id(),
            "commandName": name,
            "entityName": opts.entity_name,
            "instanceId": opts.instance_id,
            "input": input,
            "correlationId": opts.correlation_id,
            "causationId": opts.causation_id,
            "enqueuedAt": engine.now(),
            "status": "pending",
        }
        result = CommandResult(
            success=True, result={"jobId": job["jobId"], "status": "pending", "enqueuedAt": job["enqueuedAt"]}
        )
        durable: Any = getattr(queue, "transactional_store", None)
        if durable is not None and durable is store:
            # A durable queue: the job is a work item committed in this command's transaction,
            # with the idempotency record, so a repeated request enqueues nothing more.
            uow = UnitOfWork(work=[queue.item_for(job, engine.context, engine.tenant_value())])
            if key is not None and self._transactional_idempotency(store):
                uow.idempotency = IdempotencyEntry(key, fingerprint, result.to_dict())
            durable.commit(uow)
            if key is not None:
                self._finish_idempotency(key, fingerprint, result, durable, committed=True)
            return result
        queue.enqueue(job)
        return result


class _IdempotencyCaps:
    """Duck-typed extras of an idempotency store (see ``idempotency.py``)."""

    __slots__ = (
        "claim",
        "release",
        "lookup",
        "transactional_store",
        "accepts_results",
        "takes_fingerprint",
        "claims_in_transaction",
    )

    def __init__(self, idem: Any) -> None:
        self.lookup = getattr(idem, "lookup", None)
        # Ours all record the fingerprint; a third-party store with ``set(key, result)`` still works.
        self.takes_fingerprint = self.lookup is not None
        self.claim = getattr(idem, "claim", None)
        self.release = getattr(idem, "release", None)
        self.transactional_store = getattr(idem, "transactional_store", None) if idem is not None else None
        self.accepts_results = bool(getattr(idem, "accepts_results", False))
        #: claims made inside the store's held transaction commit (or roll back) with it
        self.claims_in_transaction = bool(getattr(idem, "claims_in_transaction", False)) and (
            self.claim is not None and self.release is not None and self.lookup is not None
        )


def _store_conflict_result(exc: StoreConflictError, opts: CallOptions) -> CommandResult:
    entity = str(exc.details.get("entity", opts.entity_name or ""))
    entity_id = str(exc.details.get("id", opts.instance_id or ""))
    return CommandResult(
        success=False,
        error=f"STORE_CONFLICT: {exc.message}",
        code=ResultCode.STORE_CONFLICT,
        concurrency_conflict=ConcurrencyConflict(entity, entity_id, None, None, "STORE_CONFLICT"),
        correlation_id=opts.correlation_id,
        causation_id=opts.causation_id,
    )
