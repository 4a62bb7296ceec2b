"""``POST /sagas/{name}`` and ``GET /sagas/{sagaId}``: the model's sagas, run durably.

``POST`` records the saga (its row and the work item a worker resumes it from) in the caller's
tenant and context, answers 202 with ``Location: /sagas/{sagaId}`` and the status document, and
then runs the saga in this server process. Should the process die half-way, ``manifest worker``
finishes it (the item is due after a grace period). The body is the reference's ``stepInputs``:
``{"<step>": {"input": {...}, "instanceId": "..."}}``. An ``Idempotency-Key`` names the saga: a
repeated request answers with the saga the first one started. ``X-Correlation-Id`` is the saga's
correlation id (its id otherwise); every step's events carry it, so ``GET /trace/{id}`` draws the
steps and compensations.

``GET`` answers the status document: status, steps (with their results), lifecycle events.
Another tenant's saga is indistinguishable from a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidInputError, SagaFencedError
from ..workflows.durable_saga import SagaCommand, SagaRunner
from ..workflows.saga_api import start_saga
from ..workflows.saga_plan import UnknownSagaError
from ..workflows.saga_record import SagaRecord
from .body import read_json
from .problems import ProblemError
from .service import ModelService, RequestMeta

MAX_KEY = 255


class _StepAsCommand:
    """What ``TraceRecorder.record_command`` reads of a command (name and entity)."""

    def __init__(self, name: str, entity: str | None) -> None:
        self.name = name
        self.entity = entity


class SagaRoutes:
    def __init__(self, api: Any, service: ModelService) -> None:
        self.api = api
        self.service = service
        self.runner = SagaRunner(
            service.model, service.store, engine_factory=self._engine, on_command=self._record
        )

    def _engine(self, context: dict[str, Any], store: Any, idempotency: Any) -> Any:
        """A step's engine: the service's options and live events, through the saga's fence."""
        from ..runtime.engine import RuntimeEngine

        options = {**self.service.engine_options, "idempotency_store": idempotency}
        engine = RuntimeEngine(self.service.model, context, store_provider=store, **options)
        tenant = self.service.tenant_of(context)
        engine.on_event(lambda event: self.service.hub.publish(event.to_dict(), tenant))
        return engine

    def _record(self, record: SagaRecord, cmd: SagaCommand, result: dict[str, Any]) -> None:
        meta = RequestMeta(correlation_id=record.correlation_id, causation_id=cmd.causation_id)
        step = _StepAsCommand(cmd.command, cmd.entity)
        self.service.recorder.record_command(step, cmd.instance_id, meta, result, record.tenant)

    # -- handlers ----------------------------------------------------------------------------------
    async def start(self, request: Request) -> Response:
        from .routes import json_response

        name = request.path_params["key"]
        context = await self.api.context(request)
        data = await read_json(request, self.api.max_body_bytes)
        headers = request.headers
        key = headers.get("idempotency-key") or None
        if key is not None and len(key) > MAX_KEY:
            raise ProblemError("INVALID_INPUT", f"Idempotency-Key is longer than {MAX_KEY} characters")
        correlation = headers.get("x-correlation-id") or None
        view = await self.api._sync(self._start, context, name, data, key, correlation)
        location = f"/sagas/{view['sagaId']}"
        response = json_response(view, 202)
        response.headers["Location"] = location
        if view["status"] in ("running", "compensating"):
            response.background = BackgroundTask(self.runner.run, view["sagaId"])
        return response

    def _start(
        self, context: dict[str, Any], name: str, data: Any, key: str | None, correlation: str | None
    ) -> dict[str, Any]:
        tenant = self.service.require_tenant(context)
        if not isinstance(data, dict):
            raise ProblemError("INVALID_INPUT", "The body must be a JSON object: {step: {input, instanceId}}")
        saga_id = None
        if key is not None:
            saga_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"manifest-saga:{tenant}:{name}:{key}"))
            existing = self.runner.load(saga_id)
            if existing is not None:
                return existing.view()
        try:
            started = start_saga(
                self.runner, name, data, context=context, correlation_id=correlation, saga_id=saga_id
            )
        except UnknownSagaError as exc:
            raise ProblemError("UNKNOWN_SAGA", exc.message) from None
        except InvalidInputError as exc:
            raise ProblemError("INVALID_INPUT", exc.message) from None
        except SagaFencedError:
            started = str(saga_id)  # the same key, a moment earlier: that request's saga
        record = self.runner.load(started)
        assert record is not None
        return record.view()

    async def status(self, request: Request) -> Response:
        from .routes import json_response

        context = await self.api.context(request)
        view = await self.api._sync(self._status, context, request.path_params["key"])
        return json_response(view)

    def _status(self, context: dict[str, Any], saga_id: str) -> dict[str, Any]:
        tenant = self.service.require_tenant(context)
        record = self.runner.load(saga_id)
        if record is None or (record.tenant is not None and record.tenant != tenant):
            raise ProblemError("SAGA_NOT_FOUND", f"Saga '{saga_id}' not found")
        return record.view()
