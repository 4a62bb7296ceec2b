"""Token kinds, the reserved-word table and the token record produced by the lexer."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class TokenKind(StrEnum):
    IDENTIFIER = "IDENTIFIER"
    KEYWORD = "KEYWORD"
    STRING = "STRING"
    NUMBER = "NUMBER"
    OPERATOR = "OPERATOR"
    PUNCTUATION = "PUNCTUATION"
    NEWLINE = "NEWLINE"
    EOF = "EOF"


# The reference reserves exactly these 122 words; a declaration name spelled like one of them is
# an error, so the table must match the reference word for word.
KEYWORDS: frozenset[str] = frozenset(
    """
    entity property behavior constraint flow effect expose compose command module policy store event
    computed derived hasMany hasOne belongsTo ref through on when then emit mutate compute guard
    as from to with where connect returns
    string number boolean list map any void true false null
    required unique indexed private readonly optional searchable encrypted
    rest graphql websocket function server http storage timer custom memory postgres supabase localStorage
    all override allow deny and or not is in contains user self context
    default overrideable failWhen ok warn block versionProperty versionAtProperty transition
    key fields references onDelete onUpdate cascade restrict setNull setDefault noAction
    enum decimal money timestamps cache request session ttl
    run resolve params fanOut match else approval stages timeout async extends use saga
    webhook signature idempotencyHeader transform
    """.split()
)

TWO_CHAR_OPERATORS: frozenset[str] = frozenset(["==", "!=", "<=", ">=", "&&", "||", "->", "=>", "..", "?."])
ONE_CHAR_OPERATORS: frozenset[str] = frozenset("+-*/%=<>!?:|&.")
PUNCTUATION: frozenset[str] = frozenset("(){}[],;@")


class Token(NamedTuple):
    """One lexeme (immutable). ``line``/``column`` follow the reference's convention (see lexer).

    A named tuple rather than a frozen dataclass: the lexer builds one per lexeme and tuple
    construction is several times cheaper, which matters for large models. ``line`` is the last
    field so that the lexer can build a token as ``line-independent prefix + (line,)``.
    """

    kind: TokenKind
    value: str
    column: int
    #: 1-based column where the lexeme starts (for carets and lint; never used in diagnostics)
    start_column: int
    #: numeric value for NUMBER tokens (JS parseFloat of the lexeme)
    number: float | int | None
    #: True when a quoted string reached end of input without its closing quote
    unterminated: bool
    line: int

    @property
    def display(self) -> str:
        """How error messages print this token (EOF prints as ``EOF``)."""
        return "EOF" if self.kind is TokenKind.EOF else self.value


KEYWORD_KINDS = (TokenKind.IDENTIFIER, TokenKind.KEYWORD)

# The kinds as module constants for the parser's hot paths: reading an attribute of an Enum class
# costs ~100 ns (metaclass lookup) against ~10 ns for a global, and a large model tests token
# kinds millions of times.
KIND_IDENTIFIER = TokenKind.IDENTIFIER
KIND_KEYWORD = TokenKind.KEYWORD
KIND_STRING = TokenKind.STRING
KIND_NUMBER = TokenKind.NUMBER
KIND_OPERATOR = TokenKind.OPERATOR
KIND_PUNCTUATION = TokenKind.PUNCTUATION
KIND_NEWLINE = TokenKind.NEWLINE
KIND_EOF = TokenKind.EOF
