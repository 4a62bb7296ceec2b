"""Routes of the durable work: jobs of async commands, approval requests and decisions.

    GET  /jobs/{id}                                               an async command's job
    GET  /approvals/{Entity}/{id}                                 pending requests of an instance
    POST /approvals/{Entity}/{id}/{approval}/stages/{stage}/approve   {"input": {...}}?
    POST /approvals/{Entity}/{id}/{approval}/deny                 {"reason": "..."}?

The caller's identity (``context.user``) is what the stage policy is checked against and what
the request records. A caller sees only jobs and instances of its own tenant (others are 404).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..workflows.approvals import ApprovalDecisionError, ApprovalDesk
from ..workflows.jobs import StoreJobQueue
from .body import read_json
from .problems import ProblemError


class WorkApi:
    """The handlers; ``api`` is the app's ``Api`` (context, thread limiter, the model service)."""

    def __init__(self, api: Any, desk: ApprovalDesk) -> None:
        self.api = api
        self.desk = desk
        self.jobs = StoreJobQueue(api.service.store)

    async def get_job(self, request: Request) -> Response:
        from .routes import json_response

        context = await self.api.context(request)
        job_id = request.path_params["id"]
        job = await self.api._sync(self._job, context, job_id)
        return json_response(job)

    def _job(self, context: dict[str, Any], job_id: str) -> dict[str, Any]:
        item = self.jobs.transactional_store.get_work(job_id)
        tenant = self.api.service.tenant_of(context)
        if item is None or item.kind != "job" or (item.tenant is not None and item.tenant != tenant):
            raise ProblemError("JOB_NOT_FOUND", f"job '{job_id}' not found")
        view: dict[str, Any] | None = self.jobs.get(job_id)
        assert view is not None
        return view

    async def pending(self, request: Request) -> Response:
        from .routes import json_response

        entity = self.api.index.entity(request.path_params["entity"])
        context = await self.api.context(request)
        instance_id = request.path_params["id"]
        status = request.query_params.get("status", "pending")
        rows = await self.api._sync(
            self._pending, context, entity, instance_id, None if status == "all" else status
        )
        return json_response({"items": rows})

    def _pending(self, context: dict[str, Any], entity: Any, instance_id: str, status: str | None) -> Any:
        self.api.service.get(context, entity, instance_id)  # 404 unless the caller may see it
        return self.desk.requests(entity.name, instance_id, status=status)

    async def approve(self, request: Request) -> Response:
        from .routes import json_response

        entity = self.api.index.entity(request.path_params["entity"])
        context = await self.api.context(request)
        body = await self._body(request)
        params = request.path_params
        decision = await self.api._sync(
            self._decide, "approve", context, entity, params["id"], params["approval"], params["stage"], body
        )
        return json_response(decision)

    async def deny(self, request: Request) -> Response:
        from .routes import json_response

        entity = self.api.index.entity(request.path_params["entity"])
        context = await self.api.context(request)
        body = await self._body(request)
        params = request.path_params
        decision = await self.api._sync(
            self._decide, "deny", context, entity, params["id"], params["approval"], None, body
        )
        return json_response(decision)

    async def _body(self, request: Request) -> dict[str, Any]:
        if not await request.body():
            return {}
        data = await read_json(request, self.api.max_body_bytes)
        if not isinstance(data, dict):
            raise ProblemError("INVALID_INPUT", "The body must be a JSON object")
        return data

    def _decide(
        self,
        action: str,
        context: dict[str, Any],
        entity: Any,
        instance_id: str,
        approval: str,
        stage: str | None,
        body: dict[str, Any],
    ) -> dict[str, Any]:
        self.api.service.require_tenant(context)
        self.api.service.get(context, entity, instance_id)  # 404 unless the caller may see it
        try:
            if action == "deny":
                reason = body.get("reason")
                return self.desk.deny(
                    context, entity.name, instance_id, approval, reason if isinstance(reason, str) else None
                ).to_dict()
            data = body.get("input") or {}
            if not isinstance(data, dict):
                raise ProblemError("INVALID_INPUT", "input must be a JSON object")
            return self.desk.approve(
                context, entity.name, instance_id, approval, str(stage), input=data
            ).to_dict()
        except ApprovalDecisionError as exc:
            raise ProblemError(exc.code, exc.message) from None
