"""Parser edge cases: precedence, quirks kept for conformance, error recovery, seed extensions."""

from __future__ import annotations

from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source
from manifest_lang.compiler.exprs import lower_expr
from manifest_lang.syntax import ast
from manifest_lang.syntax.lexer import tokenize
from manifest_lang.syntax.parser import Parser, parse


def expr(text: str, extended: bool = True) -> dict[str, Any]:
    parser = Parser(tokenize(text).tokens)
    parser.extended = extended
    return lower_expr(parser.expression())


def errors(source: str) -> list[tuple[str, int | None, int | None]]:
    return [(d.message, d.line, d.column) for d in parse(source).diagnostics if d.severity == "error"]


def test_precedence_multiplication_binds_tighter_than_addition() -> None:
    tree = expr("1 + 2 * 3")
    assert tree["operator"] == "+" and tree["right"]["operator"] == "*"


def test_binary_operators_are_left_associative() -> None:
    tree = expr("a - b - c")
    assert tree["left"]["operator"] == "-" and tree["right"] == {"kind": "identifier", "name": "c"}


def test_operator_text_is_kept_verbatim() -> None:
    assert expr("a and not b")["operator"] == "and"
    assert expr("a and not b")["right"] == {
        "kind": "unary",
        "operator": "not",
        "operand": {"kind": "identifier", "name": "b"},
    }
    assert expr("x is not empty")["operator"] == "is"


def test_ternary_is_right_associative() -> None:
    tree = expr("a ? b : c ? d : e")
    assert tree["kind"] == "conditional" and tree["alternate"]["kind"] == "conditional"


def test_postfix_member_call_and_index() -> None:
    assert expr("a.b?.c")["property"] == "c"
    call = expr('self.tags.contains("x")')
    assert call["kind"] == "call" and call["callee"]["property"] == "contains"
    assert expr("a[0]")["property"] == "[0]" and expr("a[i]")["property"] == "[]"


def test_lambda_and_object_literal() -> None:
    assert expr("(x, y) => x + y")["params"] == ["x", "y"]
    obj = expr("{ entity: 1, 'k': 2 }")
    assert [p["key"] for p in obj["properties"]] == ["entity", "k"]


def test_aggregates_need_where_otherwise_plain_calls() -> None:
    agg = expr("sum(Line where orderId == self.id, of qty)")
    assert agg["kind"] == "aggregate" and agg["field"] == "qty" and agg["predicates"][0]["field"] == "orderId"
    assert expr("sum(items)")["kind"] == "call"


def test_keywords_in_expression_position() -> None:
    assert expr("context.entity")["property"] == "entity"
    with pytest.raises(Exception, match="Unexpected: event"):
        expr("event.x")


def test_newline_ends_expression_and_multiline_ternary_extension() -> None:
    assert errors("entity A {\n  computed x: number = 1 +\n  2\n}\n") == [("Unexpected: \n", 2, 27)]
    assert expr("a > 0\n  ? 1\n  : 2")["kind"] == "binary"  # outside a computed: the reference's rule
    program = parse(
        "entity A {\n  property a: number = 0\n  computed c = a > 0\n    ? 1\n    : 2\n}\n"
    ).program
    assert isinstance(program.entities[0].computed[0].expression, ast.Conditional)
    assert expr("a ?\n 1 :\n 2")["kind"] == "conditional"  # a break after ? or : is an error in the reference


def test_reserved_word_as_name_reports_and_continues() -> None:
    assert errors("entity key {\n}\n") == [("Reserved word 'key' cannot be used as an identifier", 1, 11)]


def test_recovery_reports_several_errors() -> None:
    source = "entity A {\n  property x string\n}\nentity B {\n  property y number\n}\n"
    assert [m for m, _, _ in errors(source)] == ["Expected :, got string", "Expected :, got number"]


def test_modifier_after_type_is_silently_dropped() -> None:
    program = parse("entity A {\n  property t: string required\n}\n").program
    assert program.entities[0].properties[0].modifiers == ()


def test_guard_message_becomes_compute_action() -> None:
    program = parse('entity A {\n  command c() {\n    guard 1 > 0 "msg"\n  }\n}\n').program
    action = program.entities[0].commands[0].actions[0]
    assert action.kind == "compute" and isinstance(action.expression, ast.Literal)


def test_policy_message_on_next_line_is_dropped() -> None:
    program = parse('policy p execute:\n  user.id != null\n  "ignored"\n').program
    assert program.policies[0].message is None


def test_value_object_rejects_non_property_members() -> None:
    assert errors("value V {\n  command x() {}\n}\n")[0][0].startswith(
        "Unexpected token 'command' in value object"
    )


def test_map_key_must_be_string() -> None:
    msgs = [m for m, _, _ in errors("entity A {\n  property m: map<number, string>\n}\n")]
    assert msgs == ["map key type must be string (got number); use map<V> or map<string, V>"]


def test_array_type_suffix() -> None:
    prop = parse("entity A {\n  property t: string?[]\n}\n").program.entities[0].properties[0]
    assert prop.type.name == "array" and prop.type.nullable and prop.type.generic is not None
    assert prop.type.generic.name == "string" and not prop.type.generic.nullable


def test_seed_mutate_self_target_and_untyped_computed() -> None:
    source = (
        "entity A {\n  property n: number = 0\n  computed big = self.n > 10\n"
        "  command bump() {\n    mutate self.n = self.n + 1\n  }\n}\nstore A in memory\n"
    )
    result = compile_source(source)
    assert result.ok, result.diagnostics
    assert result.ir is not None
    entity = result.ir["entities"][0]
    assert entity["computedProperties"][0]["type"] == {"name": "boolean", "nullable": False}
    assert result.ir["commands"][0]["actions"][0]["target"] == "n"


def test_reference_syntax_guard_on_computed_keeps_the_error() -> None:
    source = (
        "entity A {\n  property n: number = 0\n  computed big: boolean = n > 10\n"
        "  command c() {\n    guard self.big\n  }\n}\n"
    )
    messages = [d.message for d in compile_source(source).diagnostics]
    assert messages[0].startswith("Guard on command 'A.c' references computed property 'big'")


def test_node_maker_builds_the_same_frozen_node_as_the_dataclass() -> None:
    import dataclasses

    from manifest_lang.syntax.parser_base import node_maker
    from manifest_lang.syntax.tokens import Token, TokenKind

    anchor = Token(TokenKind.IDENTIFIER, "x", 4, 3, None, False, 7)
    made = node_maker(ast.TypeRef)(anchor, name="string", nullable=True)
    assert made == ast.TypeRef(line=7, column=4, name="string", nullable=True)  # defaults filled
    assert node_maker(ast.TypeRef) is node_maker(ast.TypeRef)  # generated once per class
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "number"  # type: ignore[misc]
    with pytest.raises(TypeError):
        node_maker(ast.Identifier)(anchor)  # a required field is missing
