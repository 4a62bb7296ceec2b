"""OpenAPI 3.1 from the IR: one path per entity and command, input schemas from the parameters.

The same ``TypeSchemas`` mapping validates requests, so the document describes exactly what
the server accepts; the test suite checks that with schemathesis (every phase, every check).
Every route is listed, the fixed ones too (``/events`` as a ``text/event-stream``, ``/trace`` as
JSON and HTML, ``/healthz``, ``/docs``, ``/openapi.json``), and ``security`` says what the app's
authentication really requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model_index import CommandInfo, EntityInfo, ModelIndex
from .problems import PROBLEM_KINDS, PROBLEM_MEDIA_TYPE
from .schema import STRING

_REF = "#/components/schemas/"

_COMMAND_PARAMS = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Retries with the same key return the first result; the command runs once.",
    },
    {
        "name": "X-Correlation-Id",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Workflow id copied onto every emitted event (see /trace/{correlationId}).",
    },
    {
        "name": "X-Causation-Id",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "What caused this command (an event name or reference, or any caller id).",
    },
    {
        "name": "verbose",
        "in": "query",
        "required": False,
        "schema": STRING,
        "description": "`1` (or `true`): answer with the full command result, as the reference shapes it: "
        "the outcomes of passed constraints, each rule's `formatted` text and `resolved` values, the "
        "events' `provenance`. By default a success answers lean: the outcomes that fired (failed "
        "warnings, overrides), the events without provenance. A refusal always carries the full result.",
    },
]

_COMMON_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "enum": sorted(PROBLEM_KINDS)},
            "detail": {"type": "string"},
            "result": {"$ref": _REF + "CommandResult"},
        },
    },
    "EmittedEvent": {
        "type": "object",
        "required": ["name", "channel", "payload", "timestamp"],
        "properties": {
            "name": {"type": "string"},
            "channel": {"type": "string"},
            "payload": {},
            "subject": {"type": "object"},
            "timestamp": {"type": "number"},
            "correlationId": {"type": "string"},
            "causationId": {"type": "string"},
            "emitIndex": {"type": "integer"},
            "provenance": {"type": "object", "description": "the IR's hash and compiler (?verbose=1)"},
        },
    },
    "ConstraintOutcome": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "constraintName": {"type": "string"},
            "severity": {"type": "string", "enum": ["ok", "warn", "block"]},
            "formatted": {"type": "string", "description": "the rule's source text (?verbose=1)"},
            "message": {"type": "string"},
            "resolved": {"type": "array", "description": "the values the rule saw (?verbose=1)"},
            "passed": {"type": "boolean"},
            "overridden": {"type": "boolean"},
            "overriddenBy": {"type": "string"},
        },
    },
    "OverrideRequest": {
        "type": "object",
        "required": ["constraintCode", "reason", "authorizedBy"],
        "properties": {
            "constraintCode": STRING,
            "reason": STRING,
            "authorizedBy": STRING,
            "timestamp": {"type": "number"},
        },
        "additionalProperties": False,
    },
    "CommandResult": {
        "type": "object",
        "required": ["success", "emittedEvents"],
        "properties": {
            "success": {"type": "boolean"},
            "result": {},
            "instance": {"type": "object"},
            "error": {"type": "string"},
            "deniedBy": {"type": "string"},
            "guardFailure": {"type": "object"},
            "policyDenial": {"type": "object"},
            "constraintOutcomes": {"type": "array", "items": {"$ref": _REF + "ConstraintOutcome"}},
            "concurrencyConflict": {"type": "object"},
            "correlationId": {"type": "string"},
            "causationId": {"type": "string"},
            "emittedEvents": {"type": "array", "items": {"$ref": _REF + "EmittedEvent"}},
        },
    },
    "Trace": {
        "type": "object",
        "required": ["correlationId", "roots"],
        "properties": {
            "correlationId": {"type": "string"},
            "commands": {"type": "integer"},
            "events": {"type": "integer"},
            "evicted": {
                "type": "integer",
                "description": "older command records of the workflow no longer kept in memory",
            },
            "roots": {"type": "array"},
        },
    },
}


def _problems(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        codes = sorted(k.code for k in PROBLEM_KINDS.values() if k.status == status)
        out[str(status)] = {
            "description": ", ".join(codes),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF + "Problem"}}},
        }
    return out


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _command_body(info: CommandInfo, input_ref: str) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "type": "object",
        "properties": {
            "input": {"$ref": input_ref},
            "overrideRequests": {"type": "array", "items": {"$ref": _REF + "OverrideRequest"}},
        },
        "additionalProperties": False,
    }
    if info.input_schema.get("required"):  # without ``input`` the envelope's input is {}
        envelope["required"] = ["input"]
    schema = (
        {"$ref": input_ref} if "input" in info.parameter_names else {"anyOf": [{"$ref": input_ref}, envelope]}
    )
    # an empty body is the input {}: it is a valid request only when no parameter is required
    needed = bool(info.input_schema.get("required"))
    return {"required": needed, "content": {"application/json": {"schema": schema}}}


def _command_operation(
    info: CommandInfo, input_ref: str, path_params: list[dict[str, Any]]
) -> dict[str, Any]:
    target = f"{info.entity}.{info.name}" if info.entity else info.name
    return {
        "operationId": f"run_{(info.entity or 'global')}_{info.name}",
        "summary": f"Run {target}",
        "tags": [info.entity or "commands"],
        "parameters": [*path_params, *_COMMAND_PARAMS],
        "requestBody": _command_body(info, input_ref),
        "responses": {
            "200": _json(
                {"$ref": _REF + "CommandResult"},
                "The command succeeded (warnings included; the full result with ?verbose=1)",
            ),
            **_accepted(info),
            **_problems(400, 401, 403, 404, 409, 413, 422, 429),
        },
    }


def _accepted(info: CommandInfo) -> dict[str, Any]:
    """An async command answers 202 with its job (``Location: /jobs/{jobId}``)."""
    if not info.ir.get("async"):
        return {}
    response = _json({"$ref": _REF + "CommandResult"}, "Enqueued: result.jobId names the job")
    response["headers"] = {"Location": {"schema": {"type": "string"}, "description": "/jobs/{jobId}"}}
    return {"202": response}


_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": STRING}
#: a cursor is opaque to clients; the pattern is what the server accepts (see routes.py)
CURSOR_SCHEMA = {"type": "string", "pattern": "^o[0-9]{1,15}$"}
_PAGE_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
    },
    {"name": "cursor", "in": "query", "required": False, "schema": CURSOR_SCHEMA},
]


def _filter_params(index: ModelIndex, entity: EntityInfo) -> list[dict[str, Any]]:
    params = []
    for name, prop in entity.properties.items():
        schema = index.types.query_scalar(prop.get("type"))
        if schema is None:
            continue  # only scalar properties can be filtered from a query string
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": f"Only rows whose {name} equals this value",
            }
        )
    return params


def _row_name(entity: EntityInfo) -> str:
    """The component name of an entity's rows (renamed if it would shadow a built-in schema)."""
    return f"{entity.name}Row" if entity.name in _COMMON_SCHEMAS else entity.name


