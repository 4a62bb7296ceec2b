"""Expression grammar: one method per precedence level (lowest first).

A NEWLINE token ends an expression everywhere except between object-literal entries, exactly
like the reference; the seed-syntax extension for ternaries continued over lines lives in
``ternary`` and only applies when the reference would have failed.
"""

from __future__ import annotations

from . import ast
from .parser_base import ParserBase, node_maker
from .tokens import (
    KEYWORD_KINDS,
    KIND_IDENTIFIER,
    KIND_KEYWORD,
    KIND_NEWLINE,
    KIND_NUMBER,
    KIND_OPERATOR,
    KIND_PUNCTUATION,
    KIND_STRING,
)

# Node constructors of the hot paths (see ``node_maker``).
_new_binary = node_maker(ast.Binary)
_new_call = node_maker(ast.Call)
_new_conditional = node_maker(ast.Conditional)
_new_identifier = node_maker(ast.Identifier)
_new_literal = node_maker(ast.Literal)
_new_member = node_maker(ast.Member)
_new_object_lit = node_maker(ast.ObjectLit)
_new_unary = node_maker(ast.Unary)

# operator tables per level; matched on the token VALUE (the reference does not check the kind)
EQUALITY_OPS = frozenset(["==", "!=", "is", "in", "contains"])
COMPARISON_OPS = frozenset(["<", ">", "<=", ">="])
ADDITIVE_OPS = frozenset(["+", "-"])
MULTIPLICATIVE_OPS = frozenset(["*", "/", "%"])
UNARY_OPS = frozenset(["!", "-", "not"])
OR_OPS = frozenset(["||", "or"])
AND_OPS = frozenset(["&&", "and"])
#: binary operator → precedence level (higher binds tighter); the table of the six levels above
PRECEDENCE: dict[str, int] = {
    **dict.fromkeys(OR_OPS, 1),
    **dict.fromkeys(AND_OPS, 2),
    **dict.fromkeys(EQUALITY_OPS, 3),
    **dict.fromkeys(COMPARISON_OPS, 4),
    **dict.fromkeys(ADDITIVE_OPS, 5),
    **dict.fromkeys(MULTIPLICATIVE_OPS, 6),
}
AND_LEVEL = 2
EXPRESSION_KEYWORDS = frozenset(["user", "self", "context"])
LITERAL_KEYWORDS = {"true": True, "false": False, "null": None}


_POSTFIX = frozenset([".", "?.", "(", "["])
_AGGREGATES = frozenset(["count", "sum"])
# tokens that can never continue an expression after a primary (shortcut in ``expression``)
_ENDERS = frozenset(["\n", ")", ",", "}", "]", ""])
_SIMPLE = (KIND_IDENTIFIER, KIND_NUMBER, KIND_STRING)


