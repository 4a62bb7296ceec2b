"""Durable sagas: a saga recorded in the store, each step committed with the saga's progress.

Starting a saga inserts its row (``stores/sagas.py``: the plan, every step's outcome, the
lifecycle events) in one transaction with its ``SagaStarted`` event. Then each step runs as an
ordinary command whose unit of work also carries the saga row's next version: the step's engine
writes through ``_FencedStore``, which puts the row update into the command's own transaction,
checked against the version the runner read. So:

* a step is never applied without the saga knowing, nor recorded without being applied (one
  transaction), at the price of one statement (the row ``UPDATE``) per step;
* a runner that dies at any point leaves the row at the last committed step; whoever resumes
  (another worker after the lease expired, or the same process) reads it and goes on from there;
* two runners on one saga cannot both apply a step: the second commit finds the version moved,
  the store raises ``SagaFencedError`` and rolls that whole transaction back.

A step refused for a business reason (guard, policy, constraint, missing instance) is a blocking
failure: the compensations of the completed steps run in reverse order, each exactly once by the
same fence, and the saga ends ``compensated``, or ``failed`` naming the step whose compensation was
refused. A transient failure (a write race lost after the engine's retries, an unavailable store,
a rate limit) is retried later and changes nothing.

The runner needs nothing else from the host than the model, the store and the engine options:
any process that has them (``manifest worker``, the HTTP server, a script) can run any saga.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, ManifestError, SagaFencedError, StoreError
from ..runtime.engine import RuntimeEngine
from ..stores.base import IdempotencyKey, UnitOfWork
from ..stores.sagas import COMPENSATING, NEW_SAGA, RUNNING, SagaStore, SagaWrite
from .saga_plan import SagaPlan, plan_from_model
from .saga_record import SagaRecord

log = logging.getLogger("manifest_lang.workflows")

_TRANSIENT_PREFIXES = ("STORE_CONFLICT", "IDEMPOTENCY_IN_PROGRESS", "Rate limit exceeded")


class SagaRetryLater(ManifestError):
    """A step failed for a reason that may pass (a lost write race, an outage): nothing changed,
    run the saga again later."""

    code = "SAGA_RETRY_LATER"


class _StepKey:
    """The idempotency store of one step: it records nothing itself, but being *transactional*
    makes the engine hand the step's result to the step's unit of work, where ``_FencedStore``
    turns it into the saga's progress (instead of an idempotency row)."""

    accepts_results = False

    def __init__(self, store: _FencedStore) -> None:
        self.transactional_store = store

    def get(self, key: IdempotencyKey) -> None:
        return None

    def has(self, key: IdempotencyKey) -> bool:
        return False

    def set(self, key: IdempotencyKey, result: Any, fingerprint: str | None = None) -> None:
        pass


class _FencedStore:
    """The store a step's engine writes through: everything is the real store's, except that the
    step's commit also carries the saga row's update (``progress(result) -> (write, outbox)``)."""

    def __init__(self, base: Any) -> None:
        self._base = base
        # read by the engine on every command: plain attributes, not a __getattr__ call each
        self.records_outbox = base.records_outbox
        self.records_audit = base.records_audit
        self.audit_refusals = getattr(base, "audit_refusals", False)
        self._key = ""
        self._progress: Callable[[dict[str, Any]], tuple[SagaWrite, list[dict[str, Any]]]] | None = None
        self.committed: SagaWrite | None = None

    def arm(
        self, key: str, progress: Callable[[dict[str, Any]], tuple[SagaWrite, list[dict[str, Any]]]]
    ) -> None:
        """The next command's commit under ``key`` carries ``progress(result)``."""
        self._key, self._progress, self.committed = key, progress, None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def commit(self, uow: UnitOfWork) -> None:
        entry = uow.idempotency  # an IdempotencyEntry(key, fingerprint, result)
        if entry is None or entry.key.key != self._key or self._progress is None:
            self._base.commit(uow)
            return
        write, outbox = self._progress(entry.result)
        uow.idempotency = None
        uow.saga = write
        if outbox:
            uow.outbox = [*uow.outbox, *outbox]
        self._base.commit(uow)
        self.committed = write


