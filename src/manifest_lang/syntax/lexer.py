"""Source text → tokens, with the reference's exact position conventions.

Positions are quirky on purpose (diagnostics must match the reference): identifiers, keywords,
numbers and strings carry the column *after* their last character; operators, punctuation and
newlines carry their start column. A raw newline inside a quoted string does not advance the line
counter (the reference's behaviour), while template strings and block comments do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .tokens import (
    KEYWORDS,
    KIND_EOF,
    KIND_IDENTIFIER,
    KIND_KEYWORD,
    KIND_NEWLINE,
    KIND_NUMBER,
    KIND_OPERATOR,
    KIND_PUNCTUATION,
    KIND_STRING,
    Token,
    TokenKind,
)

# One match per lexeme: (leading blanks, lexeme). The lexeme's first character then decides its
# kind, so the per-token work in Python is a dict lookup and a tuple.
_PAIRS = re.compile(
    r"""([ \t\r]*)(
      [A-Za-z_][A-Za-z0-9_]*
    | [0-9][0-9.]*
    | \n
    | //[^\n]*
    | /\*.*?(?:\*/|\Z)
    | "(?:\\.|[^"\\])*(?:"|\\?\Z)|'(?:\\.|[^'\\])*(?:'|\\?\Z)
    | `[^`]*`?
    | ==|!=|<=|>=|&&|\|\||->|=>|\.\.|\?\.
    | .
    )""",
    re.VERBOSE | re.DOTALL,
)
_IDENT, _NUM, _NL, _OP, _PUNCT, _STR, _TPL, _SLASH, _OTHER = range(9)
_FIRST: dict[str, int] = {
    **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", _IDENT),
    **dict.fromkeys("0123456789", _NUM),
    **dict.fromkeys("+-*%=<>!?:|&.", _OP),
    **dict.fromkeys("(){}[],;@", _PUNCT),
    "\n": _NL,
    '"': _STR,
    "'": _STR,
    "`": _TPL,
    "/": _SLASH,
}

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
    if "\\" not in body:
        return body
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


@dataclass
class LexResult:
    tokens: list[Token]
    #: characters the lexer dropped silently (offset, char) — reported by ``manifest lint``
    dropped: list[tuple[int, int, str]] = field(default_factory=list)
    #: ``#`` characters seen (line, column) — the reference has no ``#`` comments
    hashes: list[tuple[int, int]] = field(default_factory=list)
    #: some line is at least ``LONG_LINE`` characters long, so it may hold a number literal past
    #: the largest double (309+ digits, JavaScript's Infinity); otherwise none can (a number
    #: lexeme never spans lines) and the parser need not look for one
    has_long_lines: bool = True


#: the fewest characters of a line that can hold a number literal past the largest double
LONG_LINE = 309


