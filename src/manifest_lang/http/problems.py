"""RFC 9457 problem details: every error the HTTP API returns, with a stable ``type`` and ``code``.

Clients key on ``code`` (or ``type``, which embeds it); ``title`` and ``detail`` are for people
and may change. A refused command still carries the full command result under ``result`` so a
client sees guard failures, constraint outcomes and policy denials in the reference shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

try:
    from starlette.responses import Response
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "starlette", "http") from exc

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:manifest:problem:"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One entry of the problem catalogue: status, code and the human title."""

    code: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.code.lower().replace("_", "-")


_KINDS = (
    ProblemKind("MALFORMED_REQUEST", 400, "The request is not valid HTTP"),
    ProblemKind("MALFORMED_JSON", 400, "Request body is not valid JSON"),
    ProblemKind("INVALID_INPUT", 400, "Input does not match the command parameters"),
    ProblemKind("INVALID_QUERY", 400, "Query parameters are not valid"),
    ProblemKind("MISSING_REQUIRED_PARAMETER", 400, "A required command parameter is missing"),
    ProblemKind("UNAUTHENTICATED", 401, "Authentication is required"),
    ProblemKind("INVALID_SIGNATURE", 401, "The webhook signature is not valid"),
    ProblemKind("POLICY_DENIED", 403, "Denied by policy"),
    ProblemKind("MISSING_TENANT_CONTEXT", 403, "The caller has no tenant"),
    ProblemKind("MISSING_TRUSTED_CONTEXT", 403, "The caller's context lacks a trusted value"),
    ProblemKind("UNKNOWN_ENTITY", 404, "Unknown entity"),
    ProblemKind("UNKNOWN_COMMAND", 404, "Unknown command"),
    ProblemKind("INSTANCE_NOT_FOUND", 404, "Instance not found"),
    ProblemKind("NOT_FOUND", 404, "Not found"),
    ProblemKind("UNKNOWN_SAGA", 404, "The model declares no saga of that name"),
    ProblemKind("SAGA_NOT_FOUND", 404, "Saga not found"),
    ProblemKind("JOB_NOT_FOUND", 404, "Job not found"),
    ProblemKind("APPROVAL_NOT_FOUND", 404, "No pending approval request"),
    ProblemKind("APPROVER_NOT_ALLOWED", 403, "The caller may not decide this approval stage"),
    ProblemKind("APPROVAL_STAGE_INVALID", 409, "The stage is not pending on this request"),
    ProblemKind("METHOD_NOT_ALLOWED", 405, "Method not allowed"),
    ProblemKind("NOT_ACCEPTABLE", 406, "No acceptable representation"),
    ProblemKind("REQUEST_TIMEOUT", 408, "The request took too long to arrive"),
    ProblemKind("CONCURRENCY_CONFLICT", 409, "The instance changed concurrently"),
    ProblemKind("INVALID_TRANSITION", 409, "Invalid state transition"),
    ProblemKind("UNIQUE_VIOLATION", 409, "A unique value already exists"),
    ProblemKind("ALREADY_EXISTS", 409, "An instance with this id already exists"),
    ProblemKind("IDEMPOTENCY_IN_PROGRESS", 409, "A request with this idempotency key is still running"),
    ProblemKind("APPROVAL_REQUIRED", 409, "The command requires approval"),
    ProblemKind("BODY_TOO_LARGE", 413, "Request body too large"),
    ProblemKind("LIMIT_EXCEEDED", 413, "An id or a value is larger than the server's limits"),
    ProblemKind("UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported media type"),
    ProblemKind("GUARD_FAILED", 422, "A guard of the command failed"),
    ProblemKind("CONSTRAINT_BLOCKED", 422, "A blocking constraint failed"),
    ProblemKind("COMMAND_FAILED", 422, "The command failed"),
    ProblemKind("IDEMPOTENCY_KEY_REUSED", 422, "The idempotency key was used for another request"),
    ProblemKind("RATE_LIMITED", 429, "Rate limit exceeded"),
    ProblemKind("INTERNAL_ERROR", 500, "Internal server error"),
    ProblemKind("STORE_UNAVAILABLE", 503, "The store is unavailable"),
    ProblemKind("WEBHOOK_NOT_CONFIGURED", 503, "The webhook has no secret configured on this server"),
)

#: code -> kind; the catalogue is published in the OpenAPI document too.
PROBLEM_KINDS: dict[str, ProblemKind] = {k.code: k for k in _KINDS}


@dataclass(slots=True)
class Problem:
    """A problem document (RFC 9457) plus manifest-specific extension members."""

    code: str
    detail: str | None = None
    instance: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> ProblemKind:
        return PROBLEM_KINDS.get(self.code) or PROBLEM_KINDS["INTERNAL_ERROR"]

    @property
    def status(self) -> int:
        return self.kind.status

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind
        body: dict[str, Any] = {
            "type": kind.type,
            "title": kind.title,
            "status": kind.status,
            "code": kind.code,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if self.instance is not None:
            body["instance"] = self.instance
        for key, value in self.extensions.items():
            body.setdefault(key, value)
        return body

    def to_response(self) -> Response:
        return Response(
            orjson.dumps(self.to_dict(), default=json_default),
            status_code=self.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=self.headers or None,
        )


class ProblemError(Exception):
    """Raised anywhere in request handling; the app turns it into a problem response."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or code)
        self.problem = Problem(code, detail, extensions=extensions, headers=dict(headers or {}))


def json_default(value: Any) -> Any:
    """orjson ``default=`` hook shared by every JSON response of the app."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