def _page_schema(row_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": row_ref}},
            "nextCursor": {"type": ["string", "null"]},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }


def _create_operation(entity: EntityInfo, schemas: dict[str, Any], required: list[str]) -> dict[str, Any]:
    create = entity.create_command
    if create is not None:
        schemas[f"{entity.name}_create_Input"] = create.input_schema
        body = _command_body(create, _REF + f"{entity.name}_create_Input")
        created = _json({"$ref": _REF + "CommandResult"}, "Created by the entity's create command")
    else:
        strict_row = {**entity.row_schema, "additionalProperties": False}
        if required:
            strict_row["required"] = list(required)
        body = {"required": bool(required), "content": {"application/json": {"schema": strict_row}}}
        created = _json({"$ref": _REF + _row_name(entity)}, "The created instance")
    return {
        "operationId": f"create_{entity.name}",
        "summary": f"Create a {entity.name}",
        "tags": [entity.name],
        "parameters": list(_COMMAND_PARAMS) if create else [],
        "requestBody": body,
        "responses": {"201": created, **_problems(400, 401, 403, 404, 409, 413, 422, 429)},
    }


def _entity_paths(
    index: ModelIndex, entity: EntityInfo, schemas: dict[str, Any], create_required: list[str]
) -> dict[str, Any]:
    row_ref = _REF + _row_name(entity)
    schemas[_row_name(entity)] = entity.row_schema
    paths: dict[str, Any] = {
        f"/{entity.name}": {
            "get": {
                "operationId": f"list_{entity.name}",
                "summary": f"List {entity.name}",
                "tags": [entity.name],
                "parameters": [*_PAGE_PARAMS, *_filter_params(index, entity)],
                "responses": {
                    "200": _json(_page_schema(row_ref), "One page of rows"),
                    **_problems(400, 401, 403, 404),
                },
            },
            "post": _create_operation(entity, schemas, create_required),
        },
        f"/{entity.name}/{{id}}": {
            "get": {
                "operationId": f"get_{entity.name}",
                "summary": f"Get one {entity.name}",
                "tags": [entity.name],
                "parameters": [_ID_PARAM],
                "responses": {"200": _json({"$ref": row_ref}, "The instance"), **_problems(401, 403, 404)},
            },
        },
    }
    for info in entity.commands.values():
        input_name = f"{entity.name}_{info.name}_Input"
        schemas[input_name] = info.input_schema
        if info.allocating:
            path, params = f"/{entity.name}/commands/{info.name}", []
        else:
            path, params = f"/{entity.name}/{{id}}/commands/{info.name}", [_ID_PARAM]
        paths[path] = {"post": _command_operation(info, _REF + input_name, params)}
    return paths


