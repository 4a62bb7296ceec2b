"""Input from outside, read the same way at every edge (CLI files and lines, HTTP bodies).

- Text files (models, ``manifest run --script``) must be UTF-8 without NUL bytes: a binary file
  is one clear error naming the first bad byte, never a decoding traceback.
- JSON documents are parsed with a bound on nesting depth. Deeply nested values are never
  business data, and past a few hundred levels validating, copying or storing one recurses too
  deep; every edge refuses them with the same limit (documented in docs/http.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .errors import InvalidInputError

#: deepest nesting of arrays and objects accepted (the outermost object or array is level 1)
MAX_JSON_DEPTH = 64
#: The deepest nesting an IR document may have: what orjson, the JSON writer of ``manifest
#: compile`` and the HTTP layer, can write. The compiler refuses a model whose IR would nest
#: deeper (a chain of hundreds of operators); an IR file past it is refused when it is loaded.
MAX_IR_DEPTH = 255


def decode_text(data: bytes, origin: str) -> str:
    """The text of a model or script file (``InvalidInputError`` naming ``origin`` when it is
    binary, i.e. holds NUL bytes, or is not UTF-8)."""
    if b"\x00" in data:
        raise InvalidInputError(f"{origin}: binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{origin}: not valid UTF-8 (byte {exc.start})") from None


class JsonTooDeepError(ValueError):
    """A JSON document nests arrays/objects deeper than ``MAX_JSON_DEPTH``."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(f"JSON nests arrays/objects deeper than {limit} levels")
        self.limit = limit


def loads(
    data: bytes | str, limit: int = MAX_JSON_DEPTH, *, parser: Callable[[bytes], Any] = orjson.loads
) -> Any:
    """``parser(data)`` (default ``orjson.loads``; the HTTP layer passes ``expr.values.loads_json``,
    which reads numbers as JavaScript does) that raises ``JsonTooDeepError`` past ``limit`` levels,
    and a ``ValueError`` for anything that is not JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        value = parser(raw)
    except RecursionError:  # a pure-Python fallback parser recursing on a deep document
        raise JsonTooDeepError(limit) from None
    except ValueError as exc:
        if str(exc).startswith("depth limit exceeded"):  # orjson's own limit (1024) is past ours
            raise JsonTooDeepError(limit) from None
        raise
    # Each level needs a bracket, so counting them (at C speed) spares the walk of most documents.
    if raw.count(b"[") + raw.count(b"{") > limit and nests_deeper(value, limit):
        raise JsonTooDeepError(limit)
    return value


def nests_deeper(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` has arrays/objects nested more than ``limit`` levels (without recursing)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
