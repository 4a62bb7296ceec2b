"""The core built-in functions of Manifest expressions, and their registry.

Calling convention (details in ``builtins_base``)::

    BUILTINS[name](host, args) -> value

``host`` is a :class:`BuiltinHost` (``now()``, ``generate_id()``, ``context``, ``flags``,
``flag_provider``, ``roles``); :class:`BuiltinContext` is a ready-made one and :func:`roles_from_ir`
indexes IR ``roles``. ``args`` are evaluated JS values, lambdas arrive as one-argument Python callables.
The evaluator must evaluate every argument (left to right) before the call: ``uuid()`` inside an
argument consumes an id even when the builtin ignores it.

Built-ins shadow scope values of the same name. Custom builtins supplied by an application are
merged UNDER these: ``{**custom, **BUILTINS}`` (core names win, as in the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from manifest_lang.expr.builtins_base import (
    Builtin,
    BuiltinContext,
    BuiltinHost,
    Permission,
    arg,
    roles_from_ir,
)
from manifest_lang.expr.builtins_dates import DATE_BUILTINS
from manifest_lang.expr.builtins_math import MATH_BUILTINS
from manifest_lang.expr.builtins_strings import STRING_BUILTINS
from manifest_lang.expr.values import UNDEFINED

__all__ = [
    "BUILTINS",
    "BUILTIN_NAMES",
    "Builtin",
    "BuiltinContext",
    "BuiltinHost",
    "merge_builtins",
    "roles_from_ir",
]


def now(host: BuiltinHost, args: list[Any]) -> Any:
    return host.now()


def uuid(host: BuiltinHost, args: list[Any]) -> Any:
    return host.generate_id()


def flag(host: BuiltinHost, args: list[Any]) -> Any:
    """The provider's answer (whatever it is), else an own key of ``flags``, else false."""
    name = arg(args, 0)
    if type(name) is not str:
        return False
    if host.flag_provider is not None:
        return host.flag_provider(name)
    flags = host.flags
    if flags is not None and name in flags:
        return flags[name]
    return False


def _allows(permissions: tuple[Permission, ...] | None, action: Any, target: Any) -> bool:
    """Some permission grants ``action`` (or "all") with no target or exactly this target."""
    if not permissions:
        return False
    for p in permissions:
        p_action = p.get("action")
        if p_action != "all" and (type(p_action) is not type(action) or p_action != action):
            continue
        p_target = p.get("target", UNDEFINED)
        if p_target is UNDEFINED or (type(p_target) is type(target) and p_target == target):
            return True
    return False


def _user_role(context: Mapping[str, Any]) -> Any:
    user = context.get("user") if isinstance(context, Mapping) else None
    return user.get("role", UNDEFINED) if isinstance(user, Mapping) else UNDEFINED


def has_permission(host: BuiltinHost, args: list[Any]) -> bool:
    """Whether the acting user's role (runtime ``context.user.role``) grants the action."""
    role = _user_role(host.context)
    if type(role) is not str:
        return False
    return _allows(host.roles.get(role), arg(args, 0), arg(args, 1))


def role_allows(host: BuiltinHost, args: list[Any]) -> bool:
    """``roleAllows(role, action, target?)``: the same check with an explicit (case-sensitive) role."""
    role = arg(args, 0)
    if type(role) is not str:
        return False
    return _allows(host.roles.get(role), arg(args, 1), arg(args, 2))


_CORE: dict[str, Builtin] = {
    "now": now,
    "uuid": uuid,
    "flag": flag,
    "hasPermission": has_permission,
    "roleAllows": role_allows,
}

BUILTINS: dict[str, Builtin] = {**_CORE, **STRING_BUILTINS, **MATH_BUILTINS, **DATE_BUILTINS}
BUILTIN_NAMES: frozenset[str] = frozenset(BUILTINS)


def merge_builtins(custom: Mapping[str, Builtin] | None) -> dict[str, Builtin]:
    """An engine's registry: application builtins first, core ones override them."""
    if not custom:
        return BUILTINS
    return {**custom, **BUILTINS}
