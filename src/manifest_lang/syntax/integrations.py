"""Webhooks, schedules, entity behaviors and the legacy flow/effect/expose/compose blocks."""

from __future__ import annotations

from typing import Any

from . import ast
from .tokens import KIND_NUMBER, KIND_PUNCTUATION, KIND_STRING
from .workflows import SIGNATURE_ALGORITHMS, SIGNATURE_SCHEMES, WorkflowParser


class IntegrationParser(WorkflowParser):
    # ------------------------------------------------------------------ webhooks
    def webhook_decl(self) -> ast.Webhook:
        start = self.advance()
        name = self.identifier()
        self.skip_newlines()
        if not self.at_kind(KIND_STRING):
            raise self.fail(f"Expected path string after webhook '{name}'")
        path = self.advance().value
        self.skip_newlines()
        self.expect("run")
        entity, command = self._command_ref()
        self.skip_newlines()
        fields: dict[str, Any] = {}
        while True:
            if self.at("method") and self.peek().value == ":":
                self.advance()
                self.advance()
                if not self.at_kind(KIND_STRING):
                    raise self.fail("Expected string method after 'method:'")
                fields["method"] = self.advance().value
            elif self.at("signature"):
                self.advance()
                fields["signature"] = self._signature_block()
            elif self.at("idempotencyHeader"):
                self.advance()
                self.expect(":")
                if not self.at_kind(KIND_STRING):
                    raise self.fail("Expected string header name after 'idempotencyHeader:'")
                fields["idempotency_header"] = self.advance().value
            elif self.at("transform"):
                self.advance()
                self.expect(":")
                fields["transform"] = self.detail_entries()
            else:
                break
            self.skip_newlines()
        return self.node(ast.Webhook, start, name=name, path=path, entity=entity, command=command, **fields)

    def _command_ref(self) -> tuple[str | None, str]:
        first = self.identifier()
        if self.accept("."):
            return first, self.identifier()
        return None, first

    def _signature_block(self) -> dict[str, Any]:
        self.expect("{")
        self.skip_newlines()
        sig: dict[str, Any] = {}
        while self.in_block():
            field = self.name()
            self.expect(":")
            self._signature_field(field, sig)
            self.accept(",")
            self.skip_newlines()
        self.expect("}")
        if not all(key in sig for key in ("algorithm", "header", "secret")):
            raise self.fail("Signature block requires algorithm, header, and secret fields")
        if "toleranceSeconds" in sig and sig.get("scheme") != "stripe":
            raise self.fail("Signature tolerance is only supported with the stripe scheme")
        if sig.get("scheme") == "stripe" and sig["algorithm"] != "hmac-sha256":
            raise self.fail("The stripe signature scheme requires hmac-sha256")
        return sig

    def _signature_field(self, field: str, sig: dict[str, Any]) -> None:
        token = self.tok
        if field == "tolerance":
            if token.kind is not KIND_NUMBER:
                raise self.fail("Expected numeric tolerance in signature block")
            if (token.number or 0) < 0:
                raise self.fail("Signature tolerance must be a non-negative number of seconds")
            sig["toleranceSeconds"] = self.advance().number
            return
        labels = {
            "algorithm": "algorithm",
            "header": "header name",
            "secret": "secret path",
            "scheme": "scheme",
        }
        if field not in labels:
            self.advance()
            return
        if token.kind is not KIND_STRING:
            raise self.fail(f"Expected string {labels[field]} in signature block")
        value = self.advance().value
        if field == "algorithm" and value not in SIGNATURE_ALGORITHMS:
            raise self.fail(
                f"Unsupported signature algorithm '{value}'. Supported: hmac-sha256, hmac-sha512", token
            )
        if field == "scheme" and value not in SIGNATURE_SCHEMES:
            raise self.fail(f"Unsupported signature scheme '{value}'. Supported: prefixed-hex, stripe", token)
        sig[field] = value

    # ------------------------------------------------------------------ schedules
    def schedule_decl(self) -> ast.Schedule:
        start = self.advance()
        name = self.identifier()
        kind_token = self.tok
        value: str | None
        if self.accept("cron"):
            kind = "cron"
            value = self.expect_kind(KIND_STRING).value
        elif self.at("interval") or self.at("every"):
            kind = self.advance().value
            if self.at_kind(KIND_STRING):
                value = self.advance().value
            else:
                amount = self.advance().value
                value = f"{amount} {self.name()}"
        else:
            raise self.fail("Expected cron, interval, or every in schedule declaration", kind_token)
        self.skip_newlines()
        if not self.accept("run"):
            raise self.fail("Expected 'run' in schedule declaration")
        self.skip_newlines()
        entity, command = self._command_ref()
        params: list[tuple[str, ast.Expr]] = []
        if self.accept("("):
            while not self.at(")"):
                key = self.identifier()
                self.expect(":")
                params.append((key, self.expression()))
                self.accept(",")
            self.advance()
        return self.node(
            ast.Schedule,
            start,
            name=name,
            kind=kind,
            value=value,
            entity=entity,
            command=command,
            params=tuple(params),
        )

    # ------------------------------------------------------------------ behaviors
    def behavior_decl(self) -> ast.Behavior:
        start = self.tok
        if self.at("behavior"):
            self.advance()
        self.expect("on")
        trigger = self.identifier()
        if self.at("("):
            self.advance()
            while not self.at(")") and not self.at_eof():
                self.advance()
            self.expect(")")
        while self.at("guard") or self.at("when"):
            self.advance()
            self.expression()
        if self.at("{"):
            self.advance()
            self.skip_newlines()
            while self.in_block():
                if self.at_eof():
                    raise self.fail(f"Expected }}, got {self.tok.display}")
                self.action()
                self.skip_newlines()
            self.expect("}")
        elif self.accept("then") or self.accept("=>"):
            self.action()
        return self.node(ast.Behavior, start, trigger=trigger)

    # ------------------------------------------------------------------ legacy blocks
    def flow_decl(self) -> ast.Unlowered:
        start = self.advance()
        name = self.identifier()
        self.expect("(")
        self.type_ref()
        self.expect(")")
        self.expect("->")
        self.type_ref()
        self._skip_braced()
        return self.node(ast.Unlowered, start, kind="flow", name=name)

    def effect_decl(self) -> ast.Unlowered:
        start = self.advance()
        name = self.identifier()
        self.expect(":")
        self.advance()
        if self.at("{"):
            self._skip_braced()
        return self.node(ast.Unlowered, start, kind="effect", name=name)

    def expose_decl(self) -> ast.Unlowered:
        start = self.advance()
        name = self.identifier()
        self.expect("as")
        self.advance()
        self.accept("server")
        if self.at_kind(KIND_STRING):
            self.advance()
        if self.at("{"):
            self._skip_braced()
        return self.node(ast.Unlowered, start, kind="expose", name=name)

    def compose_decl(self) -> ast.Unlowered:
        start = self.advance()
        name = self.identifier()
        self._skip_braced()
        return self.node(ast.Unlowered, start, kind="compose", name=name)

    def _skip_braced(self) -> None:
        self.expect("{")
        depth = 1
        while depth and not self.at_eof():
            token = self.advance()
            if token.kind is KIND_PUNCTUATION:
                depth += {"{": 1, "}": -1}.get(token.value, 0)
        if depth:
            raise self.fail(f"Expected }}, got {self.tok.display}")
