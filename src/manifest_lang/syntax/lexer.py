"""Source text → tokens, with the reference's exact position conventions.

Positions are quirky on purpose (diagnostics must match the reference): identifiers, keywords,
numbers and strings carry the column *after* their last character; operators, punctuation and
newlines carry their start column. A raw newline inside a quoted string does not advance the line
counter (the reference's behaviour), while template strings and block comments do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .tokens import KEYWORDS, Token, TokenKind

# One match per lexeme: leading blanks are folded into the match so they cost nothing extra.
_SCANNER = re.compile(
    r"""
    [ \t\r]*
    (?:
      (?P<nl>\n)
    | (?P<line_comment>//[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>[0-9][0-9.]*)
    | (?P<string>"(?:\\.|[^"\\])*(?:"|\\?\Z)|'(?:\\.|[^'\\])*(?:'|\\?\Z))
    | (?P<template>`[^`]*`?)
    | (?P<op2>==|!=|<=|>=|&&|\|\||->|=>|\.\.|\?\.)
    | (?P<op1>[-+*/%=<>!?:|&.])
    | (?P<punct>[(){}\[\],;@])
    | (?P<other>.)
    )
    """,
    re.VERBOSE | re.DOTALL,
)

_GROUP_NAMES = {index: name for name, index in _SCANNER.groupindex.items()}
_GROUPS = _SCANNER.groupindex
_IDENT, _NL, _NUMBER, _PUNCT = _GROUPS["ident"], _GROUPS["nl"], _GROUPS["number"], _GROUPS["punct"]
_LINE_COMMENT = _GROUPS["line_comment"]
_OPERATOR_GROUPS = frozenset([_GROUPS["op2"], _GROUPS["op1"], _PUNCT])
_NUMBER_PREFIX = re.compile(r"[0-9]+(?:\.[0-9]*)?")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t"}


def parse_float(text: str) -> float | int:
    """JavaScript ``parseFloat`` of a lexeme made of digits and dots (``1.2.3`` → 1.2)."""
    match = _NUMBER_PREFIX.match(text)
    lexeme = match.group(0) if match else "0"
    value = float(lexeme)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _unescape(body: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


@dataclass
class LexResult:
    tokens: list[Token]
    #: characters the lexer dropped silently (offset, char) — reported by ``manifest lint``
    dropped: list[tuple[int, int, str]] = field(default_factory=list)
    #: ``#`` characters seen (line, column) — the reference has no ``#`` comments
    hashes: list[tuple[int, int]] = field(default_factory=list)


def normalise_newlines(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def tokenize(source: str) -> LexResult:
    """Tokenize ``source`` (CRLF is normalised first). Never raises.

    Columns are ``offset - line_start + 1``; ``line_start`` only moves at a NEWLINE token or
    after a multi-line template/comment, so a raw newline inside a quoted string keeps counting
    columns on the same line, exactly like the reference.
    """
    text = normalise_newlines(source)
    tokens: list[Token] = []
    result = LexResult(tokens)
    line, line_start = 1, 0
    append = tokens.append
    new = tuple.__new__
    keywords = KEYWORDS
    ident_kind, keyword_kind = TokenKind.IDENTIFIER, TokenKind.KEYWORD
    newline_kind, number_kind = TokenKind.NEWLINE, TokenKind.NUMBER
    operator_kind, punct_kind = TokenKind.OPERATOR, TokenKind.PUNCTUATION
    for match in _SCANNER.finditer(text):
        index: int = match.lastindex  # type: ignore[assignment]  # every alternative is a group
        begin, end = match.span(index)
        start_col = begin - line_start + 1
        if index == _IDENT:
            lexeme = text[begin:end]
            kind = keyword_kind if lexeme in keywords else ident_kind
            append(new(Token, (kind, lexeme, line, start_col + end - begin, start_col, None, False)))
        elif index == _NL:
            append(new(Token, (newline_kind, "\n", line, start_col, start_col, None, False)))
            line, line_start = line + 1, end
        elif index in _OPERATOR_GROUPS:
            kind = punct_kind if index == _PUNCT else operator_kind
            append(new(Token, (kind, text[begin:end], line, start_col, start_col, None, False)))
        elif index == _NUMBER:
            lexeme = text[begin:end]
            number = parse_float(lexeme)
            append(new(Token, (number_kind, lexeme, line, start_col + end - begin, start_col, number, False)))
        elif index != _LINE_COMMENT:
            group = _GROUP_NAMES[index]
            line, line_start = _special(group, text, begin, end, line, line_start, result)
    eof_col = len(text) - line_start + 1
    append(Token(TokenKind.EOF, "", line, eof_col, eof_col))
    return result


def _special(
    group: str | None, text: str, begin: int, end: int, line: int, line_start: int, result: LexResult
) -> tuple[int, int]:
    """Strings, templates, block comments and dropped characters; returns the new line state."""
    lexeme = text[begin:end]
    start_col = begin - line_start + 1
    if group == "string":
        closed = len(lexeme) >= 2 and lexeme[-1] == lexeme[0] and not _ends_escaped(lexeme)
        body = lexeme[1:-1] if closed else lexeme[1:]
        result.tokens.append(
            Token(
                TokenKind.STRING,
                _unescape(body),
                line,
                end - line_start + 1 + (not closed),
                start_col,
                unterminated=not closed,
            )
        )
        # the reference consumes a (missing) closing quote, so later columns are one further on
        return line, line_start - (not closed)
    if group in ("template", "block_comment"):
        newlines = lexeme.count("\n")
        if newlines:
            line, line_start = line + newlines, begin + lexeme.rfind("\n") + 1
        if group == "template":
            closed = len(lexeme) >= 2 and lexeme.endswith("`")
            body = lexeme[1:-1] if closed else lexeme[1:]
            result.tokens.append(
                Token(TokenKind.STRING, body, line, end - line_start + 1, start_col, unterminated=not closed)
            )
        return line, line_start
    if lexeme == "#":
        result.hashes.append((line, start_col))
    else:
        result.dropped.append((line, start_col, lexeme))
    return line, line_start


def _ends_escaped(lexeme: str) -> bool:
    """True when the final quote is escaped (so the string is actually unterminated)."""
    backslashes = len(lexeme) - 1 - len(lexeme[:-1].rstrip("\\"))
    return backslashes % 2 == 1
