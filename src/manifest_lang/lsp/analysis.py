"""What the language server knows about a document: pure functions over one compile + check.

No LSP types here (``server.py`` converts): positions are 0-based (line, character) pairs, files
are paths. A document is compiled with its ``use`` lines resolved through the open buffers first
and the disk second, so definitions and diagnostics follow the files as they are being edited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..compiler.api import compile_source
from ..compiler.checker import CheckResult, check_compiled
from ..compiler.checker.builtins import BUILTIN_DOCS, BUILTIN_TYPES, CONTEXT_NAMES
from ..compiler.diagnostics import Diagnostic
from ..compiler.imports import DirectoryLoader, LoadedProgram
from ..syntax import ast
from ..syntax.tokens import KEYWORDS

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: short help for the declaration keywords shown on hover
KEYWORD_DOCS: dict[str, str] = {
    "entity": "entity Name { ... }: a kind of row, with properties, commands and rules.",
    "property": "property [modifiers] name: type [= default]",
    "computed": "computed name[: type] = expression (evaluated when read, never stored)",
    "command": "command name(params) { guard ... mutate ... emit ... }: the only way to change a row.",
    "guard": "guard expression: the command is refused when it is false.",
    "mutate": "mutate property = expression: assigns a property of the row.",
    "emit": "emit Event [{ field: expr }]: publishes an event when the command succeeds.",
    "constraint": 'constraint name[:ok|warn|block] expression "message" (block refuses, warn warns).',
    "policy": 'policy name [read|write|delete|execute|all|override]: expression ["message"]',
    "transition": 'transition property from "state" to ["a", "b"]: the moves a property may make.',
    "event": 'event Name: "channel" { field: type }',
    "store": "store Entity in memory|postgres|...",
    "use": 'use "./other.manifest": brings in another file\'s declarations.',
    "enum": "enum Name { a b c }",
    "value": "value Name { property ... }: a value object type.",
    "module": "module name { ... }: groups declarations.",
    "saga": "saga name { step s { command: E.c compensate: E.undo } }",
    "on": "on Event run Entity.command [match f = expr] [params { ... }]: a reaction.",
    "tenant": "tenant property: type from context.path: rows belong to the caller's tenant.",
}


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    character: int
    length: int = 0


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # entity, property, computed, relationship, command, event, enum, value, policy, saga, ...
    location: Location
    detail: str = ""
    container: str | None = None
    children: tuple[Symbol, ...] = ()


@dataclass
class Analysis:
    path: str
    checked: CheckResult
    symbols: list[Symbol] = field(default_factory=list)

    @property
    def loaded(self) -> LoadedProgram | None:
        return self.checked.compiled.loaded

    def diagnostics_by_file(self) -> dict[str, list[Diagnostic]]:
        """Diagnostics per absolute path (the document's own file collects the file-less ones)."""
        root_dir = Path(self.path).parent
        by_file: dict[str, list[Diagnostic]] = {self.path: []}
        for d in self.checked.diagnostics:
            target = self.path
            if d.file is not None and d.file != Path(self.path).name:
                target = str((root_dir / d.file).resolve())
            by_file.setdefault(target, []).append(d)
        return by_file


def analyse(path: str, text: str, open_documents: Mapping[str, str] | None = None) -> Analysis:
    """Compile and check ``text`` (the buffer of ``path``), resolving ``use`` through open buffers."""
    root = Path(path).resolve()
    buffers = {str(Path(p).resolve()): t for p, t in (open_documents or {}).items()}
    disk = DirectoryLoader(root.parent)

    def load(relative: str) -> str:
        absolute = str((root.parent / relative).resolve())
        if absolute in buffers:
            return buffers[absolute]
        return disk(relative)

    compiled = compile_source(text, filename=str(root), loader=load)
    analysis = Analysis(str(root), check_compiled(compiled))
    if compiled.loaded is not None:
        analysis.symbols = list(_symbols(compiled.loaded, root.parent))
    return analysis


# ---------------------------------------------------------------------------- symbols


def _place(loaded: LoadedProgram, root_dir: Path, node: ast.Node, name: str) -> Location:
    file, line = loaded.source_map.locate(node.line)
    lines = file.lines
    text = lines[line - 1] if 1 <= line <= len(lines) else ""
    column = max(0, (node.column or 1) - 1 - len(name))
    if text[column : column + len(name)] != name:
        match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
        column = match.start() if match else 0
    return Location(str((root_dir / file.path).resolve()), line - 1, column, len(name))


def _type_text(type_ref: ast.TypeRef | None) -> str:
    if type_ref is None:
        return "any"
    text = type_ref.name
    if type_ref.generic is not None:
        text = f"{text}<{_type_text(type_ref.generic)}>"
    return text + ("?" if type_ref.nullable else "")


def _line_text(loaded: LoadedProgram, node: ast.Node) -> str:
    file, line = loaded.source_map.locate(node.line)
    lines = file.lines
    return lines[line - 1].strip() if 1 <= line <= len(lines) else ""


class _SymbolBuilder:
    def __init__(self, loaded: LoadedProgram, root_dir: Path) -> None:
        self.loaded = loaded
        self.root_dir = root_dir

    def make(self, node: ast.Node, name: str, kind: str, detail: str, container: str | None = None) -> Symbol:
        return Symbol(name, kind, _place(self.loaded, self.root_dir, node, name), detail, container)

    def line(self, node: ast.Node) -> str:
        return _line_text(self.loaded, node)

    def entity(self, entity: ast.Entity) -> Symbol:
        owner = entity.name
        children: list[Symbol] = []
        for prop in entity.properties:
            children.append(
                self.make(
                    prop, prop.name, "property", f"property {prop.name}: {_type_text(prop.type)}", owner
                )
            )
        for computed in entity.computed:
            children.append(self.make(computed, computed.name, "computed", self.line(computed), owner))
        for rel in entity.relationships:
            children.append(
                self.make(rel, rel.name, "relationship", f"{rel.kind} {rel.name}: {rel.target}", owner)
            )
        for command in entity.commands:
            detail = f"command {owner}.{command.name}({_params(command)})"
            symbol = self.make(command, command.name, "command", detail, owner)
            params = tuple(
                self.make(p, p.name, "parameter", f"parameter {p.name}: {_type_text(p.type)}", command.name)
                for p in command.parameters
            )
            children.append(Symbol(symbol.name, symbol.kind, symbol.location, symbol.detail, owner, params))
        for policy in entity.policies:
            children.append(self.make(policy, policy.name, "policy", self.line(policy), owner))
        for constraint in entity.constraints:
            children.append(
                self.make(constraint, constraint.name, "constraint", self.line(constraint), owner)
            )
        summary = f"entity {owner} ({len(entity.properties)} properties, {len(entity.commands)} commands)"
        symbol = self.make(entity, owner, "entity", summary)
        return Symbol(symbol.name, symbol.kind, symbol.location, symbol.detail, children=tuple(children))

    def scope(self, scope: ast.Program | ast.Module) -> Iterator[Symbol]:
        for entity in scope.entities:
            yield self.entity(entity)
        for event in scope.events:
            fields = ", ".join(f"{f.name}: {_type_text(f.type)}" for f in event.fields or ())
            yield self.make(event, event.name, "event", f'event {event.name}: "{event.channel}" {{{fields}}}')
        for enum in scope.enums:
            values = " ".join(v.name for v in enum.values)
            yield self.make(enum, enum.name, "enum", f"enum {enum.name} {{ {values} }}")
        for command in scope.commands:
            yield self.make(command, command.name, "command", f"command {command.name}({_params(command)})")
        for policy in scope.policies:
            yield self.make(policy, policy.name, "policy", self.line(policy))
        for saga in scope.sagas:
            yield self.make(saga, saga.name, "saga", f"saga {saga.name} ({len(saga.steps)} steps)")
        for role in scope.roles:
            yield self.make(role, role.name, "role", f"role {role.name}")


def _params(command: ast.Command) -> str:
    return ", ".join(f"{p.name}: {_type_text(p.type)}" for p in command.parameters)


def _symbols(loaded: LoadedProgram, root_dir: Path) -> Iterator[Symbol]:
    build = _SymbolBuilder(loaded, root_dir)
    program = loaded.program
    scopes: list[ast.Program | ast.Module] = [program, *program.modules]
    for scope in scopes:
        yield from build.scope(scope)
    for value in program.values:
        yield build.make(value, value.name, "value", f"value {value.name}")


def all_symbols(analysis: Analysis) -> Iterator[Symbol]:
    for symbol in analysis.symbols:
        yield symbol
        yield from symbol.children


# ---------------------------------------------------------------------------- queries


def word_at(text: str, line: int, character: int) -> tuple[str, str] | None:
    """(word under the cursor, the text of the line before it) or None."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return None
    source = lines[line]
    for match in _WORD.finditer(source):
        if match.start() <= character <= match.end():
            return match.group(), source[: match.start()]
    return None


def _enclosing_entity(analysis: Analysis, line: int) -> Symbol | None:
    best: Symbol | None = None
    for symbol in analysis.symbols:
        if symbol.kind == "entity" and symbol.location.path == analysis.path and symbol.location.line <= line:
            if best is None or symbol.location.line > best.location.line:
                best = symbol
    return best


def _resolve(analysis: Analysis, word: str, before: str, line: int) -> Symbol | None:
    """The declaration a word names: members of the enclosing entity first, then top-level names."""
    entity = _enclosing_entity(analysis, line)
    qualifier = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\.$", before)
    if qualifier and qualifier.group(1) not in ("self", "this"):
        owner = next((s for s in analysis.symbols if s.name == qualifier.group(1)), None)
        if owner is not None:
            entity = owner
    if entity is not None:
        commands = [c for c in entity.children if c.kind == "command" and c.location.line <= line]
        if commands and not qualifier:
            command = max(commands, key=lambda c: c.location.line)
            for param in command.children:
                if param.name == word:
                    return param
        for child in entity.children:
            if child.name == word:
                return child
    for symbol in analysis.symbols:
        if symbol.name == word:
            return symbol
    return next((s for s in all_symbols(analysis) if s.name == word), None)


def hover(analysis: Analysis, text: str, line: int, character: int) -> str | None:
    found = word_at(text, line, character)
    if found is None:
        return None
    word, before = found
    if word in BUILTIN_DOCS and not before.rstrip().endswith(".") and _is_call(text, line, before, word):
        signature, doc = BUILTIN_DOCS[word]
        return f"```\n{signature}\n```\n{doc}"
    symbol = _resolve(analysis, word, before, line)
    if symbol is not None:
        return f"```manifest\n{symbol.detail}\n```"
    if word in BUILTIN_DOCS:
        signature, doc = BUILTIN_DOCS[word]
        return f"```\n{signature}\n```\n{doc}"
    if word in BUILTIN_TYPES:
        return f"**{word}** (type): {BUILTIN_TYPES[word]}"
    if word in CONTEXT_NAMES:
        return f"**{word}**: {CONTEXT_NAMES[word]}"
    if word in KEYWORD_DOCS:
        return KEYWORD_DOCS[word]
    return None


def _is_call(text: str, line: int, before: str, word: str) -> bool:
    rest = text.splitlines()[line][len(before) + len(word) :]
    return rest.lstrip().startswith("(")


_USE_LINE = re.compile(r'^\s*use\s+"([^"]+)"')


def definition(analysis: Analysis, text: str, line: int, character: int) -> Location | None:
    lines = text.splitlines()
    use = _USE_LINE.match(lines[line]) if 0 <= line < len(lines) else None
    if use is not None and use.start(1) <= character <= use.end(1):
        return Location(str((Path(analysis.path).parent / use.group(1)).resolve()), 0, 0)
    found = word_at(text, line, character)
    if found is None:
        return None
    symbol = _resolve(analysis, *found, line)
    return symbol.location if symbol is not None else None


@dataclass(frozen=True)
class CompletionItem:
    label: str
    kind: str
    detail: str = ""


def completions(analysis: Analysis, text: str, line: int, character: int) -> list[CompletionItem]:
    """Members after ``self.`` / ``Entity.``; otherwise names, built-ins, types and keywords."""
    lines = text.splitlines()
    source = lines[line][:character] if 0 <= line < len(lines) else ""
    member = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]*)$", source)
    if member is not None:
        owner_name = member.group(1)
        owner = (
            _enclosing_entity(analysis, line)
            if owner_name in ("self", "this")
            else next((s for s in analysis.symbols if s.name == owner_name and s.kind == "entity"), None)
        )
        if owner is not None:
            return [CompletionItem(c.name, c.kind, c.detail) for c in owner.children]
    items: dict[str, CompletionItem] = {}
    entity = _enclosing_entity(analysis, line)
    if entity is not None:
        for child in entity.children:
            items.setdefault(child.name, CompletionItem(child.name, child.kind, child.detail))
    for symbol in analysis.symbols:
        items.setdefault(symbol.name, CompletionItem(symbol.name, symbol.kind, symbol.detail))
    for name, (signature, _) in BUILTIN_DOCS.items():
        items.setdefault(name, CompletionItem(name, "function", signature))
    for name, doc in BUILTIN_TYPES.items():
        items.setdefault(name, CompletionItem(name, "type", doc))
    for name in sorted(KEYWORDS):
        items.setdefault(name, CompletionItem(name, "keyword", KEYWORD_DOCS.get(name, "")))
    return list(items.values())
