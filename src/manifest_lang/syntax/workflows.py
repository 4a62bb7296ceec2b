"""Approvals, reactions, sagas, roles, webhooks, schedules and the legacy unlowered blocks."""

from __future__ import annotations

import re
from typing import Any

from . import ast
from .commands import CommandParser
from .tokens import KIND_IDENTIFIER, KIND_KEYWORD, KIND_NEWLINE, KIND_NUMBER, Token

#: a role permission's action, as ir-v1.schema.json requires it
_PERMISSION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

ESCALATE_STATUSES = frozenset(["pending", "granted", "denied", "expired"])
SIGNATURE_ALGORITHMS = frozenset(["hmac-sha256", "hmac-sha512"])
SIGNATURE_SCHEMES = frozenset(["prefixed-hex", "stripe"])


class WorkflowParser(CommandParser):
    # ------------------------------------------------------------------ approvals
    def approval_decl(self) -> ast.Approval:
        start = self.advance()  # 'approval'
        name = self.identifier()
        self.expect("{")
        self.skip_newlines()
        fields: dict[str, Any] = {"stages": [], "emits": []}
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            self._approval_field(fields)
            self.skip_newlines()
        self.expect("}")
        if "command" not in fields:
            raise self.fail(f"Approval '{name}' must specify a command")
        return self.node(
            ast.Approval,
            start,
            name=name,
            command=fields["command"],
            stages=tuple(fields["stages"]),
            emits=tuple(fields["emits"]),
            timeout=fields.get("timeout"),
            on_timeout=fields.get("on_timeout"),
        )

    def _approval_field(self, fields: dict[str, Any]) -> None:
        value = self.tok.value
        if value == "command" and self.peek().value == ":":
            self.advance()
            self.advance()
            fields["command"] = self.identifier()
        elif value == "timeout" and self.peek().value == ":":
            self.advance()
            self.advance()
            fields["timeout"] = self.expect_kind(KIND_NUMBER).number
        elif value == "emit":
            self.advance()
            fields["emits"].append(self.identifier())
        elif value == "stages" and self.peek().value == "{":
            self.advance()
            fields["stages"].extend(self._approval_stages())
        elif value == "on_timeout" and self.peek().value == ":":
            self.advance()
            self.advance()
            fields["on_timeout"] = self._on_timeout()
        else:
            self.skip_token("approval")

    def _approval_stages(self) -> list[ast.ApprovalStage]:
        self.expect("{")
        self.skip_newlines()
        stages: list[ast.ApprovalStage] = []
        while self.in_block():
            if self.at("stage") and self.peek().kind in (KIND_IDENTIFIER, KIND_KEYWORD):
                self.advance()
            if not self.at_kind(KIND_IDENTIFIER):
                self.skip_token("approval stages")
                continue
            start = self.tok
            name = self.identifier()
            self.expect("{")
            self.skip_newlines()
            policy = when = None
            required: float | int = 1
            while self.in_block():
                field = self.tok.value
                if field not in ("policy", "when", "required") or self.peek().value != ":":
                    self.skip_token("approval stage")
                    continue
                self.advance()
                self.advance()
                if field == "policy":
                    policy = self.expression()
                elif field == "when":
                    when = self.expression()
                else:
                    required = self.expect_kind(KIND_NUMBER).number or 0
                self.skip_newlines()
            self.expect("}")
            if policy is None:
                raise self.fail(f"Approval stage '{name}' requires a policy expression")
            stages.append(
                self.node(ast.ApprovalStage, start, name=name, policy=policy, required=required, when=when)
            )
            self.skip_newlines()
        self.expect("}")
        return stages

    def _on_timeout(self) -> str | ast.Escalate:
        token = self.advance()
        word = token.value
        if word == "cancel":
            return "cancel"
        if word != "escalate":
            raise self.fail(f"Unknown on_timeout action '{word}' (expected cancel or escalate)", token)
        if not self.at("{"):
            return self.node(ast.Escalate, token)
        self.advance()
        self.skip_newlines()
        values: dict[str, Any] = {}
        while self.in_block():
            field = self.name()
            self.expect(":")
            self._escalate_field(field, values)
            self.accept(",")
            self.skip_newlines()
        self.expect("}")
        return self.node(ast.Escalate, token, has_block=True, **values)

    def _escalate_field(self, field: str, values: dict[str, Any]) -> None:
        if field == "to":
            values["to"] = self.expression()
        elif field == "status":
            status = self.advance().value
            if status not in ESCALATE_STATUSES:
                raise self.fail(
                    f"Invalid escalate status '{status}' (expected pending, granted, denied, or expired)"
                )
            values["status"] = status
        elif field == "timeout":
            token = self.advance()
            if token.kind is KIND_NUMBER:
                values["timeout"] = token.number
            elif token.value in ("none", "reset"):
                values["timeout"] = token.value
            else:
                raise self.fail(
                    f"Invalid escalate timeout '{token.value}' (expected a number of hours, none, or reset)",
                    token,
                )
        elif field == "reset_timeout":
            values["reset_timeout"] = self.advance().value == "true"
        else:
            raise self.fail(f"Unknown escalate field '{field}' (expected to, status, timeout)")

    # ------------------------------------------------------------------ reactions
    def reaction_decl(self) -> ast.Reaction:
        start = self.advance()  # 'on'
        event = self.identifier()
        if self.accept("fanOut"):
            return self._fan_out_reaction(start, event)
        self.expect("run")
        target_entity = self.identifier()
        self.expect(".")
        target_command = self.identifier()
        self.skip_newlines()
        resolve = match = None
        else_create = False
        if self.at("match"):
            match, else_create = self._match_clause()
        else:
            self.expect("resolve")
            resolve = self.expression()
            self.skip_newlines()
        params = self._reaction_params()
        return self.node(
            ast.Reaction,
            start,
            event=event,
            target_entity=target_entity,
            target_command=target_command,
            resolve=resolve,
            match=match,
            else_create=else_create,
            params=params,
        )

    def _fan_out_reaction(self, start: Token, event: str) -> ast.Reaction:
        match_entity = self.identifier()
        self.expect("where")
        match_field = self.identifier()
        self.expect("=")
        match_source = self.expression()
        self.skip_newlines()
        self.expect("run")
        first = self.identifier()
        target_entity, target_command = match_entity, first
        explicit: str | None = None
        if self.accept("."):
            target_entity, target_command = first, self.identifier()
            explicit = first
        self.skip_newlines()
        match = None
        else_create = False
        if self.at("match"):
            match, else_create = self._match_clause()
        params = self._reaction_params()
        fan_out = (match_field, match_source, match_entity if explicit and explicit != match_entity else None)
        return self.node(
            ast.Reaction,
            start,
            event=event,
            target_entity=target_entity,
            target_command=target_command,
            match=match,
            else_create=else_create,
            fan_out=fan_out,
            params=params,
        )

    def _match_clause(self) -> tuple[tuple[tuple[str, ast.Expr], ...], bool]:
        match_token = self.advance()
        self.skip_newlines()
        predicates: list[tuple[str, ast.Expr]] = []
        if self.tok.kind in (KIND_IDENTIFIER, KIND_KEYWORD) and self.peek().value == "=":
            predicates.append(self._match_predicate())
            while self.accept(","):
                self.skip_newlines()
                predicates.append(self._match_predicate())
        if not predicates:
            self.error("reaction match requires at least one field = expression predicate", match_token)
        self.skip_newlines()
        else_create = False
        if self.accept("else"):
            self.skip_newlines()
            if not self.at("create"):
                raise self.fail(f"Expected 'create' after reaction 'else', got '{self.tok.display}'")
            self.advance()
            self.skip_newlines()
            else_create = True
        return tuple(predicates), else_create

    def _match_predicate(self) -> tuple[str, ast.Expr]:
        field = self.identifier()
        self.expect("=")
        return field, self.expression()

    def _reaction_params(self) -> tuple[tuple[str, ast.Expr], ...]:
        if not self.at("params"):
            return ()
        self.advance()
        self.expect("{")
        self.skip_newlines()
        params: list[tuple[str, ast.Expr]] = []
        while self.in_block():
            name = self.identifier()
            self.expect(":")
            params.append((name, self.expression()))
            self.accept(",")
            self.skip_newlines()
        self.expect("}")
        return tuple(params)

    # ------------------------------------------------------------------ sagas and roles
    def saga_decl(self) -> ast.Saga:
        start = self.advance()
        name = self.identifier()
        self.expect("{")
        self.skip_newlines()
        steps: list[ast.SagaStep] = []
        emits: list[str] = []
        on_failure = "compensate"
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            if self.at("step"):
                steps.append(self._saga_step())
            elif self.at("on_failure") and self.peek().value == ":":
                self.advance()
                self.advance()
                word = self.advance().value
                if word in ("compensate", "abort"):
                    on_failure = word
            elif self.at("emit"):
                self.advance()
                emits.append(self.identifier())
            else:
                self.skip_token("saga")
            self.skip_newlines()
        self.expect("}")
        if not steps:
            raise self.fail(f"Saga '{name}' must declare at least one step")
        return self.node(
            ast.Saga, start, name=name, steps=tuple(steps), on_failure=on_failure, emits=tuple(emits)
        )

    def _saga_step(self) -> ast.SagaStep:
        self.advance()
        start = self.tok
        name = self.identifier()
        self.expect("{")
        self.skip_newlines()
        command = compensate = None
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            if self.tok.value in ("command", "compensate") and self.peek().value == ":":
                field = self.advance().value
                self.advance()
                entity = self.identifier()
                self.expect(".")
                ref = (entity, self.identifier())
                if field == "command":
                    command = ref
                else:
                    compensate = ref
            else:
                self.skip_token("saga step")
            self.skip_newlines()
        self.expect("}")
        if command is None:
            raise self.fail(f"Saga step '{name}' must specify a command")
        return self.node(ast.SagaStep, start, name=name, command=command, compensate=compensate)

    def role_decl(self) -> ast.Role:
        start = self.advance()
        name = self.identifier()
        parent = self.identifier() if self.accept("extends") else None
        self.expect("{")
        self.skip_newlines()
        allow: list[ast.Permission] = []
        deny: list[ast.Permission] = []
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            if self.at("allow") or self.at("deny"):
                keyword = self.advance()
                bucket = allow if keyword.value == "allow" else deny
                action_token = self.advance()
                target = self.identifier() if self.at_kind(KIND_IDENTIFIER) else None
                if _PERMISSION.fullmatch(action_token.value) is not None:
                    bucket.append(
                        self.node(ast.Permission, action_token, action=action_token.value, target=target)
                    )
                else:  # the reference takes any token (a newline, a number): IR its schema rejects
                    shown = (
                        "end of line" if action_token.kind is KIND_NEWLINE else f"'{action_token.display}'"
                    )
                    self.error(
                        f"Expected a permission name after '{keyword.value}', got {shown}", action_token
                    )
            else:
                self.skip_token("role")
            self.skip_newlines()
        self.expect("}")
        return self.node(ast.Role, start, name=name, parent=parent, allow=tuple(allow), deny=tuple(deny))
