"""What every built-in function receives: the calling convention shared by the ``builtins_*`` modules.

A built-in is ``fn(host, args) -> value``:
  * ``host`` is a :class:`BuiltinHost` (the engine, or a :class:`BuiltinContext`): the only source
    of time, ids, the runtime context, feature flags and roles, so recorded commands replay exactly;
  * ``args`` is the list of already evaluated argument values (JS values, see ``values.py``), possibly
    shorter than the declared parameters: a missing argument reads as ``UNDEFINED`` via :func:`arg`;
  * lambda arguments arrive as Python callables taking ONE positional value (the element), returning
    a JS value; the callable is responsible for charging the evaluation budget.
Built-ins never raise for odd argument types: like the reference they pass the input through, or
return ``false`` / ``null`` / ``undefined`` as documented per function. The one exception is
``replace`` with a non-string search value, where JavaScript itself throws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from manifest_lang.expr.values import UNDEFINED

#: one permission of a role: ``{"action": str, "target"?: str}`` as in IR ``roles[].effectivePermissions``
Permission = Mapping[str, Any]


class BuiltinHost(Protocol):
    """The runtime facilities built-ins may use (structural, so an engine can serve directly)."""

    context: Mapping[str, Any]
    flags: Mapping[str, Any] | None
    flag_provider: Callable[[str], Any] | None
    roles: Mapping[str, tuple[Permission, ...]]

    def now(self) -> int | float: ...

    def generate_id(self) -> str: ...


Builtin = Callable[[BuiltinHost, list[Any]], Any]


@dataclass(slots=True)
class BuiltinContext:
    """A ready-made :class:`BuiltinHost` for engines and tests.

    ``context`` is the live runtime context (``context.user.role`` drives ``hasPermission``); an
    engine that replaces its context assigns the new mapping here.
    """

    now_fn: Callable[[], int | float]
    generate_id_fn: Callable[[], str]
    context: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] | None = None
    flag_provider: Callable[[str], Any] | None = None
    roles: Mapping[str, tuple[Permission, ...]] = field(default_factory=dict)

    def now(self) -> int | float:
        return self.now_fn()

    def generate_id(self) -> str:
        return self.generate_id_fn()


def roles_from_ir(ir_roles: Any) -> dict[str, tuple[Permission, ...]]:
    """Index IR ``roles`` by name (case-sensitive) to their ``effectivePermissions``."""
    index: dict[str, tuple[Permission, ...]] = {}
    if not isinstance(ir_roles, list):
        return index
    for role in ir_roles:
        if isinstance(role, dict) and isinstance(role.get("name"), str):
            permissions = role.get("effectivePermissions") or []
            index[role["name"]] = tuple(p for p in permissions if isinstance(p, dict))
    return index


def arg(args: list[Any], index: int) -> Any:
    """The argument at ``index``, or ``UNDEFINED`` when the call passed fewer."""
    return args[index] if index < len(args) else UNDEFINED


def is_number(v: Any) -> bool:
    """JS ``typeof v === "number"`` (NaN and Infinity included, booleans excluded)."""
    t = type(v)
    return t is int or t is float
