"""``ast.node`` classes behave as ``@dataclass(frozen=True, slots=True, kw_only=True)`` ones do."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from manifest_lang.syntax import ast


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reference:
    """What ``ast.Command``-like nodes were before: the dataclass-generated methods."""

    line: int = 0
    column: int = 0
    name: str
    retry: dict[str, Any] | None = field(default=None, hash=False)


def _pair(**values: Any) -> tuple[Any, Any]:
    made: Any = ast.node(
        type(
            "_Made",
            (ast.Node,),
            {
                "__annotations__": {"name": "str", "retry": "dict | None"},
                "retry": field(default=None, hash=False),
            },
        )
    )
    return made(**values), _Reference(**values)


def test_equality_hash_and_repr_match_the_dataclass_ones() -> None:
    a = ast.Binary(operator="+", left=ast.Identifier(name="x", line=1, column=2), right=ast.Literal(value=1))
    b = ast.Binary(operator="+", left=ast.Identifier(name="x", line=1, column=2), right=ast.Literal(value=1))
    assert a == b and hash(a) == hash(b) and a != dataclasses.replace(a, operator="-")
    assert a != ast.Identifier(name="x") and (a == 1) is False
    assert repr(a) == (
        "Binary(line=0, column=0, operator='+', left=Identifier(line=1, column=2, name='x'), "
        "right=Literal(line=0, column=0, value=1))"
    )
    made, reference = _pair(name="n", retry={"a": 1})
    assert hash(made) == hash(dataclasses.replace(made, retry={"b": 2}))  # hash=False fields excluded
    assert repr(made).replace("_Made", "_Reference") == repr(reference)


def test_frozen_slotted_keyword_only_and_copyable() -> None:
    node = ast.Literal(value="v", line=3, column=4)
    with pytest.raises(FrozenInstanceError):
        node.line = 5  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del node.value  # type: ignore[misc]
    with pytest.raises(AttributeError):
        object.__setattr__(node, "other", 1)  # slots: no __dict__
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'value'"):
        ast.Literal()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'valu'"):
        ast.Literal(value=1, valu=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ast.Literal(1)  # type: ignore[misc, call-arg]
    assert copy.deepcopy(node) == node == pickle.loads(pickle.dumps(node))
    assert [f.name for f in dataclasses.fields(node)] == ["line", "column", "value"]
    assert ast.Literal.__match_args__ == () and dataclasses.is_dataclass(node)