class ExpressionParser(ParserBase):
    def expression(self) -> ast.Expr:
        # Shortcut for the common lone operand (`mutate x = v`, call arguments): one token
        # followed by a token that ends every expression level gives the same tree as the full
        # descent through the precedence levels, which costs a dozen calls.
        tokens, pos = self.tokens, self.pos
        token, follower = tokens[pos], tokens[pos + 1] if pos + 1 < len(tokens) else tokens[-1]
        if (
            token[0] in _SIMPLE
            and follower[1] in _ENDERS
            and follower[0] is not KIND_STRING
            and not (token[1] in ("count", "sum") and token[0] is KIND_IDENTIFIER)
            and token[1] not in UNARY_OPS
            and not (self.in_computed and follower[0] is KIND_NEWLINE)
        ):
            return self.primary()
        return self.ternary()

    def ternary(self) -> ast.Expr:
        condition = self.binary()
        token = self.tokens[self.pos]
        if token[1] != "?" and token[0] is not KIND_NEWLINE:
            return condition
        if not self.at("?") and not self._continued_ternary():
            return condition
        self.advance()
        self._skip_continuation()
        consequent = self.ternary()
        if not self.at(":") and self._continued_line(":"):
            self.skip_newlines()
        self.expect(":")
        self._skip_continuation()
        alternate = self.ternary()
        return _new_conditional(condition, condition=condition, consequent=consequent, alternate=alternate)

    # -- seed extension: `cond\n  ? a\n  : b` and `cond ?\n a :\n b` -----------------------------
    def _continued_line(self, value: str) -> bool:
        """A newline run followed by ``value`` (only in extended mode)."""
        if not self.extended or not self.at_newline():
            return False
        offset = 0
        while self.peek(offset).kind is KIND_NEWLINE:
            offset += 1
        follower = self.peek(offset)
        return follower.value == value and follower.kind is KIND_OPERATOR

    def _continued_ternary(self) -> bool:
        # Only in a computed body: elsewhere the reference silently ends the expression at the
        # newline (and then skips or re-parses what follows), so continuing would change meaning.
        if self.in_computed and self._continued_line("?"):
            self.skip_newlines()
            return True
        return False

    def _skip_continuation(self) -> None:
        if self.extended and self.at_newline():
            self.skip_newlines()

    # -- binary levels ----------------------------------------------------------------------------
    def binary(self, min_precedence: int = 1) -> ast.Expr:
        """The six left-associative binary levels, by precedence climbing over ``PRECEDENCE``.

        Same trees as one method per level (or < and < equality < comparison < additive <
        multiplicative), at a fraction of the calls per operand.
        """
        tokens = self.tokens
        left = self._operand()
        precedence_of = PRECEDENCE.get
        while True:
            token = tokens[self.pos]
            precedence = precedence_of(token[1])
            if precedence is None or precedence < min_precedence:
                return left
            if precedence <= AND_LEVEL and token[0] is KIND_STRING:
                return left  # `or`/`and` need a real operator token; the other levels match by value
            pos = self.pos + 1
            # A lone name or number as the right operand, followed by an operator that binds no
            # tighter (or by none), is what ``self.binary(precedence + 1)`` would return: built
            # here without its two calls (chains like `a > 0 and b > 1 and ...` are mostly this).
            operand = tokens[pos]
            kind = operand[0]
            if kind is KIND_IDENTIFIER or kind is KIND_NUMBER:
                follower = tokens[pos + 1]  # a word or number is never the last token (EOF is)
                tighter = precedence_of(follower[1])
                if (
                    (tighter is None or tighter <= precedence)
                    and (follower[1] not in _POSTFIX or follower[0] is KIND_STRING)
                    and operand[1] not in _AGGREGATES
                ):
                    self.pos = pos + 1
                    if kind is KIND_NUMBER:
                        right: ast.Expr = _new_literal(operand, value=operand[4])
                    else:
                        right = _new_identifier(operand, name=operand[1])
                    left = _new_binary(left, operator=token[1], left=left, right=right)
                    continue
            self.pos = pos
            right = self.binary(precedence + 1)
            left = _new_binary(left, operator=token[1], left=left, right=right)

    def _operand(self) -> ast.Expr:
        """A binary operand. Most are a lone name or number, built here without the two calls
        through ``postfix`` and ``primary`` (same node; anything else takes the full path)."""
        tokens, pos = self.tokens, self.pos
        token = tokens[pos]
        kind = token[0]
        if kind is KIND_IDENTIFIER or kind is KIND_NUMBER:
            follower = tokens[pos + 1]  # a word or number is never the last token (EOF is)
            if (follower[1] not in _POSTFIX or follower[0] is KIND_STRING) and token[1] not in _AGGREGATES:
                self.pos = pos + 1
                if kind is KIND_NUMBER:
                    return _new_literal(token, value=token[4])
                return _new_identifier(token, name=token[1])
        return self.unary() if token[1] in UNARY_OPS else self.postfix()

    def unary(self) -> ast.Expr:
        if self.tokens[self.pos][1] in UNARY_OPS:
            start = self.advance()
            return _new_unary(start, operator=start.value, operand=self.unary())
        return self.postfix()

    def postfix(self) -> ast.Expr:
        tokens = self.tokens
        start = tokens[self.pos]
        expr = self.primary()
        while True:
            token = tokens[self.pos]
            value = token[1]
            if value not in _POSTFIX or token[0] is KIND_STRING:
                return expr
            self.pos += 1
            if value == "(":
                expr = _new_call(start, callee=expr, args=self._arguments())
            elif value == "[":
                index = self.expression()
                self.expect("]")
                expr = _new_member(start, object=expr, property=_index_property(index))
            else:  # "." or "?."
                expr = _new_member(start, object=expr, property=self.name())

    def _arguments(self) -> tuple[ast.Expr, ...]:
        args: list[ast.Expr] = []
        while not self.at(")") and not self.at_eof():
            args.append(self.expression())
            self.accept(",")
        self.expect(")")
        return tuple(args)

    # -- primary ----------------------------------------------------------------------------------
    def primary(self) -> ast.Expr:
        token = self.tokens[self.pos]
        kind = token[0]
        if kind is KIND_IDENTIFIER and token[1] not in ("count", "sum"):
            self.pos += 1
            return _new_identifier(token, name=token[1])
        if kind is KIND_NUMBER:
            self.pos += 1
            return _new_literal(token, value=token.number)
        if kind is KIND_STRING:
            self.pos += 1
            return _new_literal(token, value=token.value)
        if kind is KIND_KEYWORD and token.value in LITERAL_KEYWORDS:
            self.advance()
            return _new_literal(token, value=LITERAL_KEYWORDS[token.value])
        if kind is KIND_IDENTIFIER:
            if token.value in ("count", "sum") and self._is_aggregate():
                return self.aggregate()
            self.advance()
            return _new_identifier(token, name=token.value)
        if kind is KIND_KEYWORD and token.value in EXPRESSION_KEYWORDS:
            self.advance()
            return _new_identifier(token, name=token.value)
        if kind is KIND_PUNCTUATION:
            if token.value == "[":
                return self.array_literal()
            if token.value == "{":
                return self.object_literal()
            if token.value == "(":
                return self.lambda_expression() if self._is_lambda() else self.parenthesised()
        raise self.fail(f"Unexpected: {token.display}")

    def parenthesised(self) -> ast.Expr:
        self.advance()
        inner = self.expression()
        self.expect(")")
        return inner

    def array_literal(self) -> ast.Expr:
        start = self.advance()
        elements: list[ast.Expr] = []
        while not self.at("]") and not self.at_eof():
            elements.append(self.expression())
            self.accept(",")
        self.expect("]")
        return self.node(ast.ArrayLit, start, elements=tuple(elements))

    def object_literal(self) -> ast.ObjectLit:
        start = self.expect("{")
        entries: list[tuple[str, ast.Expr]] = []
        self.skip_newlines()
        while self.in_block():
            if self.at_kind(KIND_STRING):
                key = self.advance().value
            else:
                key = self.name()
            self.expect(":")
            entries.append((key, self.expression()))
            self.accept(",")
            self.skip_newlines()
        self.expect("}")
        return _new_object_lit(start, properties=tuple(entries))

    def _is_lambda(self) -> bool:
        offset = 1
        if self.peek(offset).value == ")":
            return self.peek(offset + 1).value == "=>"
        while self.peek(offset).kind is KIND_IDENTIFIER:
            offset += 1
            if self.peek(offset).value == ",":
                offset += 1
                continue
            if self.peek(offset).value == ")":
                return self.peek(offset + 1).value == "=>"
            return False
        return False

    def lambda_expression(self) -> ast.Expr:
        start = self.advance()
        params: list[str] = []
        while not self.at(")"):
            params.append(self.advance().value)
            self.accept(",")
        self.advance()
        self.expect("=>")
        return self.node(ast.Lambda, start, params=tuple(params), body=self.expression())

    # -- aggregates -------------------------------------------------------------------------------
    def _is_aggregate(self) -> bool:
        return (
            self.peek(1).value == "("
            and self.peek(2).kind is KIND_IDENTIFIER
            and self.peek(3).value == "where"
            and self.peek(3).kind is KIND_KEYWORD
        )

    def aggregate(self) -> ast.Expr:
        start = self.advance()
        op = start.value
        self.advance()  # (
        entity = self.advance().value
        self.advance()  # where
        predicates: list[tuple[str, ast.Expr]] = []
        field: str | None = None
        while not self.at(")") and not self.at_eof():
            if op == "sum" and self.at("of") and self.peek().kind in KEYWORD_KINDS:
                self.advance()
                field = self.name()
            else:
                name = self.name()
                self.expect("==")
                predicates.append((name, self.expression()))
            self.accept(",")
        self.expect(")")
        if op == "sum" and field is None:
            raise self.fail(
                f"sum({entity} where ...) requires 'of <field>' naming the numeric property to sum"
            )
        if not predicates:
            raise self.fail(
                f"{op}({entity} where ...) requires at least one equality predicate (the foreign-key match)"
            )
        return self.node(
            ast.Aggregate, start, op=op, entity=entity, predicates=tuple(predicates), field=field
        )


def _index_property(index: ast.Expr) -> str:
    if isinstance(index, ast.Literal):
        return f"[{js_string(index.value)}]"
    return "[]"


def js_string(value: object) -> str:
    """``String(value)`` for literal values, as JavaScript prints them."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        if value.is_integer() and abs(value) < 1e21:
            # JavaScript's digits: the shortest round-trip ones, padded with zeros (not the exact value)
            mantissa, _, exponent = repr(abs(value)).partition("e")
            if not exponent:
                return str(int(value))  # below 1e16 repr has every digit
            digits = mantissa.replace(".", "")
            return ("-" if value < 0 else "") + digits + "0" * (int(exponent) + 1 - len(digits))
        return repr(value)
    return str(value)
