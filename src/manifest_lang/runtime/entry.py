"""``run_command``, the door every command comes in by (compiled in the native build).

``RuntimeEngine`` inherits it. It is a module of its own so that the native build can compile it
while the rest of the engine, whose many methods are the boundary for arbitrary user input, stays
interpreted. Every parameter is ``Any`` and checked here: a compiled function would answer a
wrong argument type with a ``TypeError`` of its own before our checks could.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import orjson
from mypy_extensions import mypyc_attr

from ..stores.base import IdempotencyKey
from .codes import ResultCode
from .execution import CallOptions
from .idempotency import INLINE_FINGERPRINT, caller_of, request_fingerprint, scope_tenant
from .jsonvalues import MAX_ID_LENGTH, MAX_STRING_LENGTH, as_id, failure_code, failure_text, id_problem
from .results import CommandResult, OverrideRequest

if TYPE_CHECKING:
    from .toplevel import TopLevel

_EMPTY: dict[str, Any] = {}

_BAD_NAMES = (
    "INVALID_INPUT: the command name, entity_name, correlation_id, causation_id and "
    "idempotency_key must be strings"
)


def _same_request(
    fingerprint: Any, name: Any, entity: Any, instance_id: Any, input: Any, context: Any
) -> bool:
    """Whether a replayed request is the recorded one: ``request_fingerprint``'s verdict, with the
    usual case (a short fingerprint, string keys) answered by one ``orjson.dumps`` and a compare.
    Non-string keys serialise the same with or without ``OPT_NON_STR_KEYS``; orjson only refuses
    them without it, and then the general function decides."""
    if type(fingerprint) is not str:
        return False
    if fingerprint[:1] == "[":
        user = context.get("user")
        caller = user.get("id") if type(user) is dict else None
        if caller is None:
            caller = user
        doc = (name, entity, instance_id, _EMPTY if input is None else input, None, caller)
        try:
            text = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass
        else:
            if len(text) <= INLINE_FINGERPRINT:
                return text == fingerprint.encode()
    return fingerprint == request_fingerprint(name, entity, instance_id, input, None, caller_of(context))


#: ids up to this length are accepted inline (well under the stores' MAX_ID_LENGTH)
_SHORT_ID = min(MAX_ID_LENGTH, MAX_STRING_LENGTH)


@mypyc_attr(allow_interpreted_subclasses=True)
class CommandEntry:
    """The command entry point; the engine sets these attributes in its constructor."""

    #: in-memory results a replay is answered from first, or None (see ``RuntimeEngine``)
    _replay_results: dict[IdempotencyKey, tuple[Any, str | None, float]] | None
    _replay_clock: Any
    context: Any  # a dict (Any: a compiled attribute type would refuse what the engine accepts)
    _max_parallel_commands: int | None
    _command_hooks: tuple[Any, ...]
    _in_flight: int
    _in_flight_lock: threading.Lock
    _top: TopLevel

    def run_command(
        self,
        name: Any,
        input: Any = None,
        *,
        entity_name: Any = None,
        instance_id: Any = None,
        override_requests: Any = None,
        correlation_id: Any = None,
        causation_id: Any = None,
        idempotency_key: Any = None,
    ) -> CommandResult:
        """Run a command; refusals and failures come back as ``success=False`` results."""
        replay = self._replay_results
        if (
            replay is not None
            and type(idempotency_key) is str
            and not override_requests
            and (instance_id is None or type(instance_id) is str)
        ):
            # Replay shortcut: the same answer as the full path (a replay returns before anything
            # else is looked at) without building the call's options (see _refresh_replay).
            context = self.context
            tenant: Any = context.get("tenantId")
            if type(tenant) is not str:
                tenant = scope_tenant(tenant)
            # a plain tuple finds the IdempotencyKey it equals (and costs less to build)
            entry = replay.get((tenant, idempotency_key)) if tenant is not None else None  # type: ignore[call-overload]
            if (
                entry is not None
                and type(entry[0]) is CommandResult
                and entry[2] > self._replay_clock()
                and _same_request(entry[1], name, entity_name, instance_id, input, context)
            ):
                return entry[0]  # type: ignore[no-any-return]
        try:
            requests = [OverrideRequest.coerce(r) for r in override_requests] if override_requests else None
        except TypeError as exc:
            return CommandResult(success=False, error=str(exc), code=ResultCode.INVALID_INPUT)
        if instance_id is not None and not (
            # the usual id, without a call: a short ASCII string with no NUL (id_problem's rules)
            type(instance_id) is str
            and 0 < len(instance_id) <= _SHORT_ID
            and instance_id.isascii()
            and "\x00" not in instance_id
        ):
            instance_id = as_id(instance_id)  # ids are strings in every store
            problem = id_problem(instance_id, "instance_id")
            if problem is not None:
                return CommandResult(success=False, error=failure_text(problem), code=failure_code(problem))
        if not (
            type(name) is str
            and (entity_name is None or type(entity_name) is str)
            and (correlation_id is None or type(correlation_id) is str)
            and (causation_id is None or type(causation_id) is str)
            and (idempotency_key is None or type(idempotency_key) is str)
        ):
            return CommandResult(success=False, error=_BAD_NAMES, code=ResultCode.INVALID_INPUT)
        opts = CallOptions(entity_name, instance_id, requests, correlation_id, causation_id)
        if self._max_parallel_commands is not None:
            return self._run_limited(name, input, opts, idempotency_key)
        if not self._command_hooks:
            return self._top.run(name, input, opts, idempotency_key)
        return self._run_hooked(name, input, opts, idempotency_key)

    def _run_limited(self, name: str, input: Any, opts: CallOptions, key: str | None) -> CommandResult:
        limit = self._max_parallel_commands
        with self._in_flight_lock:
            if limit is not None and self._in_flight >= limit:
                return CommandResult(
                    success=False,
                    error=f"PARALLEL_COMMAND_LIMIT: maxParallelCommands={limit} already in flight",
                    code=ResultCode.PARALLEL_COMMAND_LIMIT,
                )
            self._in_flight += 1
        try:
            if not self._command_hooks:
                return self._top.run(name, input, opts, key)
            return self._run_hooked(name, input, opts, key)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _run_hooked(
        self, name: str, input: Any, opts: CallOptions, idempotency_key: str | None
    ) -> CommandResult:
        options = {
            "entity_name": opts.entity_name,
            "instance_id": opts.instance_id,
            "correlation_id": opts.correlation_id,
            "causation_id": opts.causation_id,
            "idempotency_key": idempotency_key,
            "override_requests": opts.override_requests,
        }
        tokens = [h.before_command(self, name, input, options) for h in self._command_hooks]
        try:
            result = self._top.run(name, input, opts, idempotency_key)
        except BaseException:
            # A raising command still closes every hook (result None): spans end, journals record it.
            for hook, token in zip(self._command_hooks, tokens, strict=True):
                hook.after_command(token, None)
            raise
        for hook, token in zip(self._command_hooks, tokens, strict=True):
            hook.after_command(token, result)
        return result
