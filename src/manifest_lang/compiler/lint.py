"""Findings for ``manifest lint``: source the reference compiler ignores without a word.

Compile's diagnostics are untouched (conformance); lint only adds these as warnings.
"""

from __future__ import annotations

from ..syntax import ast
from ..syntax.parser import parse
from ..syntax.tokens import TokenKind
from .diagnostics import Diagnostic


def lint_source(source: str, *, extended: bool = False) -> list[Diagnostic]:
    """Findings on ``source``; ``extended`` parses the seed-syntax superset (``manifest check``)."""
    try:
        parsed = parse(source, extended=extended)
    except RecursionError:
        return [Diagnostic("error", "Source nests too deeply to lint")]
    findings: list[Diagnostic] = []
    for line, column in parsed.hashes:
        findings.append(
            Diagnostic(
                "warning",
                "'#' is not a comment in Manifest; the character is dropped and "
                "the words after it are parsed as code (use //)",
                line,
                column,
                "LINT_HASH",
            )
        )
    for line, column, char in parsed.dropped:
        findings.append(
            Diagnostic(
                "warning",
                f"Unknown character {char!r} is dropped silently",
                line,
                column,
                "LINT_DROPPED_CHAR",
            )
        )
    for skipped in parsed.skipped:
        token = skipped.token
        if token.kind is TokenKind.EOF:
            continue
        shown = "string literal" if token.kind is TokenKind.STRING else f"'{token.value}'"
        findings.append(
            Diagnostic(
                "warning",
                f"{shown} is ignored at {skipped.where.removesuffix(' level')} level (silently skipped)",
                token.line,
                token.start_column,
                "LINT_SKIPPED_TOKEN",
            )
        )
    findings += _guard_messages(parsed.program)
    findings.sort(key=lambda d: (d.line or 0, d.column or 0))
    return findings


def _commands(program: ast.Program) -> list[ast.Command]:
    commands = list(program.commands)
    for module in program.modules:
        commands += module.commands
        commands += [c for e in module.entities for c in e.commands]
    commands += [c for e in program.entities for c in e.commands]
    return commands


def _guard_messages(program: ast.Program) -> list[Diagnostic]:
    """``guard expr "message"``: the string becomes a no-op compute action in the reference."""
    findings = []
    for command in _commands(program):
        for action in command.actions:
            if (
                action.kind == "compute"
                and action.target is None
                and isinstance(action.expression, ast.Literal)
                and isinstance(action.expression.value, str)
            ):
                findings.append(
                    Diagnostic(
                        "warning",
                        f"String {action.expression.value!r} in command '{command.name}' is not a guard "
                        "message (guards have none); it compiles to a no-op compute action",
                        action.line,
                        action.column,
                        "LINT_GUARD_MESSAGE",
                    )
                )
    return findings
