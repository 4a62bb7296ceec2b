"""Token cursor, error reporting and the single node constructor shared by the parser mixins."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import ast
from .tokens import KIND_EOF, KIND_IDENTIFIER, KIND_KEYWORD, KIND_NEWLINE, KIND_STRING, Token, TokenKind

N = TypeVar("N", bound=ast.Node)


#: recovery after a thrown parse error resumes at the next token whose VALUE is one of these
SYNC_VALUES = frozenset(
    "entity enum flow effect expose compose module command policy store event tenant async saga role "
    "webhook".split()
)


class ParseError(Exception):
    """A fatal error inside one declaration; the parser records it and re-synchronises."""

    def __init__(self, message: str, token: Token) -> None:
        super().__init__(message)
        self.message = message
        self.token = token


@dataclass(frozen=True, slots=True)
class ParserDiagnostic:
    severity: str
    message: str
    line: int | None
    column: int | None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class SkippedToken:
    """A token the reference silently ignores; ``manifest lint`` reports these."""

    token: Token
    where: str


class ParserBase:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.diagnostics: list[ParserDiagnostic] = []
        self.skipped: list[SkippedToken] = []
        #: seed-syntax forms accepted beyond the reference grammar (superset mode)
        self.extended = True
        #: parsing a computed property's formula (where a ternary may continue on the next line)
        self.in_computed = False

    # ------------------------------------------------------------------ cursor
    # These run about a million times on a large model: each reads the token tuple once by
    # index and moves ``pos`` itself rather than calling the other cursor methods.
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else self.tokens[-1]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token[0] is not KIND_EOF:
            self.pos += 1
        return token

    def at(self, value: str) -> bool:
        """Current token spells ``value`` and is not a string literal."""
        token = self.tokens[self.pos]
        return token[1] == value and token[0] is not KIND_STRING

    def at_kind(self, kind: TokenKind) -> bool:
        return self.tokens[self.pos][0] is kind

    def at_eof(self) -> bool:
        return self.tokens[self.pos][0] is KIND_EOF

    def at_newline(self) -> bool:
        return self.tokens[self.pos][0] is KIND_NEWLINE

    def in_block(self) -> bool:
        """Inside a ``{ ... }`` body: not at its ``}`` and not at end of input (then ``expect('}')``)."""
        token = self.tokens[self.pos]
        kind = token[0]
        return not (token[1] == "}" and kind is not KIND_STRING) and kind is not KIND_EOF

    def accept(self, value: str) -> bool:
        token = self.tokens[self.pos]
        kind = token[0]
        if token[1] == value and kind is not KIND_STRING:
            if kind is not KIND_EOF:
                self.pos += 1
            return True
        return False

    def skip_newlines(self) -> None:
        tokens, pos = self.tokens, self.pos
        while tokens[pos][0] is KIND_NEWLINE:
            pos += 1
        self.pos = pos

    def skip_token(self, where: str) -> Token:
        token = self.advance()
        if token.kind is not KIND_NEWLINE:
            self.skipped.append(SkippedToken(token, where))
        return token

    # ------------------------------------------------------------------ expectations
    def fail(self, message: str, token: Token | None = None) -> ParseError:
        return ParseError(message, token or self.tok)

    def expect(self, value: str) -> Token:
        token = self.tokens[self.pos]
        kind = token[0]
        if token[1] != value or kind is KIND_STRING:
            raise self.fail(f"Expected {value}, got {token.display}")
        if kind is not KIND_EOF:
            self.pos += 1
        return token

    def expect_kind(self, kind: TokenKind) -> Token:
        token = self.tokens[self.pos]
        if token[0] is not kind:
            raise self.fail(f"Expected {kind.value}, got {token.display}")
        if kind is not KIND_EOF:
            self.pos += 1
        return token

    def identifier(self) -> str:
        """A declaration name: keywords are reported as reserved but still accepted."""
        token = self.tokens[self.pos]
        kind = token[0]
        if kind is KIND_IDENTIFIER:
            self.pos += 1
            return token[1]
        if kind is KIND_KEYWORD:
            self.error(f"Reserved word '{token[1]}' cannot be used as an identifier", token)
            self.pos += 1
            return token[1]
        raise self.fail(f"Expected {KIND_IDENTIFIER.value}, got {token.display}")

    def name(self) -> str:
        """An identifier or keyword (member names, object keys, config keys...)."""
        token = self.tokens[self.pos]
        kind = token[0]
        if kind is KIND_IDENTIFIER or kind is KIND_KEYWORD:
            self.pos += 1
            return token[1]
        raise self.fail(f"Expected identifier, got {token.display}")

    def any_value(self) -> str:
        """Any single token's value (types, store targets, transition states...)."""
        return self.advance().value

    # ------------------------------------------------------------------ diagnostics
    def error(self, message: str, token: Token | None = None) -> None:
        token = token or self.tok
        self.diagnostics.append(ParserDiagnostic("error", message, token.line, token.column))

    def warning(self, message: str, token: Token | None = None) -> None:
        token = token or self.tok
        self.diagnostics.append(ParserDiagnostic("warning", message, token.line, token.column))

    def synchronize(self) -> None:
        self.advance()
        tokens = self.tokens
        while tokens[self.pos].kind is not KIND_EOF and tokens[self.pos].value not in SYNC_VALUES:
            self.pos += 1

    # ------------------------------------------------------------------ nodes
    @staticmethod
    def node(cls: type[N], anchor: Token | ast.Node, **fields: Any) -> N:
        """The one constructor of syntax nodes: records the position of ``anchor``.

        ``anchor`` is the node's first token, or the node it starts with (a binary expression
        starts where its left operand starts). Hot paths call ``node_maker(cls)`` directly,
        which skips this call and its keyword dict.
        """
        return node_maker(cls)(anchor, **fields)


_MAKERS: dict[type, Callable[..., Any]] = {}


def node_maker(cls: type[N]) -> Callable[..., N]:
    """The constructor of ``cls`` nodes: ``make(anchor, *, field=value, ...)``.

    Nodes are frozen slotted dataclasses; the generated maker fills the slots through their
    descriptors, about three times cheaper than the dataclass ``__init__`` (which goes through
    ``object.__setattr__`` by name), and that shows on models with hundreds of thousands of nodes.
    """
    maker = _MAKERS.get(cls)
    if maker is None:
        maker = _MAKERS[cls] = _maker_for(cls)
    return maker


def _maker_for(cls: type) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params: list[str] = []
    body = ["    obj = _new(_cls)", "    _s_line(obj, anchor.line)", "    _s_column(obj, anchor.column)"]
    for f in dataclasses.fields(cls):
        namespace[f"_s_{f.name}"] = getattr(cls, f.name).__set__
        if f.name in ("line", "column"):
            continue
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: syntax nodes may not use default factories")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        body.append(f"    _s_{f.name}(obj, {f.name})")
    signature = ", ".join(["anchor", "*", *params]) if params else "anchor"
    source = "\n".join([f"def make({signature}):", *body, "    return obj"])
    exec(source, namespace)  # noqa: S102 - generated from dataclass fields only
    maker: Callable[..., Any] = namespace["make"]
    return maker
