"""Program and module level of the parser, and the ``parse`` entry point."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .lexer import tokenize
from .parser_base import ParseError, ParserDiagnostic, SkippedToken
from .seed import SeedParser
from .tokens import KIND_KEYWORD, KIND_NUMBER, KIND_STRING, Token

#: the lists of a parsed program (also how the compiler merges the programs of ``use``d files)
PROGRAM_LISTS = (
    "modules",
    "entities",
    "enums",
    "values",
    "commands",
    "policies",
    "stores",
    "events",
    "reactions",
    "sagas",
    "roles",
    "webhooks",
    "schedules",
    "unlowered",
)
#: a module body holds the program's lists except nested modules, value objects and unlowered text
_MODULE_LISTS = tuple(k for k in PROGRAM_LISTS if k not in {"modules", "values", "unlowered"})
#: declarations allowed inside a module body
_MODULE_MEMBERS = frozenset(
    "entity external enum async command policy store event on saga role webhook schedule constraint".split()
)


@dataclass
class ParseResult:
    program: ast.Program
    diagnostics: list[ParserDiagnostic]
    skipped: list[SkippedToken] = field(default_factory=list)
    hashes: list[tuple[int, int]] = field(default_factory=list)
    dropped: list[tuple[int, int, str]] = field(default_factory=list)


class Parser(SeedParser):
    def parse_program(self) -> ast.Program:
        start = self.tok
        lists: dict[str, list[Any]] = {key: [] for key in PROGRAM_LISTS}
        state: dict[str, Any] = {"tenant": None, "seen_decl": False, "uses": []}
        self.skip_newlines()
        while not self.at_eof():
            try:
                self.top_level(lists, state)
            except ParseError as exc:
                self.error(exc.message, exc.token)
                self.synchronize()
            self.skip_newlines()
        fields = {key: tuple(value) for key, value in lists.items()}
        uses = tuple(state["uses"])
        return self.node(ast.Program, start, tenant=state["tenant"], uses=uses, **fields)

    def top_level(self, lists: dict[str, list[Any]], state: dict[str, Any]) -> None:
        token = self.tok
        value = token.value if token.kind is not KIND_STRING else ""
        if value == "use":
            use = self.use_decl(state["seen_decl"])
            if use is not None:
                state["uses"].append(use)
            return
        if value == "tenant":
            state["seen_decl"] = True
            tenant = self.tenant_decl()
            if state["tenant"] is not None:
                self.error(
                    "Duplicate tenant declaration; only one tenant declaration is allowed per program", token
                )
            state["tenant"] = tenant
            return
        if value == "module":
            state["seen_decl"] = True
            lists["modules"].append(self.module_decl())
            return
        if value == "default" and token.kind is KIND_KEYWORD:
            self.advance()
            if not self.at("policy"):
                raise self.fail("Expected 'policy' after 'default'")
            state["seen_decl"] = True
            lists["policies"].append(self.policy_decl())
            return
        handled = self.shared_declaration(value, lists, "root")
        if handled is None:
            handled = self.root_only_declaration(value, lists)
        if handled:
            state["seen_decl"] = True
        else:
            self.skip_token("top level")

    def root_only_declaration(self, value: str, lists: dict[str, list[Any]]) -> bool:
        if value == "value":
            lists["values"].append(self.value_object_decl())
        elif value == "flow":
            lists["unlowered"].append(self.flow_decl())
        elif value == "effect":
            lists["unlowered"].append(self.effect_decl())
        elif value == "expose":
            lists["unlowered"].append(self.expose_decl())
        elif value == "compose":
            lists["unlowered"].append(self.compose_decl())
        else:
            return False
        return True

    def shared_declaration(self, value: str, lists: dict[str, list[Any]], where: str) -> bool | None:
        """Declarations valid both at the root and inside a module; None when not one of them."""
        token = self.tok
        if value in ("entity", "external") and (value == "entity" or self.peek().value == "entity"):
            lists["entities"].append(self.entity_decl())
        elif value == "enum":
            lists["enums"].append(self.enum_decl())
        elif value == "async":
            self.advance()
            if not self.at("command"):
                raise self.fail("Expected 'command' after 'async'")
            lists["commands"].append(self.command_decl(is_async=True))
        elif value == "command":
            lists["commands"].append(self.command_decl())
        elif value == "policy":
            lists["policies"].append(self.policy_decl())
        elif value == "store":
            lists["stores"].append(self.store_decl())
        elif value == "event":
            lists["events"].append(self.event_decl())
        elif value == "on" and token.kind is KIND_KEYWORD:
            lists["reactions"].append(self.reaction_decl())
        elif value == "saga":
            lists["sagas"].append(self.saga_decl())
        elif value == "role":
            lists["roles"].append(self.role_decl())
        elif value == "webhook":
            lists["webhooks"].append(self.webhook_decl())
        elif value == "schedule":
            lists["schedules"].append(self.schedule_decl())
        elif value == "constraint":
            constraint = self.constraint_decl()
            self.warning(
                f"Constraint '{constraint.name}' is declared outside any entity and is not lowered "
                "to IR; it has no effect at runtime. Move it inside the entity it should guard.",
                token,
            )
        else:
            return None
        return True

    def use_decl(self, seen_decl: bool) -> ast.Use | None:
        """The ``use`` node when its path is valid (a multi-file compile loads it), else None."""
        token = self.advance()
        if seen_decl:
            self.error("'use' declarations must appear before all other declarations", token)
            if self.at_kind(KIND_STRING):
                self.advance()
            return None
        if not self.at_kind(KIND_STRING):
            raise self.fail("Expected string path after 'use'")
        path = self.advance().value
        valid = True
        if not (path.startswith("./") or path.startswith("../")):
            self.error(f"use path must be relative (start with './' or '../'), got '{path}'", token)
            valid = False
        if not path.endswith(".manifest"):
            self.error(f"use path must end with '.manifest', got '{path}'", token)
            valid = False
        return self.node(ast.Use, token, path=path, start_column=token.start_column) if valid else None

    def module_decl(self) -> ast.Module:
        start = self.advance()
        name = self.identifier()
        self.expect("{")
        self.skip_newlines()
        lists: dict[str, list[Any]] = {key: [] for key in _MODULE_LISTS}
        while self.in_block():
            if self.at_eof():
                raise self.fail(f"Expected }}, got {self.tok.display}")
            token = self.tok
            value = token.value if token.kind is not KIND_STRING else ""
            if value not in _MODULE_MEMBERS or not self.shared_declaration(value, lists, "module"):
                self.skip_token("module")
            self.skip_newlines()
        self.expect("}")
        return self.node(ast.Module, start, name=name, **{key: tuple(value) for key, value in lists.items()})


def parse(source: str, *, extended: bool = True, line_offset: int = 0) -> ParseResult:
    """Parse ``source``; never raises. Errors come back as diagnostics.

    ``line_offset`` is added to every line number: a multi-file compile numbers each file's
    lines after the previous files' (see ``compiler.imports``), so positions stay unambiguous.
    """
    lexed = tokenize(source)
    tokens = lexed.tokens
    if line_offset:
        tokens = [token._replace(line=token.line + line_offset) for token in tokens]
    parser = Parser(tokens)
    parser.extended = extended
    program = parser.parse_program()
    diagnostics = parser.diagnostics + _unrepresentable(source, tokens, lexed.has_long_lines, line_offset)
    return ParseResult(program, diagnostics, parser.skipped, lexed.hashes, lexed.dropped)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_OVERFLOWING_DIGITS = re.compile(r"[0-9]{309}")  # the shortest run of digits past the largest double


def _unrepresentable(
    source: str, tokens: list[Token], long_lines: bool, line_offset: int = 0
) -> list[ParserDiagnostic]:
    """What no IR can hold: a lone surrogate (not Unicode, so not UTF-8 JSON) and a number literal
    beyond the largest double (JavaScript reads it as Infinity, which JSON writes as null).

    The digit search costs ~50 ns per character (15% of a compile), so it only runs when the
    lexer saw a line long enough to hold such a literal (``long_lines``)."""
    found: list[ParserDiagnostic] = []
    surrogate = None if _is_unicode(source) else _LONE_SURROGATE.search(source)
    if surrogate is not None:
        offset = surrogate.start()
        line = source.count("\n", 0, offset) + 1 + line_offset
        column = offset - source.rfind("\n", 0, offset)
        code = ord(surrogate.group())
        found.append(
            ParserDiagnostic(
                "error", f"Source is not valid Unicode: lone surrogate U+{code:04X}", line, column
            )
        )
    if long_lines and _OVERFLOWING_DIGITS.search(source):
        for token in tokens:
            if token.kind is KIND_NUMBER and token.number is not None and not math.isfinite(token.number):
                message = f"Number literal {token.value[:20]}... is beyond the largest number (about 1.8e308)"
                found.append(ParserDiagnostic("error", message, token.line, token.column))
    return found


def _is_unicode(source: str) -> bool:
    """No lone surrogate: the UTF-8 encoder (C speed) fails on one; the regex scan costs ~50 ns a
    character, and non-ASCII models (accents in messages) are common."""
    if source.isascii():
        return True
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_token(tokens: list[Token]) -> Token:
    return tokens[0]
