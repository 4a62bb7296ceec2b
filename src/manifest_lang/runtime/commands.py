"""The command pipeline: params → draft → load → rate limit → policies → not found → constraints →
guards → draft admission → actions → flush (into the execution's buffer) → emits → reactions.

Failures are returned, not raised: each stage and each rule returns a ``Refusal`` (or, for the
common refusals, the failed result itself) that ends the run. In the native build every frame an
exception passes through costs a traceback entry with a new code object, ~1 µs each.
"""

from __future__ import annotations

from typing import Any

from ..errors import EvaluationBudgetExceededError, ManifestEffectBoundaryError
from ..expr.values import UNDEFINED, truthy
from .approvals import approval_gate
from .checks import (
    OverrideContext,
    command_subject,
    evaluate_constraint,
    is_blocking,
    policy_denial,
    resolved,
    try_override,
)
from .codes import ResultCode
from .execution import CallOptions, Execution
from .instances import (
    all_constraints_pass,
    apply_defaults,
    check_cleared,
    draft_outcomes,
    entity_scope,
    prepare_create,
)
from .ratelimit import check_rate_limit
from .reactions import run_reactions
from .records import NO_DEFAULT, CommandModel, EntityModel, PolicyModel
from .refusal import Refusal, WriteRejected
from .results import (
    CommandResult,
    ConstraintOutcome,
    EmittedEvent,
    GuardFailure,
    PolicyDenial,
)
from .writerules import check_write_rules, managed_fields, put_value, transition_error

#: error prefix of a create whose id is taken (HTTP 409 ALREADY_EXISTS)
ALREADY_EXISTS = "ALREADY_EXISTS"

_ADAPTER_ACTIONS = frozenset({"persist", "publish", "effect"})


def dispatch(ex: Execution, name: str, input: dict[str, Any], opts: CallOptions) -> CommandResult:
    """Run command ``name`` inside the existing execution ``ex`` (reactions, saga steps)."""
    cmd = ex.model.command(name, opts.entity_name)
    if cmd is None:
        error = f"Command '{name}' not found"
        return CommandResult(success=False, error=error, code=ResultCode.UNKNOWN_COMMAND)
    return CommandRun(ex, cmd, opts).run(input)


