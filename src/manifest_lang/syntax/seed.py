"""The seed document's constraint form, accepted as an extension of the reference grammar.

    constraint [overrideable] NAME severity ok|warn|block
      when EXPR                       -- fails when EXPR is true (failWhen: true)
      message "text"
      [code IDENT] [overridePolicy IDENT | override by IDENT]

Clauses may sit on the same line or on following lines, in any order after ``severity``.
"""

from __future__ import annotations

from typing import Any

from . import ast
from .declarations import DeclarationParser
from .tokens import KIND_NEWLINE, KIND_STRING, Token

_CLAUSES = frozenset(["when", "message", "code", "overridePolicy", "override", "severity"])


class SeedParser(DeclarationParser):
    def seed_constraint(
        self, start: Token, name: str, overrideable: bool, fail_when: bool | None
    ) -> ast.Constraint:
        values: dict[str, Any] = {}
        while self._next_clause():
            clause = self.advance().value
            if clause == "severity":
                word = self.any_value()
                if word not in ("ok", "warn", "block"):
                    raise self.fail(f"Expected ok, warn or block after 'severity', got {word}")
                values["severity"] = word
            elif clause == "when":
                values["expression"] = self.expression()
                fail_when = True
            elif clause == "message":
                values["message"] = self.expect_kind(KIND_STRING).value
            elif clause == "code":
                values["code"] = self.identifier()
            else:
                if clause == "override":
                    self.expect("by")
                values["overridePolicy"] = self.identifier()
                overrideable = True
        if "expression" not in values:
            raise self.fail(f"Constraint '{name}' needs a 'when <expression>' clause")
        return self.node(
            ast.Constraint,
            start,
            name=name,
            expression=values["expression"],
            severity=values.get("severity"),
            code=values.get("code"),
            fail_when=fail_when,
            message=values.get("message"),
            overrideable=overrideable,
            override_policy=values.get("overridePolicy"),
            seed=True,
        )

    def _next_clause(self) -> bool:
        """Is the next clause of the seed constraint here (possibly after newlines)?"""
        offset = 0
        while self.peek(offset).kind is KIND_NEWLINE:
            offset += 1
        token = self.peek(offset)
        if token.kind is KIND_STRING or token.value not in _CLAUSES:
            return False
        if token.value == "override" and self.peek(offset + 1).value != "by":
            return False
        self.skip_newlines()
        return True
