"""Lexer edge cases: positions, numbers, strings, comments and dropped characters."""

from __future__ import annotations

from manifest_lang.syntax.lexer import parse_float, tokenize
from manifest_lang.syntax.tokens import TokenKind


def kinds_values(source: str) -> list[tuple[str, str]]:
    return [(t.kind.value, t.value) for t in tokenize(source).tokens]


def test_word_tokens_carry_the_column_after_their_last_char() -> None:
    tokens = tokenize("entity entity {").tokens
    assert (tokens[0].line, tokens[0].column) == (1, 7)
    assert (tokens[1].line, tokens[1].column) == (1, 14)
    assert tokens[2].kind is TokenKind.PUNCTUATION and tokens[2].column == 15


def test_operators_and_newlines_carry_their_start_column() -> None:
    tokens = tokenize("a == b\n").tokens
    assert [(t.value, t.column) for t in tokens] == [("a", 2), ("==", 3), ("b", 7), ("\n", 7), ("", 1)]
    assert tokens[-1].line == 2


def test_two_char_operators_win_and_there_are_no_three_char_operators() -> None:
    assert [v for _, v in kinds_values("!== &&& ?.")][:-1] == ["!=", "=", "&&", "&", "?."]


def test_number_lexeme_spans_dots_and_takes_parse_float() -> None:
    token = tokenize("1.2.3").tokens[0]
    assert token.kind is TokenKind.NUMBER and token.value == "1.2.3" and token.number == 1.2
    assert parse_float("12.") == 12 and isinstance(parse_float("12."), int)


def test_string_escapes() -> None:
    assert tokenize(r'"a\nb\tc\\d\"e\q"').tokens[0].value == 'a\nb\tc\\d"eq'
    assert tokenize("'single'").tokens[0].value == "single"


def test_unterminated_string_runs_to_end_without_error() -> None:
    token = tokenize('"abc').tokens[0]
    assert token.value == "abc" and token.unterminated


def test_raw_newline_in_quoted_string_does_not_advance_line() -> None:
    tokens = tokenize('"a\nb" x').tokens
    assert tokens[1].value == "x" and tokens[1].line == 1


def test_template_string_is_raw_and_counts_lines() -> None:
    tokens = tokenize("`a\\n\nb` x").tokens
    assert tokens[0].kind is TokenKind.STRING and tokens[0].value == "a\\n\nb"
    assert tokens[1].line == 2


def test_comments_and_crlf() -> None:
    tokens = tokenize("a // c\r\n/* x\n y */ b").tokens
    assert [(t.value, t.line) for t in tokens if t.kind is TokenKind.IDENTIFIER] == [("a", 1), ("b", 3)]


def test_hash_and_unknown_characters_are_dropped_but_recorded() -> None:
    result = tokenize("# note $x")
    assert [t.value for t in result.tokens if t.kind is TokenKind.IDENTIFIER] == ["note", "x"]
    assert result.hashes == [(1, 1)] and result.dropped == [(1, 8, "$")]


def test_keywords_versus_contextual_words() -> None:
    assert kinds_values("entity value tenant key")[:4] == [
        ("KEYWORD", "entity"),
        ("IDENTIFIER", "value"),
        ("IDENTIFIER", "tenant"),
        ("KEYWORD", "key"),
    ]


def test_eof_position_after_trailing_newline() -> None:
    eof = tokenize("a\n").tokens[-1]
    assert eof.kind is TokenKind.EOF and (eof.line, eof.column) == (2, 1) and eof.display == "EOF"


def test_line_cached_fast_path_matches_the_whole_text_lexer(conformance_dir) -> None:
    from manifest_lang.syntax.lexer import _tokenize_by_line, _tokenize_text

    sources = [f.read_text(encoding="utf-8") for f in sorted(conformance_dir.glob("fixtures/*.manifest"))]
    sources += ["", "\n", "a\n\n  b  ", "x = 1.2.3 'q\\'' \"e\\\\\" // c\n}\n}\n", "é @ ; a\\b\n"]
    fast = 0
    for source in sources:
        tokens = _tokenize_by_line(source)
        if tokens is not None:
            fast += 1
            assert tokens == _tokenize_text(source).tokens
    assert fast >= len(sources) // 2  # the fast path applies to ordinary models


def test_fast_path_declines_sources_whose_lexemes_may_span_lines() -> None:
    from manifest_lang.syntax.lexer import _tokenize_by_line

    for source in ['"a\nb" x', "/* a\n b */ c", "`t\n`", "a # b", 'x "open']:
        assert _tokenize_by_line(source) is None
        assert tokenize(source).tokens[-1].kind is TokenKind.EOF


def test_long_lines_flag_covers_every_number_past_the_largest_double() -> None:
    """The parser looks for 309+-digit literals only when the lexer saw a line that long."""
    digits = "9" * 309
    assert not tokenize("entity A {\n  property n: number = 12345\n}\n").has_long_lines
    for source in (f"x = {digits}\n", f"/* c */ x = {digits}", f"a\r\n{digits}"):
        lexed = tokenize(source)
        assert lexed.has_long_lines
        assert any(t.kind is TokenKind.NUMBER and t.number == float("inf") for t in lexed.tokens)
    assert not tokenize("/* c */\n" + "1 " * 100).has_long_lines