def normalise_newlines(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def tokenize(source: str) -> LexResult:
    """Tokenize ``source`` (CRLF is normalised first). Never raises.

    Columns are ``offset - line_start + 1``; ``line_start`` only moves at a NEWLINE token or
    after a multi-line template/comment, so a raw newline inside a quoted string keeps counting
    columns on the same line, exactly like the reference.
    """
    text = normalise_newlines(source)
    lines: set[str] = set()
    tokens = _tokenize_by_line(text, lines)
    if tokens is not None:
        return LexResult(tokens, has_long_lines=any(len(line) >= LONG_LINE for line in lines))
    result = _tokenize_text(text)
    result.has_long_lines = max(map(len, text.split("\n"))) >= LONG_LINE
    return result


def _tokenize_by_line(text: str, distinct: set[str] | None = None) -> list[Token] | None:
    """The fast path: lex each distinct line once, then stamp the line number on its tokens.

    Models repeat lines heavily (``}``, ``guard delta > 0``, blank lines...), and when no lexeme
    spans a newline a token depends only on its line's text and number. Returns None when some
    line may not lex on its own (a block comment or template marker, an unterminated string,
    which may continue on the next line) or when it has characters lint must report (``#``,
    dropped characters); the whole-text lexer handles those sources. ``distinct`` receives the
    distinct lines.
    """
    if "/*" in text or "`" in text:
        return None
    templates: dict[str, tuple[tuple[object, ...], ...]] = {}
    tokens: list[Token] = []
    append, new = tokens.append, tuple.__new__
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        template = templates.get(line)
        if template is None:
            template = _line_template(line)
            if template is None:
                return None
            templates[line] = template
        # a token is its line-independent fields plus ``(line,)`` (a plain loop measured faster
        # than map()/extend() here: lines are short)
        line_field = (number,)
        for fields in template:
            append(new(Token, fields + line_field))
    if distinct is not None:
        distinct.update(templates)
    tokens.pop()  # the last line has no NEWLINE token; it gets EOF instead
    end = len(lines[-1]) + 1
    tokens.append(Token(KIND_EOF, "", end, end, None, False, len(lines)))
    return tokens


Fields = tuple[TokenKind, str, int, int, float | int | None, bool]
"""A token without its line: (kind, value, column, start_column, number, unterminated)."""


def _line_template(line: str) -> tuple[Fields, ...] | None:
    """The tokens of one line without their line field, ending with its NEWLINE token."""
    fields: list[Fields] = []
    append, first, offset = fields.append, _FIRST, 0
    for blanks, tok in _PAIRS.findall(line):
        begin = offset + len(blanks)
        offset = begin + len(tok)
        kind = first.get(tok[0], _OTHER)
        token = _plain(kind, tok, begin + 1)
        if token is not None:
            append(token)
        elif kind == _STR:
            token = _string(tok, begin + 1)
            if token[5]:  # unterminated: the string may go on over the next lines
                return None
            append(token)
        elif kind != _SLASH:  # a line comment is dropped; templates, '#' and others need the text lexer
            return None
    end = len(line) + 1
    append((KIND_NEWLINE, "\n", end, end, None, False))
    return tuple(fields)


def _plain(kind: int, tok: str, col: int) -> Fields | None:
    """Words, numbers, operators and punctuation (None for anything else).

    Words and numbers carry the column after their last character, the others their start.
    """
    if kind == _IDENT:
        return (KIND_KEYWORD if tok in KEYWORDS else KIND_IDENTIFIER, tok, col + len(tok), col, None, False)
    if kind == _OP or (kind == _SLASH and len(tok) == 1):
        return (KIND_OPERATOR, tok, col, col, None, False)
    if kind == _PUNCT:
        return (KIND_PUNCTUATION, tok, col, col, None, False)
    if kind == _NUM:
        return (KIND_NUMBER, tok, col + len(tok), col, parse_float(tok), False)
    return None


def _string(tok: str, col: int) -> Fields:
    """A quoted string; unterminated, the reference consumes a missing closing quote (one more column)."""
    size = len(tok)
    closed = size >= 2 and tok[-1] == tok[0] and not _ends_escaped(tok)
    body = tok[1:-1] if closed else tok[1:]
    return (KIND_STRING, _unescape(body), col + size + (not closed), col, None, not closed)


def _tokenize_text(text: str) -> LexResult:
    """Lex normalised text as a whole (any input; the fast path falls back to this)."""
    tokens: list[Token] = []
    result = LexResult(tokens)
    append, new, first = tokens.append, tuple.__new__, _FIRST
    line, line_start, offset = 1, 0, 0
    for blanks, tok in _PAIRS.findall(text):
        begin = offset + len(blanks)
        offset = begin + len(tok)
        col = begin - line_start + 1
        kind = first.get(tok[0], _OTHER)
        fields = _plain(kind, tok, col)
        if fields is not None:
            append(new(Token, (*fields, line)))
        elif kind == _NL:
            append(Token(KIND_NEWLINE, "\n", col, col, None, False, line))
            line, line_start = line + 1, offset
        else:
            line, line_start = _special(kind, tok, begin, line, line_start, result)
    eof_col = len(text) - line_start + 1
    append(Token(KIND_EOF, "", eof_col, eof_col, None, False, line))
    return result


def _special(
    kind: int, tok: str, begin: int, line: int, line_start: int, result: LexResult
) -> tuple[int, int]:
    """Strings, templates, comments and dropped characters; returns the new (line, line_start)."""
    col = begin - line_start + 1
    size = len(tok)
    if kind == _STR:
        fields = _string(tok, col)
        result.tokens.append(Token(*fields, line))
        return line, line_start - fields[5]  # unterminated: the missing quote's column (above)
    if kind in (_TPL, _SLASH):  # template string, block or line comment
        newlines = tok.count("\n")
        if newlines:
            line, line_start = line + newlines, begin + tok.rfind("\n") + 1
        if kind == _TPL:
            closed = size >= 2 and tok.endswith("`")
            body = tok[1:-1] if closed else tok[1:]
            end_col = begin + size - line_start + 1
            result.tokens.append(Token(KIND_STRING, body, end_col, col, None, not closed, line))
        return line, line_start
    if tok == "#":
        result.hashes.append((line, col))
    else:
        result.dropped.append((line, col, tok))
    return line, line_start


def _ends_escaped(lexeme: str) -> bool:
    """True when the final quote is escaped (so the string is actually unterminated)."""
    backslashes = len(lexeme) - 1 - len(lexeme[:-1].rstrip("\\"))
    return backslashes % 2 == 1
