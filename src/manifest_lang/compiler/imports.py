"""``use`` imports: every file a root file reaches, parsed and merged into one program.

Each file is parsed on its own (its ``use`` lines must precede its own declarations), in a
*virtual line space*: a file's lines are numbered after those of the files parsed before it.
The pipeline only knows line numbers, so its positions stay unambiguous, and ``SourceMap``
turns them back into (file, line) for the diagnostics.

Files are named by their path relative to the root file's directory, in POSIX form
(``models/order.manifest``); a loader turns such a name into text. Programs are merged in
dependency order (a file after everything it uses, the root last), like the reference's
``compileProjectToIR``.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..syntax import ast
from ..syntax.parser import PROGRAM_LISTS, parse
from .diagnostics import Diagnostic

if TYPE_CHECKING:  # pathlib (and the urllib.parse it loads) only when a directory is read
    from pathlib import Path

#: a relative POSIX path -> the file's text; raises OSError (FileNotFoundError when missing)
Loader = Callable[[str], str]

USE_NOT_FOUND = "USE_NOT_FOUND"
USE_UNREADABLE = "USE_UNREADABLE"
USE_CYCLE = "USE_CYCLE"
USE_DUPLICATE_NAME = "USE_DUPLICATE_NAME"
USE_NOT_RESOLVED = "USE_NOT_RESOLVED"

#: program lists whose names must be unique across files, with the word used in messages
_NAMED_LISTS = (
    ("entities", "Entity"),
    ("enums", "Enum"),
    ("values", "Value object"),
    ("events", "Event"),
    ("commands", "Command"),
    ("sagas", "Saga"),
    ("roles", "Role"),
    ("webhooks", "Webhook"),
    ("schedules", "Schedule"),
)


class DirectoryLoader:
    """Reads ``use``d files under a directory (the root file's, or a search path given)."""

    def __init__(self, root: str | Path) -> None:
        from pathlib import Path

        self.root = Path(root)

    def __call__(self, path: str) -> str:
        target = self.root / path
        if target.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        data = target.read_bytes()
        if b"\x00" in data:
            raise OSError(f"{path} is a binary file (contains NUL bytes)")
        return data.decode("utf-8")


def as_loader(loader: Loader | Mapping[str, str] | None, base_dir: str | Path | None) -> Loader | None:
    """A loader from what ``compile_source`` was given: a callable, a path -> text map or a dir."""
    if loader is not None and isinstance(loader, Mapping):
        files = dict(loader)

        def from_mapping(path: str) -> str:
            if path not in files:
                raise FileNotFoundError(path)
            return files[path]

        return from_mapping
    if loader is not None:
        return loader
    if base_dir is not None:
        return DirectoryLoader(base_dir)
    return None


@dataclass
class SourceFile:
    path: str
    text: str
    #: added to this file's line numbers in the virtual line space
    base: int
    #: the ``use`` that first brought this file in: (importing file, line, column); None for the root
    imported_at: tuple[str, int, int] | None = None
    program: ast.Program | None = None

    @property
    def lines(self) -> list[str]:
        return self.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@dataclass
class SourceMap:
    """Virtual line -> (file, line). Files are kept in the order their line ranges were given."""

    files: list[SourceFile] = field(default_factory=list)
    _bases: list[int] = field(default_factory=list)

    def add(self, file: SourceFile) -> None:
        self.files.append(file)
        self._bases.append(file.base)

    def next_base(self) -> int:
        if not self.files:
            return 0
        last = self.files[-1]
        # An upper bound of the lines the lexer counts; the gap keeps ranges disjoint.
        return last.base + last.text.count("\n") + last.text.count("\r") + 2

    def locate(self, line: int) -> tuple[SourceFile, int]:
        index = max(0, bisect.bisect_right(self._bases, line - 1) - 1)
        file = self.files[index]
        return file, line - file.base

    def localise(self, diagnostic: Diagnostic) -> Diagnostic:
        if diagnostic.line is None or diagnostic.file is not None or not self.files:
            return diagnostic
        file, line = self.locate(diagnostic.line)
        return Diagnostic(
            diagnostic.severity, diagnostic.message, line, diagnostic.column, diagnostic.code, file.path
        )


@dataclass
class LoadedProgram:
    program: ast.Program
    #: dependency order: every file after the files it uses; the root is last
    files: list[SourceFile]
    source_map: SourceMap
    diagnostics: list[Diagnostic]

    @property
    def multi_file(self) -> bool:
        return len(self.files) > 1

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)