def build_openapi(
    index: ModelIndex,
    *,
    title: str | None = None,
    security: list[dict[str, list[str]]] | None = None,
    create_required: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The document of ``index``; ``security`` is the requirement of every data route (default:
    API key or bearer token, or nothing, for apps whose authentication is not the built-in one);
    ``create_required``: entity -> the properties a plain create must be given."""
    schemas: dict[str, Any] = dict(_COMMON_SCHEMAS)
    paths: dict[str, Any] = {}
    for entity in index.entities.values():
        required = (create_required or {}).get(entity.name, [])
        paths.update(_entity_paths(index, entity, schemas, required))
    for info in index.global_commands.values():
        input_name = f"command_{info.name}_Input"
        schemas[input_name] = info.input_schema
        paths[f"/commands/{info.name}"] = {"post": _command_operation(info, _REF + input_name, [])}
    paths.update(_fixed_paths(index))
    from .work_routes import work_paths

    paths.update(work_paths(_problems, _json))
    modules = [m.get("name") for m in index.ir.get("modules") or [] if m.get("name")]
    provenance = index.ir.get("provenance") or {}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title or (f"{modules[0]} API" if modules else "Manifest API"),
            "version": str(provenance.get("irHash") or provenance.get("contentHash") or "1.0")[:12],
            "description": "Generated from the model's IR. Live events: GET /events (Server-Sent Events, "
            "filters correlationId and entity). Errors are RFC 9457 application/problem+json.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                # ``auth="headers"`` / ``--trust-headers``: X-User-Id (+ X-User-Role, X-Tenant-Id)
                "trustedHeaders": {"type": "apiKey", "in": "header", "name": "X-User-Id"},
            },
        },
        "security": list(security) if security is not None else [*_CREDENTIALS, {}],
    }


#: what ``security`` lists for the built-in API keys / bearer tokens (``{}`` adds "or nothing")
_CREDENTIALS: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]
_TEXT = {"schema": {"type": "string"}}
_PAGE = {"text/html": _TEXT}


def security_for(*, required: bool) -> list[dict[str, list[str]]]:
    """The ``security`` of the built-in authentication: credentials required, or optional."""
    return list(_CREDENTIALS) if required else [*_CREDENTIALS, {}]


def _fixed_paths(index: ModelIndex) -> dict[str, Any]:
    correlation = {"name": "correlationId", "in": "path", "required": True, "schema": STRING}
    filters = [
        {"name": "correlationId", "in": "query", "required": False, "schema": STRING},
        {"name": "entity", "in": "query", "required": False, "schema": STRING},
    ]
    public: dict[str, Any] = {"security": [{}]}
    return {
        "/trace/{correlationId}": {
            "get": {
                "operationId": "get_trace",
                "summary": "Causal tree of a workflow: HTML, or JSON with Accept: application/json",
                "tags": ["workflows"],
                "parameters": [correlation],
                "responses": {
                    "200": {
                        "description": "The causal tree",
                        "content": {
                            "application/json": {"schema": {"$ref": _REF + "Trace"}},
                            "text/html": _TEXT,
                        },
                    },
                    **_problems(400, 401, 403),
                },
            },
        },
        "/events": {
            "get": {
                "operationId": "stream_events",
                "summary": "Live events as Server-Sent Events (one `data:` JSON event per line)",
                "tags": ["workflows"],
                "parameters": filters,
                "responses": {
                    "200": {
                        "description": "An endless event stream",
                        "content": {"text/event-stream": _TEXT},
                    },
                    **_problems(400, 401, 403, 404),
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness",
                "tags": ["service"],
                **public,
                "responses": {"200": _json({"type": "object", "required": ["status"]}, "The server is up")},
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["service"],
                **public,
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
            },
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "A page listing every operation",
                "tags": ["service"],
                **public,
                "responses": {"200": {"description": "HTML", "content": _PAGE}},
            },
        },
    }
