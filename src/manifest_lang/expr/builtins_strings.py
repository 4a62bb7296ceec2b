"""String built-ins: JS ``String.prototype`` semantics, indices in UTF-16 code units.

Calling convention: see ``builtins_base``. A non-string subject is passed through unchanged unless the
function's JS counterpart answers otherwise (``startsWith`` -> false, ``indexOf`` -> -1, ...).
"""

from __future__ import annotations

import math
import re
from typing import Any

from manifest_lang.errors import ExpressionTypeError
from manifest_lang.expr.builtins_base import Builtin, BuiltinHost, arg
from manifest_lang.expr.builtins_regex import compile_js_regex
from manifest_lang.expr.values import JS_WHITESPACE, UNDEFINED, to_js_string, to_number, utf16_length

_TOKEN_SPLIT_RE = re.compile(r"[^a-z0-9]+")


def _has_astral(s: str) -> bool:
    """True when ``s`` has characters outside the BMP, where UTF-16 and Python indices differ."""
    return not s.isascii() and len(s.encode("utf-16-le", "surrogatepass")) != 2 * len(s)


def _utf16_slice(s: str, start: int, end: int) -> str:
    if not _has_astral(s):
        return s[start:end]
    units = s.encode("utf-16-le", "surrogatepass")
    return units[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def _to_integer(v: Any) -> int | float:
    """JS ToIntegerOrInfinity: NaN -> 0, truncation toward zero, infinities kept."""
    n = to_number(v)
    if type(n) is int:
        return n
    if n != n:
        return 0
    if n in (math.inf, -math.inf):
        return n
    return int(n)


def trim(host: BuiltinHost, args: list[Any]) -> Any:
    s = arg(args, 0)
    return s.strip(JS_WHITESPACE) if type(s) is str else s


def to_upper_case(host: BuiltinHost, args: list[Any]) -> Any:
    s = arg(args, 0)
    return s.upper() if type(s) is str else s


def to_lower_case(host: BuiltinHost, args: list[Any]) -> Any:
    s = arg(args, 0)
    return s.lower() if type(s) is str else s


def split(host: BuiltinHost, args: list[Any]) -> Any:
    """JS ``s.split(sep)``: an undefined separator gives ``[s]``; ``""`` splits into characters."""
    s = arg(args, 0)
    if type(s) is not str:
        return s
    sep = arg(args, 1)
    if sep is UNDEFINED:
        return [s]
    sep_text = to_js_string(sep)
    if sep_text == "":
        return list(s)
    return s.split(sep_text)


def count(host: BuiltinHost, args: list[Any]) -> Any:
    v = arg(args, 0)
    return len(v) if type(v) is list else v


def length(host: BuiltinHost, args: list[Any]) -> Any:
    v = arg(args, 0)
    if type(v) is str:
        return utf16_length(v)
    return len(v) if type(v) is list else v


def starts_with(host: BuiltinHost, args: list[Any]) -> bool:
    s = arg(args, 0)
    return type(s) is str and s.startswith(to_js_string(arg(args, 1)))


def ends_with(host: BuiltinHost, args: list[Any]) -> bool:
    s = arg(args, 0)
    return type(s) is str and s.endswith(to_js_string(arg(args, 1)))


def replace(host: BuiltinHost, args: list[Any]) -> Any:
    """Global literal replace; the replacement is inserted as is (``$&`` is not special)."""
    s = arg(args, 0)
    if type(s) is not str:
        return s
    search = arg(args, 1)
    if type(search) is not str:
        raise ExpressionTypeError(
            f"replace(): the search value must be a string, got {to_js_string(search)!r}"
        )
    return s.replace(search, to_js_string(arg(args, 2)))


def substring(host: BuiltinHost, args: list[Any]) -> Any:
    """JS ``substring``: NaN/negative -> 0, clamped to the length, bounds swapped if reversed."""
    s = arg(args, 0)
    if type(s) is not str:
        return s
    size = utf16_length(s)
    start = min(max(_to_integer(arg(args, 1)), 0), size)
    end_arg = arg(args, 2)
    end = size if end_arg is UNDEFINED else min(max(_to_integer(end_arg), 0), size)
    if start > end:
        start, end = end, start
    return _utf16_slice(s, int(start), int(end))


def index_of(host: BuiltinHost, args: list[Any]) -> int:
    s = arg(args, 0)
    if type(s) is not str:
        return -1
    found = s.find(to_js_string(arg(args, 1)))
    if found <= 0 or not _has_astral(s):
        return found
    return utf16_length(s[:found])


def matches(host: BuiltinHost, args: list[Any]) -> bool:
    """``new RegExp(pattern).test(s)``; a non-string subject or pattern, or an invalid one -> false."""
    s = arg(args, 0)
    pattern = arg(args, 1)
    if type(s) is not str or type(pattern) is not str:
        return False
    compiled = compile_js_regex(pattern)
    return compiled is not None and compiled.search(s) is not None


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT_RE.split(text.lower()) if t]


def search(host: BuiltinHost, args: list[Any]) -> bool:
    """Whole-word full-text match: every query token must be a token of the text."""
    text = arg(args, 0)
    query = arg(args, 1)
    if type(text) is not str or type(query) is not str:
        return False
    wanted = _tokens(query)
    if not wanted:
        return False
    present = set(_tokens(text))
    return all(token in present for token in wanted)


STRING_BUILTINS: dict[str, Builtin] = {
    "trim": trim,
    "toUpperCase": to_upper_case,
    "toLowerCase": to_lower_case,
    "split": split,
    "count": count,
    "length": length,
    "startsWith": starts_with,
    "endsWith": ends_with,
    "replace": replace,
    "substring": substring,
    "indexOf": index_of,
    "matches": matches,
    "search": search,
}