class _Resolver:
    def __init__(self, loader: Loader, extended: bool) -> None:
        self.loader = loader
        self.extended = extended
        self.source_map = SourceMap()
        self.order: list[SourceFile] = []
        self.seen: dict[str, SourceFile] = {}
        self.diagnostics: list[Diagnostic] = []

    def visit(self, file: SourceFile, chain: list[str]) -> None:
        self.seen[file.path] = file
        self.source_map.add(file)
        parsed = parse(file.text, extended=self.extended, line_offset=file.base)
        file.program = parsed.program
        self.diagnostics += [
            Diagnostic(d.severity, d.message, d.line, d.column, d.code) for d in parsed.diagnostics
        ]
        for use in parsed.program.uses:
            self._follow(file, use, chain)
        self.order.append(file)

    def _follow(self, file: SourceFile, use: ast.Use, chain: list[str]) -> None:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(file.path), use.path))
        line = use.line - file.base
        where = (file.path, line, use.start_column)
        if target in chain:
            cycle = " -> ".join([*chain[chain.index(target) :], target])
            self._error(where, f"Import cycle: {cycle}", USE_CYCLE)
            return
        if target in self.seen:
            return
        try:
            text = self.loader(target)
        except FileNotFoundError:
            self._error(where, f"Cannot find '{use.path}' (looked for '{target}')", USE_NOT_FOUND)
            return
        except (OSError, UnicodeDecodeError) as exc:
            reason = "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            self._error(where, f"Cannot read '{use.path}' ({target}): {reason}", USE_UNREADABLE)
            return
        except Exception as exc:  # noqa: BLE001 - a caller's loader may raise anything; report it here
            self._error(
                where, f"Cannot load '{use.path}' ({target}): {type(exc).__name__}: {exc}", USE_UNREADABLE
            )
            return
        if not isinstance(text, str):
            self._error(
                where, f"Cannot load '{use.path}' ({target}): the loader gave no text", USE_UNREADABLE
            )
            return
        imported = SourceFile(target, text, self.source_map.next_base(), imported_at=where)
        self.visit(imported, [*chain, target])

    def _error(self, where: tuple[str, int, int], message: str, code: str) -> None:
        file, line, column = where
        self.diagnostics.append(Diagnostic("error", message, line, column, code, file))


def load_program(source: str, root: str, loader: Loader | None, *, extended: bool = True) -> LoadedProgram:
    """Parse ``source`` (named ``root``) and, when a loader is given, every file it ``use``s."""
    if loader is None:
        parsed = parse(source, extended=extended)
        file = SourceFile(root, source, 0, program=parsed.program)
        diagnostics = [
            Diagnostic(d.severity, d.message, d.line, d.column, d.code) for d in parsed.diagnostics
        ]
        # The reference ignores `use` here; a warning says so rather than dropping entities silently.
        diagnostics += [
            Diagnostic(
                "warning",
                f'use "{use.path}" is not resolved: this compile was given no loader or base '
                "directory (compile the file with compile_file, or pass base_dir= or loader=)",
                use.line,
                use.start_column,
                USE_NOT_RESOLVED,
            )
            for use in parsed.program.uses
        ]
        source_map = SourceMap()
        source_map.add(file)
        return LoadedProgram(parsed.program, [file], source_map, diagnostics)
    resolver = _Resolver(loader, extended)
    resolver.visit(SourceFile(root, source, 0), [root])
    files = resolver.order
    diagnostics = resolver.diagnostics
    if len(files) == 1:
        program = files[0].program
        assert program is not None
        return LoadedProgram(program, files, resolver.source_map, diagnostics)
    diagnostics = [resolver.source_map.localise(d) for d in diagnostics]
    diagnostics += _duplicates(files, resolver.source_map)
    return LoadedProgram(_merge(files), files, resolver.source_map, diagnostics)


def _merge(files: list[SourceFile]) -> ast.Program:
    lists: dict[str, list[Any]] = {key: [] for key in PROGRAM_LISTS}
    tenant: ast.Tenant | None = None
    for file in files:
        program = file.program
        assert program is not None
        for key in PROGRAM_LISTS:
            lists[key] += getattr(program, key)
        tenant = tenant or program.tenant
    root = files[-1].program
    assert root is not None
    return ast.Program(
        line=root.line,
        column=root.column,
        tenant=tenant,
        **{key: tuple(value) for key, value in lists.items()},
    )


def _declarations(program: ast.Program) -> list[tuple[str, str, ast.Node]]:
    found: list[tuple[str, str, ast.Node]] = []
    scopes: list[Any] = [program, *program.modules]
    for scope in scopes:
        for key, word in _NAMED_LISTS:
            for node in getattr(scope, key, ()):
                found.append((word, node.name, node))
    if program.tenant is not None:
        found.append(("Tenant", "tenant", program.tenant))
    return found


def _duplicates(files: list[SourceFile], source_map: SourceMap) -> list[Diagnostic]:
    """A name declared in two files: reported at the ``use`` that brought in the second one."""
    first: dict[tuple[str, str], tuple[SourceFile, int]] = {}
    found: list[Diagnostic] = []
    for file in files:
        assert file.program is not None
        for word, name, node in _declarations(file.program):
            key = (word, name)
            line = source_map.locate(node.line)[1]
            if key not in first:
                first[key] = (file, line)
                continue
            other, other_line = first[key]
            if other is file:
                continue  # a duplicate inside one file is the pipeline's (reference) diagnostic
            site = file.imported_at or other.imported_at
            assert site is not None
            label = "A tenant is" if word == "Tenant" else f"{word} '{name}' is"
            message = (
                f"{label} declared in both '{other.path}' (line {other_line}) and '{file.path}' (line {line})"
            )
            found.append(Diagnostic("error", message, site[1], site[2], USE_DUPLICATE_NAME, site[0]))
    return found
