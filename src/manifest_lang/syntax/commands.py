"""Constraints, commands (parameters, statements, actions), policies, retry and rate limits."""

from __future__ import annotations

from typing import Any

from . import ast
from .parser_base import node_maker
from .tokens import (
    KEYWORD_KINDS,
    KIND_IDENTIFIER,
    KIND_KEYWORD,
    KIND_NUMBER,
    KIND_OPERATOR,
    KIND_STRING,
    Token,
)
from .types import TypeParser

# Node constructors of the hot paths (see ``node_maker``).
_new_action = node_maker(ast.Action)
_new_command = node_maker(ast.Command)
_new_constraint = node_maker(ast.Constraint)
_new_emit_statement = node_maker(ast.EmitStatement)
_new_literal = node_maker(ast.Literal)
_new_parameter = node_maker(ast.Parameter)

SEVERITIES = frozenset(["ok", "warn", "block"])
HYBRID_FIELDS = frozenset(["code", "message", "messageTemplate", "overridePolicy", "details"])
RATE_LIMIT_FIELDS = frozenset(["maxRequests", "windowMs", "scope", "burstAllowance", "perMinute", "strategy"])
POLICY_ACTIONS = frozenset(["read", "write", "delete", "execute", "all", "override"])
RETRY_ALIASES = {
    "maxAttempts": "maxAttempts",
    "attempts": "maxAttempts",
    "backoff": "backoff",
    "delay": "delay",
    "initialDelay": "delay",
    "delayMs": "delayMs",
    "initialDelayMs": "delayMs",
    "maxDelay": "maxDelayMs",
    "maxDelayMs": "maxDelayMs",
    "jitter": "jitter",
    "retryOn": "retryOn",
}


