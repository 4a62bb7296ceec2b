"""Positions for checker findings: the file, line and *start* column of what is reported.

Syntax nodes keep the reference's positions (a word's column is the one after it, and the
lines of a multi-file compile are virtual, see ``compiler.imports``). A finding points at the
start of the offending word, so the caret sits under it.
"""

from __future__ import annotations

import re

from ...syntax import ast
from ..diagnostics import Diagnostic
from ..imports import LoadedProgram
from .codes import severity_of


class Locator:
    def __init__(self, loaded: LoadedProgram) -> None:
        self.loaded = loaded
        self._lines = {f.path: f.lines for f in loaded.files}

    def _place(self, line: int) -> tuple[str | None, int, list[str]]:
        file, local = self.loaded.source_map.locate(line)
        name = file.path if self.loaded.multi_file else None
        return name, local, self._lines[file.path]

    def finding(
        self, code: str, message: str, node: ast.Node, word: str | None = None, *, ends_at: bool = True
    ) -> Diagnostic:
        """A diagnostic at ``node``; with ``word``, at that word on the node's line (from the node on).

        ``ends_at``: the node's column is the one after its first word (keywords, identifiers),
        so the search starts a little before it.
        """
        file, line, lines = self._place(node.line)
        column = node.column or 1
        text = lines[line - 1] if 1 <= line <= len(lines) else ""
        if word is not None:
            exact = column - 1 - len(word)
            if ends_at and exact >= 0 and text[exact : column - 1] == word:
                return Diagnostic(severity_of(code), message, line, exact + 1, code, file)
            found = _find_word(text, word, max(0, column - 1))
            if found is None:
                found = _find_word(text, word, 0)
            if found is not None:
                column = found + 1
        else:
            first = _leftmost(node)
            if isinstance(first, ast.Literal) and first.value is not None and first.line == node.line:
                # a literal's column is the one after it
                column = max(1, first.column - len(_lexeme(first.value)))
        return Diagnostic(severity_of(code), message, line, column, code, file)


def _leftmost(node: ast.Node) -> ast.Node:
    while True:
        if isinstance(node, ast.Binary):
            node = node.left
        elif isinstance(node, ast.Member):
            node = node.object
        elif isinstance(node, ast.Call):
            node = node.callee
        elif isinstance(node, ast.Conditional):
            node = node.condition
        else:
            return node


def _lexeme(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _find_word(text: str, word: str, start: int) -> int | None:
    match = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])").search(text, max(0, start))
    return match.start() if match else None
