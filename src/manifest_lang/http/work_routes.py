"""Routes of the durable work: jobs of async commands, approval requests and decisions.

    GET  /jobs/{id}                                               an async command's job
    GET  /approvals/{Entity}/{id}                                 pending requests of an instance
    POST /approvals/{Entity}/{id}/{approval}/stages/{stage}/approve   {"input": {...}}?
    POST /approvals/{Entity}/{id}/{approval}/deny                 {"reason": "..."}?
    POST /approvals/{Entity}/{id}/{approval}/stages/{stage}/deny      {"reason": "..."}?

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
            self._decide, "deny", context, entity, params["id"], params["approval"], params.get("stage"), body
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
                reason = reason if isinstance(reason, str) else None
                return self.desk.deny(
                    context, entity.name, instance_id, approval, reason, stage=stage
                ).to_dict()
            data = body.get("input") or {}
            if not isinstance(data, dict):
                raise ProblemError("INVALID_INPUT", "input must be a JSON object")
            return self.desk.approve(
                context, entity.name, instance_id, approval, str(stage), input=data
            ).to_dict()
        except ApprovalDecisionError as exc:
            raise ProblemError(exc.code, exc.message) from None


def path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def work_paths(problems: Any, json_body: Any) -> dict[str, Any]:
    """The OpenAPI paths of these routes (``problems(*statuses)`` and ``json_body(schema, text)``
    are the document builder's helpers)."""
    obj = {"type": "object"}
    decision = {"type": "object", "required": ["request"], "properties": {"request": obj, "result": obj}}
    optional_body = {"required": False, "content": {"application/json": {"schema": obj}}}
    entity_id = [path_param("entity"), path_param("id")]
    decided = {"200": json_body(decision, "The decision"), **problems(400, 401, 403, 404, 409)}
    return {
        "/jobs/{id}": {
            "get": {
                "operationId": "get_job",
                "summary": "An async command's job: status, attempts, result or error",
                "tags": ["workflows"],
                "parameters": [path_param("id")],
                "responses": {"200": json_body(obj, "The job"), **problems(401, 404)},
            }
        },
        "/approvals/{entity}/{id}": {
            "get": {
                "operationId": "list_approvals",
                "summary": "Pending approval requests of an instance (?status=all for every request)",
                "tags": ["workflows"],
                "parameters": [
                    *entity_id,
                    {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": json_body(
                        {"type": "object", "properties": {"items": {"type": "array"}}}, "Requests"
                    ),
                    **problems(401, 403, 404),
                },
            }
        },
        "/approvals/{entity}/{id}/{approval}/stages/{stage}/approve": {
            "post": {
                "operationId": "approve_stage",
                "summary": "Approve a stage as the caller; the last approval runs the command",
                "tags": ["workflows"],
                "parameters": [*entity_id, path_param("approval"), path_param("stage")],
                "requestBody": optional_body,
                "responses": {
                    "200": json_body(decision, "The decision"),
                    **problems(400, 401, 403, 404, 409),
                },
            }
        },
        "/approvals/{entity}/{id}/{approval}/stages/{stage}/deny": {
            "post": {
                "operationId": "deny_approval_stage",
                "summary": "Deny an approval request as an approver of the stage",
                "tags": ["workflows"],
                "parameters": [*entity_id, path_param("approval"), path_param("stage")],
                "requestBody": optional_body,
                "responses": decided,
            }
        },
        "/approvals/{entity}/{id}/{approval}/deny": {
            "post": {
                "operationId": "deny_approval",
                "summary": "Deny an approval request",
                "tags": ["workflows"],
                "parameters": [*entity_id, path_param("approval")],
                "requestBody": optional_body,
                "responses": decided,
            }
        },
    }
