"""Type references, properties and relationships (entity members that describe data)."""

from __future__ import annotations

from . import ast
from .expressions import ExpressionParser
from .parser_base import node_maker
from .tokens import KEYWORD_KINDS, KIND_IDENTIFIER, KIND_KEYWORD, KIND_NUMBER

# Node constructors of the hot paths (see ``node_maker``).
_new_computed = node_maker(ast.Computed)
_new_property = node_maker(ast.Property)
_new_type_ref = node_maker(ast.TypeRef)

PROPERTY_MODIFIERS = frozenset(
    ["required", "unique", "indexed", "private", "readonly", "optional", "searchable", "encrypted"]
)
RELATIONSHIP_KINDS = frozenset(["hasMany", "hasOne", "belongsTo", "ref"])


class TypeParser(ExpressionParser):
    def type_ref(self) -> ast.TypeRef:
        start = self.tok
        name = self.any_value()
        params: tuple[int | float, int | float] | None = None
        generic: ast.TypeRef | None = None
        if name in ("decimal", "money") and self.at("("):
            self.advance()
            precision = _parse_int(self.any_value())
            self.expect(",")
            self.skip_newlines()
            scale = _parse_int(self.any_value())
            self.expect(")")
            params = (precision, scale)
        if self.at("<"):
            generic = self._generic_arguments(name)
        nullable = self.accept("?")
        ir_name = "map" if name == "record" else name
        if self.at("[") and self.peek().value == "]":
            self.advance()
            self.advance()
            element = _new_type_ref(start, name=ir_name, generic=generic, params=params)
            return _new_type_ref(start, name="array", generic=element, nullable=nullable)
        return _new_type_ref(start, name=ir_name, generic=generic, nullable=nullable, params=params)

    def _generic_arguments(self, name: str) -> ast.TypeRef:
        self.advance()
        first = self.type_ref()
        generic = first
        if name in ("map", "record") and self.accept(","):
            self.skip_newlines()
            second = self.type_ref()
            if first.name != "string" or first.nullable or first.generic is not None:
                self.error(
                    f"{name} key type must be string (got {first.name}); use {name}<V> or {name}<string, V>",
                    self.tok,
                )
            generic = second
        self.expect(">")
        return generic

    # ------------------------------------------------------------------ properties
    def property_decl(self) -> ast.Property:
        start = self.advance()  # 'property'
        modifiers: list[str] = []
        mask: ast.MaskSpec | None = None
        while True:
            token = self.tok
            if token.value in PROPERTY_MODIFIERS and token.kind is KIND_KEYWORD:
                modifiers.append(self.advance().value)
            elif token.value == "masked" and token.kind is KIND_IDENTIFIER and self.peek().value != ":":
                modifiers.append(self.advance().value)
                mask = self._mask_spec(token)
            else:
                break
        name = self.identifier()
        self.expect(":")
        type_ref = self.type_ref()
        default = None
        if self.accept("="):
            default = self.expression()
        if self.at("unmask") and self.peek().value == "when":
            unmask_token = self.advance()
            self.advance()
            condition = self.expression()
            if mask is None:
                self.error(f"'unmask when' requires the 'masked' modifier on property '{name}'", unmask_token)
            else:
                mask = self.node(
                    ast.MaskSpec,
                    unmask_token,
                    strategy=mask.strategy,
                    params=mask.params,
                    unmask_when=condition,
                )
        return _new_property(
            start,
            name=name,
            type=type_ref,
            modifiers=tuple(modifiers),
            default=default,
            mask=mask,
        )

    def _mask_spec(self, token: object) -> ast.MaskSpec:
        start = self.tok
        if not self.at("("):
            return self.node(ast.MaskSpec, start, strategy="redact")
        self.advance()
        strategy = "redact"
        if self.tok.kind in KEYWORD_KINDS:
            strategy = self.advance().value
        else:
            self.error("Expected a masking strategy name after 'masked('")
        params: list[float | int] = []
        while self.accept(","):
            self.skip_newlines()
            if self.tok.kind is KIND_NUMBER:
                params.append(self.advance().number or 0)
            else:
                self.error(f"Masking strategy parameters must be numeric literals, got '{self.tok.display}'")
                self.advance()
        self.expect(")")
        return self.node(ast.MaskSpec, start, strategy=strategy, params=tuple(params))

    def computed_decl(self) -> ast.Computed:
        start = self.advance()  # 'computed' | 'derived'
        name = self.identifier()
        type_ref: ast.TypeRef | None = None
        if not (self.extended and self.at("=")):
            self.expect(":")
            type_ref = self.type_ref()
        self.expect("=")
        self.in_computed = True
        try:
            expression = self.expression()
        finally:
            self.in_computed = False
        cache = self._cache_clause() if self.at("cache") else None
        return _new_computed(start, name=name, type=type_ref, expression=expression, cache=cache)

    def _cache_clause(self) -> tuple[str, float | int | None]:
        self.advance()
        strategy = self.tok
        if strategy.value in ("request", "session"):
            self.advance()
            return (strategy.value, None)
        if strategy.value == "ttl":
            self.advance()
            if self.tok.kind is not KIND_NUMBER:
                raise self.fail(f"Expected TTL value in seconds after 'ttl', got '{self.tok.display}'")
            return ("ttl", self.advance().number)
        raise self.fail(f"Expected cache strategy: 'request', 'session', or 'ttl', got '{strategy.display}'")

    # ------------------------------------------------------------------ relationships
    def relationship_decl(self) -> ast.Relationship:
        start = self.advance()
        name = self.name()
        self.expect(":")
        target = self.name()
        through = fields = references = on_delete = on_update = None
        if self.accept("through"):
            through = self.identifier()
        if self.accept("fields"):
            fields = self.ident_list()
        if self.at("references"):
            self.advance()
            references = self.ident_list()
            if fields is None:
                if len(references) > 1:
                    self.error(
                        f"Composite references [{', '.join(references)}] requires explicit fields [...]"
                    )
                fields = (f"{name}Id",)
        if self.accept("with"):
            fields = (self.identifier(),)
        if self.accept("onDelete"):
            on_delete = self.any_value()
        if self.accept("onUpdate"):
            on_update = self.any_value()
        return self.node(
            ast.Relationship,
            start,
            name=name,
            kind=start.value,
            target=target,
            through=through,
            fields=fields,
            references=references,
            on_delete=on_delete,
            on_update=on_update,
        )

    def ident_list(self) -> tuple[str, ...]:
        self.expect("[")
        names: list[str] = []
        while not self.at("]"):
            names.append(self.name())
            self.accept(",")
        self.advance()
        return tuple(names)


def _parse_int(text: str) -> int | float:
    """JavaScript ``parseInt``: a leading (signed) run of digits; past 2**53 a double, as there."""
    digits = ""
    for ch in text.strip():
        if ch.isdigit() or (not digits and ch in "+-"):
            digits += ch
        else:
            break
    if not digits.lstrip("+-"):
        return 0
    if len(digits) <= 15:
        return int(digits)
    value = float(digits)  # Infinity past 308 digits: the parser reports such a number literal
    return int(value) if value.is_integer() and abs(value) < 2**53 else value
