"""``manifest check``: findings beyond the reference compiler's diagnostics.

``check_source`` / ``check_file`` compile, then add what the reference accepts silently
(unknown names and types, undeclared properties and events, type mismatches, dead rules).
Compile diagnostics are returned first and unchanged; findings carry ``CHECK_*`` codes
(``codes.CODES``). The checker reads the syntax tree and the IR, never the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..api import CompileResult, compile_file, compile_source
from ..diagnostics import Diagnostic
from ..lint import lint_source
from .codes import CODES, severity_of
from .locate import Locator
from .rules import Checker

__all__ = ["CODES", "CheckResult", "check_compiled", "check_file", "check_source"]

_FROM_LINT = {
    "LINT_SKIPPED_TOKEN": "CHECK_IGNORED_TEXT",
    "LINT_HASH": "CHECK_IGNORED_TEXT",
    "LINT_DROPPED_CHAR": "CHECK_IGNORED_TEXT",
    "LINT_GUARD_MESSAGE": "CHECK_GUARD_MESSAGE",
}


class CheckResult:
    """The compile result and the checker's findings (``diagnostics`` = both, compile's first)."""

    def __init__(self, compiled: CompileResult, findings: list[Diagnostic]) -> None:
        self.compiled = compiled
        self.findings = findings

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [*self.compiled.diagnostics, *self.findings]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.compiled.ir is not None and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "diagnostics": [d.to_dict() for d in self.diagnostics]}


def check_compiled(compiled: CompileResult) -> CheckResult:
    """The findings on an already compiled model (its syntax tree is in ``compiled.loaded``)."""
    loaded = compiled.loaded
    if loaded is None:
        return CheckResult(compiled, [])
    findings: list[Diagnostic] = []
    for file in loaded.files:
        name = file.path if loaded.multi_file else None
        for item in lint_source(file.text, extended=True):
            code = _FROM_LINT.get(item.code or "")
            if code is not None:
                findings.append(
                    Diagnostic(severity_of(code), item.message, item.line, item.column, code, name)
                )
    if compiled.ir is not None:
        findings += Checker(loaded.program, compiled.ir, Locator(loaded)).run()
    findings.sort(key=lambda d: (d.file or "", d.line or 0, d.column or 0))
    return CheckResult(compiled, _unique(findings))


def _unique(findings: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for d in findings:
        key = (d.file, d.line, d.column, d.code, d.message)
        if key not in seen:
            seen.add(key)
            kept.append(d)
    return kept


def check_source(source: str, **compile_options: Any) -> CheckResult:
    """Compile ``source`` (``compile_source`` options) and check it."""
    return check_compiled(compile_source(source, **compile_options))


def check_file(path: str | Path) -> CheckResult:
    """Compile the file and the files it ``use``s, and check them."""
    return check_compiled(compile_file(path))


def is_known_code(code: str) -> bool:
    return code in CODES