def _transient(result: Any) -> bool:
    error = str(getattr(result, "error", None) or "")
    return error.startswith(_TRANSIENT_PREFIXES) or getattr(result, "rate_limit_denial", None) is not None


def _result_dict(result: Any) -> dict[str, Any]:
    to_dict = getattr(result, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(result)


_EVENT_DROPS = frozenset({"provenance", "correlationId"})


def compact_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A step's result as the saga row keeps it: without what the row says once for all (the
    correlation id, the model's provenance) and without the constraints that passed. The row
    is rewritten by every step, so its size is the step's price (the full events are in the
    outbox)."""
    out = {
        k: v for k, v in result.items() if k not in ("constraintOutcomes", "emittedEvents", "correlationId")
    }
    failed = [o for o in result.get("constraintOutcomes") or () if not o.get("passed")]
    if failed:
        out["constraintOutcomes"] = failed
    events = result.get("emittedEvents") or ()
    out["emittedEvents"] = [{k: v for k, v in e.items() if k not in _EVENT_DROPS} for e in events]
    return out


class _Session:
    """The fenced store and the engine the steps of one saga share within one ``run``."""

    def __init__(self, fenced: _FencedStore, engine: Any, context: dict[str, Any]) -> None:
        self.fenced = fenced
        self.engine = engine
        self.context = context


@dataclass(frozen=True, slots=True)
class SagaCommand:
    """One command the runner runs for a saga: a forward step or a compensation."""

    index: int
    command: str
    entity: str | None
    instance_id: str | None
    input: Mapping[str, Any]
    causation_id: str
    key: str
    compensation: bool


#: builds a step's engine: (context, store_provider, idempotency_store) -> RuntimeEngine
EngineFactory = Callable[[dict[str, Any], Any, Any], Any]
#: told of every command a saga ran: (record before it, the command, its result dict)
CommandListener = Callable[[SagaRecord, "SagaCommand", dict[str, Any]], None]


class SagaRunner:
    """Starts, advances and reads durable sagas of one model over one store.

    ``engine_options`` go to every step's engine (clock, ids, limits, hooks...); a worker passes
    ``engine_factory`` instead, so steps get its durable approvals and rate limits as well."""

    def __init__(
        self,
        model: Any,
        store: Any,
        *,
        engine_options: Mapping[str, Any] | None = None,
        engine_factory: EngineFactory | None = None,
        on_command: CommandListener | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(store, SagaStore) or not hasattr(store, "commit"):
            raise InvalidInputError(f"{type(store).__name__} keeps no saga rows (use a manifest_lang store)")
        self.model = model
        self.store = store
        options = dict(engine_options or {})
        # The step's engine gets its idempotency store and store from the runner.
        for reserved in ("idempotency_store", "store_provider"):
            options.pop(reserved, None)
        self.engine_options = options
        self.engine_factory = engine_factory
        self.on_command = on_command
        self.clock = clock
        self.now_ms: Callable[[], float] = options.get("now") or (lambda: int(time.time() * 1000))
        self.generate_id: Callable[[], str] = options.get("generate_id") or (lambda: str(uuid.uuid4()))

    # -- starting and reading ------------------------------------------------------------------
    def plan(self, saga: Any, input: Mapping[str, Any] | None = None) -> SagaPlan:
        """The plan of a model saga name (``input`` = stepInputs), a ``Saga`` or a plan."""
        if isinstance(saga, SagaPlan):
            return saga
        if isinstance(saga, str):
            return plan_from_model(self.model, saga, input)
        from .saga_plan import plan_from_saga

        return plan_from_saga(saga, emits=getattr(saga, "emits", ()))

    def start(
        self,
        plan: SagaPlan,
        *,
        context: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        saga_id: str | None = None,
        extra: Callable[[SagaRecord], UnitOfWork] | None = None,
    ) -> SagaRecord:
        """Record a new saga (and its ``SagaStarted``) in one transaction; nothing runs yet.
        ``extra`` may add to that unit of work (e.g. the work item a worker claims)."""
        ctx = dict(context or {})
        tenant = ctx.get("tenantId")
        saga_id = saga_id or self.generate_id()
        record = SagaRecord.new(
            saga_id,
            plan,
            correlation_id=correlation_id or saga_id,
            context=ctx,
            tenant=None if tenant is None else str(tenant),
            at=self.clock(),
        )
        events = record.started(self.now_ms)
        uow = extra(record) if extra is not None else UnitOfWork()
        uow.saga = self._write(record, NEW_SAGA)
        uow.outbox = [*uow.outbox, *self._outbox(record, events)]
        self.store.commit(uow)
        record.version = 1
        return record

    def load(self, saga_id: str) -> SagaRecord | None:
        stored = self.store.load_saga(saga_id)
        return None if stored is None else SagaRecord.from_dict(stored.state, stored.version)

    # -- running -------------------------------------------------------------------------------
    def advance(self, record: SagaRecord, session: _Session | None = None) -> SagaRecord:
        """One transition (a step, a compensation or a refusal recorded); the record after it.
        Raises ``SagaRetryLater`` (nothing changed, try later) or ``SagaFencedError`` (another
        runner moved the saga: stop)."""
        if record.final:
            return record
        if session is None or session.context != record.context:
            session = self.session(record)
        if record.status == RUNNING:
            return self._run(record, self._forward(record), session)
        if record.status == COMPENSATING:
            index = record.next_compensation()
            if index is not None:
                return self._run(record, self._backward(record, index), session)
        raise StoreError(f"saga {record.saga_id} is in an unknown state {record.status!r}")

    def run(
        self,
        saga_id: str,
        *,
        retries: int = 8,
        backoff_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        on_transition: Callable[[SagaRecord], None] | None = None,
    ) -> SagaRecord:
        """Advance the saga until it is final, or a transient failure repeated ``retries``
        times (then it is left running, for a worker to resume). Another runner taking it over
        ends this run with the record as it was last seen."""
        record = self.load(saga_id)
        if record is None:
            raise InvalidInputError(f"no saga {saga_id!r}")
        failures = 0
        session = self.session(record)
        while not record.final:
            try:
                record = self.advance(record, session)
            except SagaFencedError:
                log.info("saga %s was advanced by another runner", saga_id)
                return self.load(saga_id) or record
            except (SagaRetryLater, StoreError) as exc:  # a lost race or an outage: nothing changed
                failures += 1
                if failures > retries:
                    log.info(
                        "saga %s: giving up for now after %d transient failures: %s", saga_id, retries, exc
                    )
                    return self._reload(saga_id, record)
                sleep(min(2.0, backoff_seconds * 2 ** (failures - 1)))
                record = self._reload(saga_id, record)
                continue
            failures = 0
            if on_transition is not None:
                on_transition(record)
        return record

    def _reload(self, saga_id: str, record: SagaRecord) -> SagaRecord:
        try:
            return self.load(saga_id) or record
        except StoreError:
            return record  # still unreachable: the next advance says so again

    def _forward(self, record: SagaRecord) -> SagaCommand:
        index = record.next
        step = record.plan.steps[index]
        return SagaCommand(
            index=index,
            command=step.command,
            entity=step.entity,
            instance_id=step.instance_id,
            input=step.input,
            causation_id=record.plan.step_causation(index, record.completed_results()),
            key=f"saga:{record.saga_id}:{step.name}",
            compensation=False,
        )

    def _backward(self, record: SagaRecord, index: int) -> SagaCommand:
        step = record.plan.steps[index]
        original = record.steps[index]
        return SagaCommand(
            index=index,
            command=str(step.compensation),
            entity=step.compensation_entity,
            instance_id=original.instance_id,
            input=step.compensation_input if step.compensation_input is not None else step.input,
            causation_id=f"{record.plan.name}:{step.name}:compensate",
            key=f"saga:{record.saga_id}:{step.name}:compensate",
            compensation=True,
        )

    def session(self, record: SagaRecord) -> _Session:
        """A fenced store and an engine in the saga's context (the steps of a run share them)."""
        fenced = _FencedStore(self.store)
        context = dict(record.context)
        return _Session(fenced, self._engine(dict(context), fenced), context)

    def _run(self, record: SagaRecord, cmd: SagaCommand, session: _Session) -> SagaRecord:
        latest: list[SagaRecord] = []

        def progress(full: dict[str, Any]) -> tuple[SagaWrite, list[dict[str, Any]]]:
            result = compact_result(full)
            nxt = self._next(record, cmd)
            if cmd.compensation:
                events = nxt.compensated(cmd.index, result, self.now_ms)
            else:
                events = nxt.step_completed(cmd.index, result, self.now_ms)
            latest[:] = [nxt]
            return self._write(nxt, record.version), self._outbox(nxt, events)

        fenced = session.fenced
        fenced.arm(cmd.key, progress)
        result = session.engine.run_command(
            cmd.command,
            dict(cmd.input),
            entity_name=cmd.entity,
            instance_id=cmd.instance_id,
            correlation_id=record.correlation_id,
            causation_id=cmd.causation_id,
            idempotency_key=cmd.key,
        )
        if self.on_command is not None:
            self.on_command(record, cmd, _result_dict(result))
        if result.success and fenced.committed is not None and latest:
            done = latest[0]
            done.version = record.version + 1
            return done
        outcome = compact_result(_result_dict(result))
        if result.success:
            # A step that wrote nothing at all: its progress commits on its own.
            return self._record_outcome(record, cmd, outcome, None)
        if _transient(result):
            raise SagaRetryLater(f"{cmd.key}: {result.error}")
        return self._record_outcome(record, cmd, outcome, str(result.error or "step failed"))

    def _engine(self, context: dict[str, Any], fenced: _FencedStore) -> Any:
        if self.engine_factory is not None:
            return self.engine_factory(context, fenced, _StepKey(fenced))
        return RuntimeEngine(
            self.model,
            context,
            store_provider=fenced,
            idempotency_store=_StepKey(fenced),
            **self.engine_options,
        )

    def _record_outcome(
        self, record: SagaRecord, cmd: SagaCommand, result: dict[str, Any], error: str | None
    ) -> SagaRecord:
        nxt = self._next(record, cmd)
        if error is None:
            events = (nxt.compensated if cmd.compensation else nxt.step_completed)(
                cmd.index, result, self.now_ms
            )
        elif cmd.compensation:
            events = nxt.compensation_refused(cmd.index, result, error, self.now_ms)
        else:
            events = nxt.step_failed(cmd.index, result, error, self.now_ms)
        self.store.commit(UnitOfWork(outbox=self._outbox(nxt, events), saga=self._write(nxt, record.version)))
        nxt.version = record.version + 1
        return nxt

    def _next(self, record: SagaRecord, cmd: SagaCommand) -> SagaRecord:
        nxt = record.copy()
        nxt.updated_at = self.clock()
        if not cmd.compensation:
            nxt.steps[cmd.index].causation_id = cmd.causation_id
        return nxt

    # -- rows ----------------------------------------------------------------------------------
    def _write(self, record: SagaRecord, expected: int) -> SagaWrite:
        return SagaWrite(
            saga_id=record.saga_id,
            expected_version=expected,
            name=record.plan.name,
            status=record.status,
            state=record.to_dict(),
            tenant=record.tenant,
            correlation_id=record.correlation_id,
            at=record.updated_at,
        )

    def _outbox(self, record: SagaRecord, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The declared lifecycle events as outbox entries (all of them stay in the record)."""
        if not getattr(self.store, "records_outbox", False):
            return []
        at = self.now_ms()
        return [
            {"entryId": self.generate_id(), "event": event, "enqueuedAt": at}
            for event in events
            if event["name"] in record.plan.emits
        ]