class _ConstraintFields:
    """Mutable accumulator for the block / hybrid constraint fields."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}


class CommandParser(TypeParser):
    # ------------------------------------------------------------------ constraints
    def constraint_decl(self) -> ast.Constraint:
        start = self.advance()  # 'constraint'
        overrideable = self.accept("overrideable")
        fail_when: bool | None = True if self.accept("failWhen") else None
        name = self.identifier()
        if self.extended and self.at("severity") and self.tok.kind is KIND_IDENTIFIER:
            return self.seed_constraint(start, name, overrideable, fail_when)
        fields = _ConstraintFields()
        if self.at("{"):
            self._constraint_block(name, fields, hybrid=False)
            if "expression" not in fields.values:
                raise self.fail("Constraint block must include an expression")
        else:
            self.expect(":")
            if self.tok.value in SEVERITIES and self.tok.kind is KIND_KEYWORD:
                fields.values["severity"] = self.advance().value
            fields.values["expression"] = self.expression()
            if self.at_kind(KIND_STRING):
                fields.values["message"] = self.advance().value
            if self.at("{"):
                self._constraint_block(name, fields, hybrid=True)
        values = fields.values
        if "failWhen" in values:
            fail_when = values["failWhen"]
        return _new_constraint(
            start,
            name=name,
            expression=values["expression"],
            severity=values.get("severity"),
            code=values.get("code"),
            fail_when=fail_when,
            message=values.get("message"),
            message_template=values.get("messageTemplate"),
            details=values.get("details"),
            overrideable=overrideable,
            override_policy=values.get("overridePolicy"),
        )

    def _constraint_block(self, name: str, fields: _ConstraintFields, *, hybrid: bool) -> None:
        self.expect("{")
        self.skip_newlines()
        while self.in_block():
            field_token = self.tok
            field = self.name()
            self.expect(":")
            if hybrid and field not in HYBRID_FIELDS:
                self._unknown_constraint_field(name, field, field_token)
            else:
                self._constraint_field(name, field, field_token, fields)
            self.skip_newlines()
            self.accept(",")
            self.skip_newlines()
        self.expect("}")

    def _constraint_field(self, name: str, field: str, token: Token, fields: _ConstraintFields) -> None:
        values = fields.values
        if field == "expression":
            values["expression"] = self.expression()
        elif field == "severity":
            word = self.any_value()
            if word in SEVERITIES:
                values["severity"] = word
        elif field in ("message", "messageTemplate"):
            if self.at_kind(KIND_STRING):  # anything else: nothing consumed (reference)
                values[field] = self.advance().value
        elif field == "code" or field == "overridePolicy":
            values[field] = self.identifier()
        elif field == "failWhen":
            values["failWhen"] = self.any_value() in ("true", "yes")
        elif field == "details":
            values["details"] = self.detail_entries()
        else:
            self._unknown_constraint_field(name, field, token)

    def _unknown_constraint_field(self, name: str, field: str, token: Token) -> None:
        self.warning(f"Constraint '{name}' has an unknown field '{field}'; the field is ignored.", token)
        if self.at("{"):
            self.detail_entries()
        else:
            self.expression()

    def detail_entries(self) -> tuple[tuple[str, ast.Expr], ...]:
        self.expect("{")
        entries: list[tuple[str, ast.Expr]] = []
        self.skip_newlines()
        while self.in_block():
            key = self.name()
            self.expect(":")
            entries.append((key, self.expression()))
            self.accept(",")
            self.skip_newlines()
        self.expect("}")
        return tuple(entries)

    def seed_constraint(
        self, start: Token, name: str, overrideable: bool, fail_when: bool | None
    ) -> ast.Constraint:
        raise NotImplementedError  # provided by the seed-syntax mixin

    # ------------------------------------------------------------------ commands
    def command_decl(self, is_async: bool = False) -> ast.Command:
        start = self.advance()  # 'command'
        name = self.identifier()
        self.expect("(")
        self.skip_newlines()
        parameters: list[ast.Parameter] = []
        while not self.at(")"):
            parameters.append(self.parameter())
            self.skip_newlines()
            if self.accept(","):
                self.skip_newlines()
        self.advance()
        returns = None
        if self.accept("returns"):
            returns = self.type_ref()
        body = _CommandBody()
        if self.at("{"):
            self.advance()
            self.skip_newlines()
            while self.in_block():
                if self.at_eof():
                    raise self.fail(f"Expected }}, got {self.tok.display}")
                self.command_statement(body)
                self.skip_newlines()
            self.expect("}")
        elif self.accept("=>"):
            body.actions.append(self.action())
        return _new_command(
            start,
            name=name,
            parameters=tuple(parameters),
            guards=tuple(body.guards),
            constraints=tuple(body.constraints),
            actions=tuple(body.actions),
            emits=tuple(body.emits),
            returns=returns,
            is_async=is_async,
            retry=body.retry,
            rate_limit=body.rate_limit,
        )

    def parameter(self) -> ast.Parameter:
        start = self.tok
        optional = self.accept("optional")
        name = self.identifier()
        self.expect(":")
        type_ref = self.type_ref()
        default = self.expression() if self.accept("=") else None
        trusted: str | None = None
        if self.at("from"):
            self.advance()
            parts = [self.any_value()]
            while self.accept("."):
                parts.append(self.name())
            trusted = ".".join(parts)
            if not trusted.startswith("context."):
                raise self.fail(f"Trusted parameter source must be a context.* path, got '{trusted}'")
        return _new_parameter(
            start,
            name=name,
            type=type_ref,
            required=not optional,
            default=default,
            trusted_source=trusted,
        )

    def command_statement(self, body: _CommandBody) -> None:
        token = self.tok
        value = token.value
        if value in ("retry", "rateLimit") and token.kind is KIND_IDENTIFIER and self.peek().value == "{":
            self.advance()
            if value == "retry":
                body.retry = self.retry_block()
            else:
                body.rate_limit = self.rate_limit_block()
        elif value in ("guard", "when") and token.kind is KIND_KEYWORD:
            self.advance()
            body.guards.append(self.expression())
        elif value == "constraint" and token.kind is KIND_KEYWORD:
            body.constraints.append(self.constraint_decl())
        elif value == "emit" and token.kind is KIND_KEYWORD:
            self.advance()
            event_token = self.tok
            event = self.identifier()
            payload = self.object_literal().properties if self.at("{") else None
            body.emits.append(_new_emit_statement(event_token, event=event, payload=payload))
        else:
            body.actions.append(self.action())

    def action(self) -> ast.Action:
        token = self.tok
        value = token.value if token.kind is KIND_KEYWORD or token.value in ("publish", "persist") else ""
        if value == "mutate":
            self.advance()
            mutated = self.mutate_target()
            self.expect("=")
            return _new_action(token, kind="mutate", target=mutated, expression=self.expression())
        if value in ("compute", "effect"):
            self.advance()
            target: str | None = None
            if (
                self.tok.kind in KEYWORD_KINDS
                and self.peek().value == "="
                and self.peek().kind is KIND_OPERATOR
            ):
                target = self.identifier()
                self.advance()
            return _new_action(token, kind=value, target=target, expression=self.expression())
        if value in ("emit", "publish"):
            self.advance()
            event: str | None = self.identifier() if self.at_kind(KIND_IDENTIFIER) else None
            if self.at_newline() or self.at("}") or self.at_eof():
                expression: ast.Expr = _new_literal(self.tok, value=None)
            else:
                expression = self.expression()
            return _new_action(token, kind=value, target=event, expression=expression)
        if value == "persist":
            self.advance()
            return _new_action(token, kind="persist", expression=self.expression())
        return _new_action(token, kind="compute", expression=self.expression())

    def mutate_target(self) -> str:
        if self.extended and self.tok.value in ("self", "this") and self.peek().value == ".":
            self.advance()
            self.advance()
        return self.identifier()

    # ------------------------------------------------------------------ policies
    def policy_decl(self, is_default: bool = False) -> ast.Policy:
        start = self.advance()  # 'policy'
        name = self.identifier()
        action = "all"
        if self.tok.value in POLICY_ACTIONS and self.tok.kind is not KIND_STRING:
            action = self.advance().value
        self.expect(":")
        self.skip_newlines()
        expression = self.expression()
        rate_limit = None
        if self.at("rateLimit") and self.peek().value == "{":
            self.advance()
            rate_limit = self.rate_limit_block()
        message = self.advance().value if self.at_kind(KIND_STRING) else None
        return self.node(
            ast.Policy,
            start,
            name=name,
            action=action,
            expression=expression,
            message=message,
            rate_limit=rate_limit,
            is_default=is_default,
        )

    # ------------------------------------------------------------------ retry / rateLimit
    def retry_block(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, _token in self._config_fields():
            canonical = RETRY_ALIASES.get(name)
            if canonical is None:
                self.advance()
            elif canonical == "retryOn":
                fields.setdefault("retryOn", []).append(self.advance().value)
            elif canonical == "backoff":
                fields["backoff"] = self.name()
            elif canonical == "jitter":
                word = self.advance()
                fields["jitter"] = word.value != "false"
            else:
                fields[canonical] = _number(self.advance())
        return fields

    def rate_limit_block(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, _token in self._config_fields():
            if name == "scope":
                root = self.advance().value
                while self.accept("."):
                    self.name()
                fields["scope"] = root
            elif name == "perMinute":
                fields["perMinute"] = _number(self.advance())
            elif name == "strategy":
                self.advance()
            elif name in ("maxRequests", "windowMs", "burstAllowance"):
                fields[name] = _number(self.advance())
            else:
                self.advance()
        return fields

    def _config_fields(self) -> Any:
        """Yield each known ``name`` after its ``:``.

        After an unknown name and its ``:`` nothing more is consumed, so (like the reference) the
        value is then read as the next field name.
        """
        self.expect("{")
        self.skip_newlines()
        while self.in_block():
            token = self.tok
            name = self.identifier()
            self.expect(":")
            if name in RETRY_ALIASES or name in RATE_LIMIT_FIELDS:
                yield name, token
            self.skip_newlines()
            self.accept(",")
            self.skip_newlines()
        self.expect("}")


class _CommandBody:
    def __init__(self) -> None:
        self.guards: list[ast.Expr] = []
        self.constraints: list[ast.Constraint] = []
        self.actions: list[ast.Action] = []
        self.emits: list[ast.EmitStatement] = []
        self.retry: dict[str, Any] | None = None
        self.rate_limit: dict[str, Any] | None = None


def _number(token: Token) -> float | int:
    if token.kind is KIND_NUMBER and token.number is not None:
        return token.number
    try:
        value = float(token.value)
    except ValueError:
        return float("nan")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value
