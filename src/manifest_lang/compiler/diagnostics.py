"""Compiler diagnostics: values, never exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str
    message: str
    line: int | None = None
    column: int | None = None
    code: str | None = None
    #: the file the position is in, in a multi-file compile (None: the file being compiled)
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"severity": self.severity, "message": self.message}
        if self.file is not None:
            data["file"] = self.file
        if self.line is not None:
            data["line"] = self.line
        if self.column is not None:
            data["column"] = self.column
        if self.code is not None:
            data["code"] = self.code
        return data

    def format(self, filename: str = "<source>") -> str:
        """``file:line:col: severity: message`` (``file: severity: message`` for whole-model checks)."""
        filename = self.file or filename
        if self.line is None:
            return f"{filename}: {self.severity}: {self.message}"
        return f"{filename}:{self.line}:{self.column or 1}: {self.severity}: {self.message}"


class DiagnosticSink:
    """Collects diagnostics in emission order (order is part of the contract)."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(
        self, message: str, *, line: int | None = None, column: int | None = None, code: str | None = None
    ) -> None:
        self.items.append(Diagnostic("error", message, line, column, code))

    def warning(
        self, message: str, *, line: int | None = None, column: int | None = None, code: str | None = None
    ) -> None:
        self.items.append(Diagnostic("warning", message, line, column, code))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)
