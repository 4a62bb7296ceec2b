"""Reading request bodies: size limit enforced while streaming, JSON parsing, the command envelope.

A command body is either the bare input object ``{"quantity": 2}`` or the envelope
``{"input": {...}, "overrideRequests": [{"constraintCode", "reason", "authorizedBy"}]}``.
The envelope is recognised only when its keys are a subset of those two, ``input`` is an
object, and the command has no parameter named ``input`` (then the bare form is meant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    from starlette.requests import ClientDisconnect, Request
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "starlette", "http") from exc

from .. import untrusted
from ..expr.values import loads_json
from ..untrusted import MAX_JSON_DEPTH
from .problems import ProblemError

DEFAULT_MAX_BODY_BYTES = 1_048_576
_ENVELOPE_KEYS = frozenset({"input", "overrideRequests"})
_OVERRIDE_FIELDS = ("constraintCode", "reason", "authorizedBy")
_OVERRIDE_MEMBERS = frozenset({*_OVERRIDE_FIELDS, "timestamp"})


async def read_json(request: Request, limit: int) -> Any:
    """The parsed JSON body (``{}`` when empty); 413 past ``limit`` bytes, 400 if malformed."""
    return parse_json(await read_raw(request, limit))


async def read_raw(request: Request, limit: int) -> bytes:
    """The body's bytes as sent (what a signature is computed over); 413 past ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:  # stop reading: a lying or absent Content-Length cannot exhaust memory
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer; it must not be logged as a server error
        raise ProblemError(
            "MALFORMED_REQUEST", "The client disconnected before the end of the body"
        ) from None
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed (``{}`` when empty); 400 if malformed or holding a NUL character."""
    if not raw.strip(b" \t\n\r"):  # JSON whitespace only: "\x0b" is not an empty body
        return {}
    try:
        data = untrusted.loads(raw, parser=loads_json)  # numbers as JavaScript reads them
    except untrusted.JsonTooDeepError:
        raise ProblemError(
            "INVALID_INPUT",
            f"The body nests arrays/objects deeper than {MAX_JSON_DEPTH} levels",
            limit=MAX_JSON_DEPTH,
        ) from None
    except ValueError as exc:
        raise ProblemError("MALFORMED_JSON", f"Malformed JSON: {exc}") from None
    if b"\\u0000" in raw and _has_nul(data):  # the byte scan keeps the common case free
        raise nul_problem("the body")
    return data


def nul_problem(where: str, code: str = "INVALID_INPUT") -> ProblemError:
    # PostgreSQL cannot store U+0000 in text or jsonb: refuse it on every store alike rather
    # than accept on SQLite what would be a server error on PostgreSQL.
    return ProblemError(code, f"Strings in {where} must not contain U+0000 (NUL)")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _too_large(limit: int) -> ProblemError:
    return ProblemError("BODY_TOO_LARGE", f"Request body exceeds {limit} bytes", limit=limit)


@dataclass(slots=True)
class CommandBody:
    input: dict[str, Any]
    override_requests: list[dict[str, Any]] = field(default_factory=list)


def split_command_body(data: Any, parameter_names: frozenset[str]) -> CommandBody:
    if not isinstance(data, dict):
        raise ProblemError("INVALID_INPUT", "The body must be a JSON object")
    is_envelope = (
        "input" in data
        and set(data) <= _ENVELOPE_KEYS
        and isinstance(data["input"], dict)
        and "input" not in parameter_names
    ) or (set(data) == {"overrideRequests"} and "overrideRequests" not in parameter_names)
    if not is_envelope:
        return CommandBody(input=data)
    return CommandBody(
        input=dict(data.get("input") or {}),
        override_requests=_override_requests(data.get("overrideRequests", [])),
    )


def _override_requests(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ProblemError("INVALID_INPUT", "overrideRequests must be an array")
    requests: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ProblemError("INVALID_INPUT", f"overrideRequests/{index} must be an object")
        unknown = sorted(set(item) - _OVERRIDE_MEMBERS)
        if unknown:
            raise ProblemError("INVALID_INPUT", f"overrideRequests/{index} has unknown members {unknown}")
        for name in _OVERRIDE_FIELDS:
            if not isinstance(item.get(name), str):
                raise ProblemError("INVALID_INPUT", f"overrideRequests/{index}/{name} must be a string")
        request = {name: item[name] for name in _OVERRIDE_FIELDS}
        if "timestamp" in item:
            stamp = item["timestamp"]
            if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
                raise ProblemError("INVALID_INPUT", f"overrideRequests/{index}/timestamp must be a number")
            request["timestamp"] = stamp
        requests.append(request)
    return requests