class CommandRun:
    """State of one command execution (nested reaction commands get their own)."""

    __slots__ = (
        "ex",
        "engine",
        "cmd",
        "opts",
        "entity",
        "instance_id",
        "wc",
        "revision",
        "init_mode",
        "version_bumped",
        "dirty",
        "shadowed",
        "events",
        "emit_counter",
        "validate_only",
        "eval_input",
    )

    def __init__(self, ex: Execution, cmd: CommandModel, opts: CallOptions) -> None:
        self.ex = ex
        self.engine = ex.engine
        self.cmd = cmd
        self.opts = opts
        self.entity: EntityModel | None = (
            ex.model.entities.get(opts.entity_name) if opts.entity_name else None
        )
        self.instance_id = opts.instance_id
        self.wc: dict[str, Any] | None = None  # working copy of the target (with _entity)
        self.revision = 0
        self.init_mode = False
        self.version_bumped = False
        self.dirty = False
        self.shadowed: set[str] = set()
        self.events: list[EmittedEvent] = []
        self.emit_counter = 0
        self.validate_only = False  # async commands: checks only, the job runs the actions

    # --- helpers ------------------------------------------------------------------------------

    def refusal(self, code: ResultCode, error: str, **fields: Any) -> CommandResult:
        """A failed result carrying the call's correlation and causation ids."""
        return CommandResult(
            success=False,
            error=error,
            code=code,
            correlation_id=self.opts.correlation_id,
            causation_id=self.opts.causation_id,
            **fields,
        )

    def refused(self, refusal: Refusal) -> CommandResult:
        if refusal.fields:
            return self.refusal(refusal.code, refusal.error, **refusal.fields)
        # the usual case (a transition, a missing instance): no keyword dict to unpack
        opts = self.opts
        return CommandResult(
            False,
            error=refusal.error,
            correlation_id=opts.correlation_id,
            causation_id=opts.causation_id,
            code=refusal.code,
        )

    def run(self, raw_input: dict[str, Any]) -> CommandResult:
        """The command's result; a refusal or a budget overrun is a failed result, never raised."""
        try:
            return self._run(raw_input)
        except EvaluationBudgetExceededError as exc:
            return self.refusal(ResultCode.BUDGET_EXCEEDED, exc.message)

    def _run(self, raw_input: dict[str, Any]) -> CommandResult:
        cmd = self.cmd
        inp = self._params(raw_input)
        if isinstance(inp, Refusal):
            return self.refused(inp)
        eval_input = inp
        draft: dict[str, Any] | None = None
        if self.entity is not None and not self.instance_id and (cmd.initialization or cmd.name == "create"):
            draft = self._draft(inp)
            eval_input = dict(inp)
            eval_input["id"] = draft["id"]
        missing = self._load(draft)
        scope = self._scope(eval_input)
        # Each stage is skipped without a call when the command has none of it (most have few).
        if cmd.rate_limit is not None:
            limited = self._rate_limit(cmd.rate_limit)
            if limited is not None:
                return self.refused(limited)
        if cmd.policies:
            refused = self._policies(scope)
            if refused is not None:
                return refused
        if missing is not None:
            # After the rate limit and the policies (evaluated without the instance, as the
            # reference does): a denied caller must not learn which ids exist.
            return self.refused(missing)
        outcomes: list[ConstraintOutcome] = []
        override_events: list[EmittedEvent] = []
        if cmd.constraints:
            refused = self._command_constraints(scope, outcomes, override_events)
            if refused is not None:
                return refused
        if cmd.guards:
            refused = self._guards(scope, outcomes)
            if refused is not None:
                return refused
        if draft is not None and self.entity is not None and (self.entity.constraints or self.entity.unique):
            refused = self._draft_constraints(self.entity, draft, outcomes)
            if refused is not None:
                return refused
        if self.validate_only:
            return CommandResult(success=True)
        if self.entity is not None and self.entity.approvals:
            gated = approval_gate(self.ex, self.entity, cmd.name, self.instance_id, scope)
            if gated is not None:
                return self.refused(gated)
        if draft is not None:
            self.instance_id = draft["id"]
            self.init_mode = True
        if override_events:
            self.events = override_events
            self.emit_counter = len(override_events)
        result = self._actions(scope, inp)
        if isinstance(result, Refusal):
            return self.refused(result)
        instance = None
        if self.init_mode:
            created = self._flush_create()
            if isinstance(created, Refusal):
                return self.refused(created)
            instance = result = created
        elif self.dirty:
            unflushed = self._flush_update()
            if unflushed is not None:
                return self.refused(unflushed)
        if cmd.emits:
            self._emit_declared(scope, inp, result)
        if self.ex.model.reactions:
            run_reactions(self.ex, self.events, len(self.events), self.opts.correlation_id, dispatch)
        return CommandResult(
            success=True,
            result=result,
            instance=instance,
            constraint_outcomes=outcomes or None,
            correlation_id=self.opts.correlation_id,
            causation_id=self.opts.causation_id,
            emitted_events=self.events,
        )

    # --- parameters and draft -----------------------------------------------------------------

    def _params(self, raw: dict[str, Any]) -> dict[str, Any] | Refusal:
        if not self.cmd.params:
            return raw
        inp = dict(raw)
        context = self.engine.context
        for p in self.cmd.params:
            if p.trusted_path is not None:
                inp.pop(p.name, None)
                value = _context_path(context, p.trusted_path)
                if value is not None and value is not UNDEFINED:
                    inp[p.name] = value
                    continue
                code = "MISSING_TRUSTED_CONTEXT"
            else:
                if inp.get(p.name, UNDEFINED) is not UNDEFINED:
                    continue
                code = "MISSING_REQUIRED_PARAMETER"
            if p.default is not NO_DEFAULT:
                inp[p.name] = p.default
            elif p.required:
                failure: dict[str, Any] = {"parameter": p.name}
                if p.type_name:
                    failure["expectedType"] = p.type_name
                if p.trusted_path is not None:
                    failure["code"] = code
                return Refusal(
                    ResultCode(code),
                    f"{code}: command '{self.cmd.name}' requires parameter '{p.name}'",
                    {"parameter_failure": failure},
                )
        # Supplied values against the declared types (runtime/inputs.py); off with strict_inputs=False.
        check = self.cmd.check_input
        if check is None or not self.engine.strict_inputs:
            return inp
        failed = check(raw)
        if failed is None:
            return inp
        return Refusal(ResultCode.INVALID_PARAMETER_TYPE, failed[1], {"parameter_failure": failed[0]})

    def _draft(self, inp: dict[str, Any]) -> dict[str, Any]:
        em = self.entity
        assert em is not None
        given = inp.get("id")
        draft_id = given if type(given) is str and given else self.engine.generate_id()
        data = {k: v for k, v in inp.items() if k in em.properties}
        data["id"] = draft_id
        draft = apply_defaults(self.ex, em, data)
        draft["id"] = draft_id
        return draft

    def _load(self, draft: dict[str, Any] | None) -> Refusal | None:
        """Load the target into the working copy (or take the draft); a refusal if it is missing."""
        em = self.entity
        if em is None:
            return None
        if draft is not None:
            self.wc = dict(draft)
            self.wc["_entity"] = em.name
            return None
        if not self.instance_id:
            return None
        row, self.revision = self.ex.load_visible(em.name, self.instance_id)
        if row is not None and self.ex.target_scope is not None and self.ex.reaction_depth == 0:
            if not _in_scope(em, row, self.ex.target_scope):
                row = None
        if row is None:
            error = f"Instance '{self.instance_id}' of entity '{em.name}' not found"
            return Refusal(ResultCode.INSTANCE_NOT_FOUND, error)
        self.wc = dict(row)
        self.wc["_entity"] = em.name
        return None

    def _scope(self, eval_input: dict[str, Any]) -> dict[str, Any]:
        context = self.engine.context
        wc = self.wc
        scope: dict[str, Any] = dict(wc) if wc is not None else {}
        if wc is None and self.entity is not None:
            scope["_entity"] = self.entity.name
        scope.update(eval_input)
        scope["self"] = wc
        scope["this"] = wc
        scope["user"] = context.get("user", None)
        scope["context"] = context
        self.eval_input = eval_input
        return scope

    # --- checks -------------------------------------------------------------------------------

    def _rate_limit(self, limit: dict[str, Any]) -> Refusal | None:
        denial = check_rate_limit(self.ex, limit, f"command:{self.cmd.entity or ''}.{self.cmd.name}:")
        if denial is None:
            return None
        error = f"Rate limit exceeded for scope {denial['scopeKey']}"
        return Refusal(ResultCode.RATE_LIMITED, error, {"rate_limit_denial": denial})

    def _policies(self, scope: dict[str, Any]) -> CommandResult | None:
        """The denial of the first policy that refuses, or None."""
        ex = self.ex
        for policy in self.cmd.policies:
            if policy.rate_limit is not None:
                denial = check_rate_limit(ex, policy.rate_limit, f"policy:{policy.name}:")
                if denial is not None:
                    error = policy.message or f"Rate limit exceeded for policy '{policy.name}'"
                    return self._denied(policy, error, policy_denial(policy, None, ex, error))
            allowed = policy.check.fn(scope, ex)
            if allowed is True or (allowed is not False and truthy(allowed)):
                continue
            error = policy.message or f"Denied by policy '{policy.name}'"
            return self._denied(policy, error, policy_denial(policy, scope, ex, error))
        return None

    def _denied(self, policy: PolicyModel, error: str, report: PolicyDenial) -> CommandResult:
        opts = self.opts
        return CommandResult(
            False,
            error=error,
            denied_by=policy.name,
            policy_denial=report,
            correlation_id=opts.correlation_id,
            causation_id=opts.causation_id,
            code=ResultCode.POLICY_DENIED,
        )

    def _override_context(self) -> OverrideContext:
        opts = self.opts
        return OverrideContext(
            self.cmd.name,
            opts.entity_name,
            self.instance_id,
            opts.override_requests or [],
            opts.correlation_id,
            opts.causation_id,
        )

    def _command_constraints(
        self, scope: dict[str, Any], outcomes: list[ConstraintOutcome], events: list[EmittedEvent]
    ) -> CommandResult | None:
        """Evaluates into ``outcomes`` (and override events into ``events``); the refusal of the
        first block that is not overridden, or None."""
        for c in self.cmd.constraints:
            outcome = evaluate_constraint(c, scope, self.ex)
            outcomes.append(outcome)
            if outcome.passed:
                continue
            # A failed warning can be overridden too (the reference records the override).
            event = try_override(c, outcome, scope, self.ex, self._override_context())
            if event is not None:
                events.append(event)
                continue
            if outcome.severity != "block":
                continue
            opts = self.opts
            return CommandResult(
                False,
                error=outcome.message or f"Command blocked by constraint '{c.name}'",
                constraint_outcomes=outcomes,
                override_requests=opts.override_requests or None,
                correlation_id=opts.correlation_id,
                causation_id=opts.causation_id,
                emitted_events=events,
                code=ResultCode.CONSTRAINT_BLOCKED,
            )
        return None

    def _guards(self, scope: dict[str, Any], outcomes: list[ConstraintOutcome]) -> CommandResult | None:
        """The refusal of the first guard that fails, or None."""
        ex = self.ex
        index = 0
        for guard in self.cmd.guards:
            index += 1
            passed = guard.fn(scope, ex)
            if passed is True or (passed is not False and truthy(passed)):
                continue
            opts = self.opts
            return CommandResult(
                False,
                error=f"Guard condition failed for command '{self.cmd.name}'",
                guard_failure=GuardFailure(index, guard.ir, guard.formatted, resolved(guard, scope, ex)),
                constraint_outcomes=outcomes or None,
                correlation_id=opts.correlation_id,
                causation_id=opts.causation_id,
                code=ResultCode.GUARD_FAILED,
            )
        return None

    def _draft_constraints(
        self, em: EntityModel, draft: dict[str, Any], outcomes: list[ConstraintOutcome]
    ) -> CommandResult | None:
        """A create admits its draft (defaults + input) as the reference does: the entity
        constraints' outcomes join the result, and a blocking failure refuses the command. The
        row the actions produce is checked again at the flush (docs/differences.md #1)."""
        drafted = draft_outcomes(self.ex, em, draft)
        blocking = next((o for o in drafted if is_blocking(o)), None)
        if blocking is None:
            outcomes.extend(drafted)
            return None
        code = ResultCode.UNIQUE_VIOLATION if blocking.code == "E_UNIQUE" else ResultCode.CONSTRAINT_BLOCKED
        return self.refusal(
            code,
            _blocked_by(blocking),
            constraint_outcomes=drafted,  # the reference reports the draft's outcomes alone here
            override_requests=self.opts.override_requests or None,
        )

    # --- actions ------------------------------------------------------------------------------

    def _actions(self, scope: dict[str, Any], inp: dict[str, Any]) -> Any:
        result: Any = UNDEFINED
        ex = self.ex
        cmd = self.cmd
        deterministic = cmd.has_adapter_actions and self.engine.is_deterministic()
        wc = self.wc
        # Plain mutates may skip the per-write rules only on the entity the command was compiled for.
        fast = wc is not None and self.entity is not None and self.entity.name == cmd.entity
        for action in cmd.actions:
            kind = action.kind
            if deterministic and kind in _ADAPTER_ACTIONS:
                raise ManifestEffectBoundaryError(kind)
            value = action.fn(scope, ex)
            if kind == "mutate":
                target = action.target
                if fast and not self.shadowed and (action.plain or action.transition_only is not None):
                    if action.transition_only is not None and not self.init_mode:
                        error = self._fast_transition(action.transition_only, target, wc, value)  # type: ignore[arg-type]
                        if error is not None:
                            return Refusal(ResultCode.INVALID_TRANSITION, error)
                    vt = type(value)
                    if vt is list or vt is dict or value is UNDEFINED:
                        put_value(wc, target, value)  # type: ignore[arg-type]
                    else:
                        wc[target] = value  # type: ignore[index]  # put_value's scalar case inline
                    self.dirty = True
                    if target not in inp:
                        scope[target] = value  # type: ignore[index]
                elif wc is not None and target is not None:
                    refused = self._mutate(scope, inp, target, value)
                    if refused is not None:
                        return refused
            elif kind == "compute":
                if action.target is not None:
                    scope[action.target] = value
                    self.shadowed.add(action.target)
            else:
                value = self._adapter_action(kind, action.target, value)
                if isinstance(value, Refusal):
                    return value
            result = value
        return result

    def _fast_transition(
        self, rules: dict[str, list[str]], target: str, wc: dict[str, Any], value: Any
    ) -> str | None:
        """The transition check of a mutate with no other per-write rule (string states inline):
        the error of a move the rules do not allow, or None."""
        current = wc.get(target, UNDEFINED)
        if type(current) is str and type(value) is str:
            allowed = rules.get(current)
            if allowed is None or value in allowed:
                return None
        return transition_error(target, rules, current, value)

    def _adapter_action(self, kind: str, target: str | None, value: Any) -> Any:
        """The action's value, or a ``Refusal`` when what it needs is not configured."""
        if kind == "emit":
            self._emit_action(target, value)
        elif kind == "publish":
            if not self.engine.store_for(self.cmd.entity or "").records_outbox:
                return Refusal(
                    ResultCode.MISSING_OUTBOX_STORE,
                    f"MISSING_OUTBOX_STORE: publish action in command '{self.cmd.name}' requires "
                    "RuntimeOptions.outboxStore, but none is configured",
                )
            self._emit_action(target, value)
        elif kind == "effect":
            return self._effect(target, value)
        return value

    def _effect(self, name: str | None, value: Any) -> Any:
        handler = self.engine.effect_handler
        if handler is None:
            return Refusal(
                ResultCode.MISSING_EFFECT_HANDLER,
                f"MISSING_EFFECT_HANDLER: effect action in command '{self.cmd.name}' requires "
                "RuntimeOptions.effectHandler, but none is configured",
            )
        info: dict[str, Any] = {"value": value, "commandName": self.cmd.name, "context": self.engine.context}
        if name is not None:
            info["name"] = name
        if self.opts.entity_name:
            info["entityName"] = self.opts.entity_name
        if self.instance_id:
            info["instanceId"] = self.instance_id
        return handler(info)

    def _mutate(self, scope: dict[str, Any], inp: dict[str, Any], target: str, value: Any) -> Refusal | None:
        """A mutate with the per-write rules (readonly, unique, version, timestamps, transitions)."""
        wc = self.wc
        em = self.entity
        assert wc is not None and em is not None
        refused = check_write_rules(self.ex, em, wc, target, value, self.init_mode, self.instance_id)
        if refused is not None:
            return refused
        changed = [target]
        if not self.init_mode:
            managed = managed_fields(self.ex, em, wc, target, self.instance_id, not self.version_bumped)
            if em.version_property is not None and em.version_property in managed:
                self.version_bumped = True
            changed.extend(managed)
        put_value(wc, target, value)
        self.dirty = True
        for k in changed:
            if k not in inp:
                scope[k] = wc.get(k, UNDEFINED)
        if self.shadowed:
            # compute bindings are re-shadowed by the re-spread instance and input (reference order)
            for k in self.shadowed:
                if k in inp:
                    scope[k] = inp[k]
                elif k in wc:
                    scope[k] = wc[k]
            self.shadowed.clear()
        return None

    # --- flush --------------------------------------------------------------------------------

    def _final_row(self) -> dict[str, Any]:
        assert self.wc is not None
        row = dict(self.wc)
        row.pop("_entity", None)
        return row

    def _flush_create(self) -> dict[str, Any] | Refusal:
        em = self.entity
        assert em is not None
        row = self._final_row()
        # A property the actions set to undefined stays absent, as in the reference (the draft
        # gave every property a value, so a missing one was cleared): no default comes back.
        cleared = [k for k in em.properties if row.get(k, UNDEFINED) is UNDEFINED]
        try:
            doc, _ = prepare_create(self.ex, em, row)
            if cleared:
                for k in cleared:
                    doc.pop(k, None)
                check_cleared(self.ex, em, doc)  # the constraints saw the defaults: again without
        except WriteRejected as rejected:
            blocking = next((o for o in rejected.outcomes or () if is_blocking(o)), None)
            # A command's create refused by an entity constraint reads like any command refusal.
            error = str(rejected) if blocking is None else _blocked_by(blocking)
            return Refusal(rejected.result_code(), error, {"constraint_outcomes": rejected.outcomes})
        existing, revision = self.ex.load(em.name, doc["id"])
        if existing is not None:
            # Ids are global in a store: a row of any tenant blocks the create (never replaced).
            return Refusal(
                ResultCode.ALREADY_EXISTS, f"{ALREADY_EXISTS}: {em.name} '{doc['id']}' already exists"
            )
        self.ex.write(em.name, doc["id"], doc, revision)
        self.ex.just_created.add((em.name, doc["id"]))
        # A `mutate id = ...` replaced the draft id: events name the row that was created.
        self.instance_id = doc["id"]
        return doc

    def _flush_update(self) -> Refusal | None:
        if not self.dirty or self.entity is None or self.instance_id is None:
            return None
        em = self.entity
        row = dict(self.wc)  # type: ignore[arg-type]
        row.pop("_entity", None)
        if em.constraints and not all_constraints_pass(self.ex, em, self.wc):  # type: ignore[arg-type]
            refused = self._entity_constraints(em, row)
            if refused is not None:
                return refused
        self.ex.write(em.name, self.instance_id, row, self.revision)
        return None

    def _entity_constraints(self, em: EntityModel, row: dict[str, Any]) -> Refusal | None:
        """Report (and fail on) blocking entity constraints; overrideable ones may be overridden."""
        scope = entity_scope(self.ex, em, row)
        outcomes = []
        applied: list[EmittedEvent] = []
        for c in em.constraints:
            outcome = evaluate_constraint(c, scope, self.ex)
            outcomes.append(outcome)
            if is_blocking(outcome):
                event = try_override(c, outcome, scope, self.ex, self._override_context())
                if event is None:
                    return Refusal(
                        ResultCode.CONSTRAINT_BLOCKED,
                        _blocked_by(outcome),
                        {
                            "constraint_outcomes": outcomes,
                            "override_requests": self.opts.override_requests or None,
                        },
                    )
                applied.append(event)
        # Entity overrides follow the command's own OverrideApplied events (no emitIndex either).
        position = sum(1 for e in self.events if e.name == "OverrideApplied" and e.emit_index is None)
        self.events[position:position] = applied
        return None

    # --- events -------------------------------------------------------------------------------

    def _subject(self) -> dict[str, Any]:
        return command_subject(self.cmd.name, self.opts.entity_name, self.instance_id)

    def _event(self, name: str, payload: dict[str, Any], subject: dict[str, Any]) -> EmittedEvent:
        model = self.ex.model
        opts = self.opts
        # tuple.__new__ directly, in field order: the NamedTuple's own __new__ is an interpreted
        # function, a Python call per event even in the native build.
        event = tuple.__new__(
            EmittedEvent,
            (
                name,
                model.events.get(name) or name,
                payload,
                self.engine.now(),
                subject,
                opts.correlation_id,
                opts.causation_id,
                self.emit_counter,
                model.provenance,
            ),
        )
        self.emit_counter += 1
        self.events.append(event)
        return event

    def _emit_action(self, target: str | None, value: Any) -> None:
        if value is None or value is UNDEFINED:
            payload: dict[str, Any] = {}
        elif type(value) is dict:
            payload = value
        else:
            payload = {"result": value}
        self._event(target or "action_event", payload, self._subject())

    def _emit_declared(self, scope: dict[str, Any], inp: dict[str, Any], result: Any) -> None:
        if not self.cmd.emits:
            return
        subject = self._subject()
        for name in self.cmd.emits:
            payload = dict(inp)
            payload["result"] = result
            fields = self.cmd.emit_payloads.get(name)
            if fields:
                for field_name, fn in fields:
                    payload[field_name] = fn(scope, self.ex)
            ev_subject = subject
            if "id" not in subject:
                pid = payload.get("id")
                if type(pid) is str and pid:
                    ev_subject = dict(subject, id=pid)
            self._event(name, payload, ev_subject)


def _blocked_by(outcome: ConstraintOutcome) -> str:
    return outcome.message or f"Command blocked by constraint '{outcome.constraint_name}'"


def _in_scope(em: EntityModel, row: dict[str, Any], scope: dict[str, Any]) -> bool:
    """Whether ``row`` has the scope's value for every scope field ``em`` declares."""
    return all(row.get(name) == value for name, value in scope.items() if name in em.properties)


def _context_path(context: dict[str, Any], path: list[str]) -> Any:
    value: Any = context
    parts = path[1:] if path and path[0] == "context" else path
    for part in parts:
        if type(value) is not dict:
            return UNDEFINED
        value = value.get(part, UNDEFINED)
    return value
