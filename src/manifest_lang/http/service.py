"""The synchronous side of the API: one engine per request, tenant scoping, result recording.

Everything here runs in a worker thread (the engine and the stores are synchronous by design);
``routes`` awaits it through a bounded thread limiter so the event loop never blocks.
Engines are cheap: each request gets one bound to its caller's context, sharing the app's
``CompiledModel``, store and idempotency store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StoreConflictError
from ..outbox.tracecontext import traced
from ..runtime.codes import ResultCode
from ..runtime.model import CompiledModel
from ..stores.base import Store
from ..workflows.trace import TraceRecorder
from .model_index import CommandInfo, EntityInfo, ModelIndex
from .problems import ProblemError
from .refusals import create_problem, required_on_create
from .results import result_document
from .sse import EventHub

DEFAULT_CONFLICT_RETRIES = 8


@dataclass(frozen=True, slots=True)
class RequestMeta:
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    #: the request's W3C ``traceparent`` (validated), carried into the outbox rows it writes
    traceparent: str | None = None


class ModelService:
    """Runs reads and commands of one model against one store for many callers."""

    def __init__(
        self,
        model: CompiledModel,
        index: ModelIndex,
        store: Any,
        *,
        hub: EventHub,
        recorder: TraceRecorder,
        idempotency_store: Any = None,
        engine_options: Mapping[str, Any] | None = None,
        metrics: Any = None,
        otel: bool = False,
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.otel = otel
        self.index = index
        self.store: Store = store
        self.hub = hub
        self.recorder = recorder
        self.idempotency_store = idempotency_store
        self.engine_options = dict(engine_options or {})
        # A server sees many writers at once: re-run a command that lost a write race a few more
        # times than a library caller would before answering 409.
        self.engine_options.setdefault("conflict_retries", DEFAULT_CONFLICT_RETRIES)
        # Engines are per request, so state that must outlive one (rate-limit windows, pending
        # approvals) lives in stores shared by all of them.
        if "rate_limit_store" not in self.engine_options:
            from ..runtime.ratelimit import MemoryRateLimitStore

            self.engine_options["rate_limit_store"] = MemoryRateLimitStore()
        if "approval_store" not in self.engine_options:
            from ..runtime.approvals import MemoryApprovalStore

            self.engine_options["approval_store"] = MemoryApprovalStore()

    # -- engines ---------------------------------------------------------------------------------
    def engine(
        self, context: dict[str, Any], *, idempotent: bool = False, target_scope: dict[str, Any] | None = None
    ) -> Any:
        from ..runtime.engine import RuntimeEngine

        options = dict(self.engine_options)
        # The reference refuses every keyless command once an idempotency store is bound, so
        # only requests that carry an Idempotency-Key get one.
        if idempotent and self.idempotency_store is not None:
            options["idempotency_store"] = self.idempotency_store
        if target_scope is not None:
            options["target_scope"] = target_scope
        engine = RuntimeEngine(self.model, context, store_provider=self.store, **options)
        tenant = self.tenant_of(context)
        hub = self.hub

        def publish(event: Any) -> None:
            if hub.listening:
                hub.publish(_event_dict(event), tenant)

        engine.on_event(publish)
        return engine

    def tenant_of(self, context: Mapping[str, Any]) -> Any:
        """The caller's tenant (the model's one tenant function, also the engine's)."""
        return self.model.tenant_of(context)

    def require_tenant(self, context: Mapping[str, Any]) -> Any:
        """A declared tenant makes every route fail closed for callers without a tenant."""
        tenant = self.tenant_of(context)
        if self.index.declares_tenant and not (isinstance(tenant, str) and tenant):
            raise ProblemError(
                "MISSING_TENANT_CONTEXT", "This model is tenant-scoped and the caller has no tenant"
            )
        return tenant

    def visible(self, entity: EntityInfo, row: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
        if row is None:
            return False
        prop = self.index.scoping_property(entity)
        return prop is None or row.get(prop) == self.tenant_of(context)

    # -- reads -----------------------------------------------------------------------------------
    def get(self, context: dict[str, Any], entity: EntityInfo, instance_id: str) -> dict[str, Any]:
        self.require_tenant(context)
        row = self.engine(context).get_instance(entity.name, instance_id)
        if row is None or not self.visible(entity, row, context):
            # Another tenant's row is indistinguishable from a missing one.
            raise ProblemError(
                "INSTANCE_NOT_FOUND", f"{entity.name} '{instance_id}' not found", id=instance_id
            )
        return dict(row)

    def page(
        self, context: dict[str, Any], entity: EntityInfo, where: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of rows (and whether more follow) visible to the caller."""
        self.require_tenant(context)
        prop = self.index.scoping_property(entity)
        if prop is not None:
            if prop in where and where[prop] != self.tenant_of(context):
                return [], False  # a filter on another tenant matches none of the caller's rows
            where = {**where, prop: self.tenant_of(context)}
        if self._can_scan_directly(entity):
            rows = self._scan(entity, where, prop, self.tenant_of(context), limit + 1, offset)
        else:
            engine = self.engine(context)
            found = (
                engine.find_instances(entity.name, where) if where else engine.get_all_instances(entity.name)
            )
            rows = [r for r in found if self.visible(entity, r, context)][offset : offset + limit + 1]
        return [dict(r) for r in rows[:limit]], len(rows) > limit

    def _scan(
        self,
        entity: EntityInfo,
        where: dict[str, Any],
        prop: str | None,
        tenant: Any,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        # Durable stores keep the tenant in an indexed column: filter on it rather than on JSON.
        if prop is not None and prop == getattr(self.store, "tenant_field", None) and isinstance(tenant, str):
            rest = {k: v for k, v in where.items() if k != prop}
            return self.store.scan(entity.name, rest or None, limit=limit, offset=offset, tenant=tenant)
        return self.store.scan(entity.name, where or None, limit=limit, offset=offset)

    def _can_scan_directly(self, entity: EntityInfo) -> bool:
        """Rows can be paged in the store when the engine would show them unchanged
        (no read policy, masked or private property): the page is then one SQL query."""
        em = self.model.entities.get(entity.name)
        return em is not None and not (em.read_policies or em.masked or em.private)

    # -- writes ----------------------------------------------------------------------------------
    def run(
        self,
        context: dict[str, Any],
        command: CommandInfo,
        data: dict[str, Any],
        overrides: list[dict[str, Any]],
        meta: RequestMeta,
        instance_id: str | None = None,
        *,
        verbose: bool = False,
    ) -> tuple[dict[str, Any], ResultCode | None]:
        """Run a command with ONE engine; return the document it answers with (``results.py``:
        lean on success unless ``verbose``, the full reference shape on a refusal) and its
        ``CommandResult.code``."""
        tenant = self.require_tenant(context) if command.entity else self.tenant_of(context)
        entity = self.index.entities.get(command.entity) if command.entity else None
        scope = None
        if entity is not None and instance_id is not None and not self.index.declares_tenant:
            # A declared tenant is enforced by the engine (a foreign row is "not found"); the
            # conventional tenantId property is enforced on the target by the engine's scope, on
            # the one load of the row the command makes.
            prop = self.index.scoping_property(entity)
            scope = {prop: tenant} if prop is not None else None
        engine = self.engine(context, idempotent=meta.idempotency_key is not None, target_scope=scope)
        if entity is not None and instance_id is None:
            data = self._stamp_tenant(entity, data, context)
        # The engine scopes the key by the caller's tenant and refuses a create of a taken id.
        with traced(meta.traceparent, otel=self.otel):
            try:
                result = engine.run_command(
                    command.name,
                    data,
                    entity_name=command.entity,
                    instance_id=instance_id,
                    override_requests=overrides or None,
                    correlation_id=meta.correlation_id,
                    causation_id=meta.causation_id,
                    idempotency_key=meta.idempotency_key,
                )
            except StoreConflictError:
                if self.metrics is not None:
                    self.metrics.conflict()
                raise
        if self.metrics is not None:
            if result.concurrency_conflict is not None:
                self.metrics.conflict()
            elif meta.idempotency_key is not None and _replayed(engine, command, result):
                self.metrics.replay()
        document = result_document(result, verbose=verbose)
        self.recorder.record_command(command, instance_id, meta, document, tenant)
        return document, getattr(result, "code", None)

    def _stamp_tenant(
        self, entity: EntityInfo, data: dict[str, Any], context: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Conventional ``tenantId`` scoping: creates get the caller's tenant, whatever they sent."""
        if self.index.declares_tenant or self.index.scoping_property(entity) is None:
            return data  # a declared tenant is stamped by the runtime itself
        tenant = self.tenant_of(context)
        if tenant is None and _required_without_default(entity, "tenantId"):
            # Whatever tenantId the body names is replaced by the caller's: with none, the row
            # could never be created (and no caller could read it back).
            raise ProblemError(
                "MISSING_TENANT_CONTEXT",
                f"{entity.name} rows belong to a tenant (required tenantId) and the caller's context "
                "has no tenant: authenticate with an API key or token that carries a tenantId",
            )
        return {**data, "tenantId": tenant}

    def create_plain(
        self, context: dict[str, Any], entity: EntityInfo, data: dict[str, Any]
    ) -> dict[str, Any]:
        """``POST /{entity}`` for an entity without a ``create`` command."""
        self.require_tenant(context)
        data = self._stamp_tenant(entity, data, context)
        # A taken id (of any tenant) raises InstanceExistsError: 409 ALREADY_EXISTS, never replaced.
        created = self.engine(context).create_or_reject(entity.name, data)
        if not isinstance(created, dict):
            raise create_problem(entity.name, created)
        return dict(created)

    def required_on_create(self, entity: EntityInfo) -> list[str]:
        """What ``POST /{entity}`` (a plain create) must be given."""
        return required_on_create(self.engine({}), entity.name)


def _required_without_default(entity: EntityInfo, name: str) -> bool:
    prop = entity.properties.get(name) or {}
    return "required" in (prop.get("modifiers") or []) and "defaultValue" not in prop


def _replayed(engine: Any, command: CommandInfo, result: Any) -> bool:
    """Whether a keyed request was answered with a stored result (for /metrics): it succeeded
    and this request's engine evaluated nothing (an enqueued async command evaluates nothing
    either). Read from the engine afterwards, not by a lookup of its own before."""
    return bool(result.success) and not command.ir.get("async") and engine.get_last_evaluation_stats() is None


def _event_dict(event: Any) -> dict[str, Any]:
    to_dict = getattr(event, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(event)
