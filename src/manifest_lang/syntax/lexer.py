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

_SCANNER = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
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
    """,
    re.VERBOSE | re.DOTALL,
)

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
    """Tokenize ``source`` (CRLF is normalised first). Never raises."""
    text = normalise_newlines(source)
    tokens: list[Token] = []
    result = LexResult(tokens)
    line, col = 1, 1
    append = tokens.append
    for match in _SCANNER.finditer(text):
        group = match.lastgroup
        lexeme = match.group()
        start_col = col
        if group == "ws":
            col += len(lexeme)
        elif group == "nl":
            append(Token(TokenKind.NEWLINE, "\n", line, col, start_col))
            line, col = line + 1, 1
        elif group == "ident":
            col += len(lexeme)
            kind = TokenKind.KEYWORD if lexeme in KEYWORDS else TokenKind.IDENTIFIER
            append(Token(kind, lexeme, line, col, start_col))
        elif group == "number":
            col += len(lexeme)
            append(Token(TokenKind.NUMBER, lexeme, line, col, start_col, number=parse_float(lexeme)))
        elif group == "string":
            col += len(lexeme)  # raw newlines inside do not bump the line (reference quirk)
            closed = len(lexeme) >= 2 and lexeme[-1] == lexeme[0] and not _ends_escaped(lexeme)
            body = lexeme[1:-1] if closed else lexeme[1:]
            append(Token(TokenKind.STRING, _unescape(body), line, col, start_col, unterminated=not closed))
        elif group in ("template", "block_comment"):
            line, col = _advance_multiline(lexeme, line, col)
            if group == "template":
                closed = len(lexeme) >= 2 and lexeme.endswith("`")
                body = lexeme[1:-1] if closed else lexeme[1:]
                append(Token(TokenKind.STRING, body, line, col, start_col, unterminated=not closed))
        elif group in ("op2", "op1"):
            append(Token(TokenKind.OPERATOR, lexeme, line, col, start_col))
            col += len(lexeme)
        elif group == "punct":
            append(Token(TokenKind.PUNCTUATION, lexeme, line, col, start_col))
            col += 1
        elif group == "line_comment":
            col += len(lexeme)
        else:  # unknown character: dropped silently, like the reference
            if lexeme == "#":
                result.hashes.append((line, col))
            else:
                result.dropped.append((line, col, lexeme))
            col += 1
    append(Token(TokenKind.EOF, "", line, col, col))
    return result


def _ends_escaped(lexeme: str) -> bool:
    """True when the final quote is escaped (so the string is actually unterminated)."""
    backslashes = len(lexeme) - 1 - len(lexeme[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def _advance_multiline(lexeme: str, line: int, col: int) -> tuple[int, int]:
    newlines = lexeme.count("\n")
    if not newlines:
        return line, col + len(lexeme)
    return line + newlines, len(lexeme) - lexeme.rfind("\n")
