"""Provenance and the canonical IR hash.

Deliberately free of any parser import: the runtime uses ``compute_ir_hash`` to verify an IR
document it receives. The hash is SHA-256 of ``JSON.stringify`` of the IR (provenance without
``irHash``) with every object's keys ordered like JavaScript ``localeCompare`` (ICU root
collation: punctuation < digits < letters, case-insensitive first, lowercase before uppercase).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

SCHEMA_VERSION = "1.0"
IR_VERSION = "1.0"

# ICU root order of ASCII punctuation and symbols (non-ignorable), before digits and letters.
_PUNCTUATION_ORDER = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_PUNCT_RANK = {ch: index for index, ch in enumerate(_PUNCTUATION_ORDER)}


@lru_cache(maxsize=65536)
def collation_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sort key approximating ``a.localeCompare(b)`` for identifier-like strings."""
    primary: list[int] = []
    tertiary: list[int] = []
    for ch in text:
        if ch.isspace():
            primary.append(0)
        elif ch in _PUNCT_RANK:
            primary.append(10 + _PUNCT_RANK[ch])
        elif ch.isdigit():
            primary.append(100 + ord(ch))
        elif ch.isalpha():
            primary.append(1000 + ord(ch.lower()))
        else:
            primary.append(500 + ord(ch))
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(tertiary)


def locale_sorted(items: Any, key: Any = None) -> list[Any]:
    if key is None:
        return sorted(items, key=collation_key)
    return sorted(items, key=lambda item: collation_key(key(item)))


_KEY_ORDER: dict[tuple[str, ...], list[str]] = {}


def _sorted_keys(keys: tuple[str, ...]) -> list[str]:
    """IR objects come in few shapes, so each key tuple is sorted once and remembered."""
    order = _KEY_ORDER.get(keys)
    if order is None:
        order = sorted(keys, key=collation_key)
        if len(_KEY_ORDER) < 100_000:
            _KEY_ORDER[keys] = order
    return order


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _canonical(value[k]) for k in _sorted_keys(tuple(value))}
    if kind is list:
        return [_canonical(v) for v in value]
    if kind is float:
        return _js_number(value)
    if kind is int and not -(2**53) < value < 2**53:
        return _js_number(float(value))  # an IR read from JSON text: the double it denotes
    return value


def _js_number(value: float) -> Any:
    if math.isnan(value) or math.isinf(value):
        return None  # JSON.stringify prints null
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    if value.is_integer() and abs(value) < 1e21:
        # Beyond 2**53 JavaScript writes the shortest round-trip digits padded with zeros
        # (18446744073709552000), not the float's exact value (nor an int orjson could hold).
        mantissa, _, exponent = repr(abs(value)).partition("e")
        if not exponent:
            return int(value)  # below 1e16 repr has every digit
        digits = mantissa.replace(".", "")
        text = ("-" if value < 0 else "") + digits + "0" * (int(exponent) + 1 - len(digits))
        return orjson.Fragment(text.encode())
    return value  # orjson writes the other doubles as JavaScript does (1e-7, 0.00001, 1e+21)


def canonical_json(value: Any) -> str:
    """``JSON.stringify`` of ``value`` with locale-ordered keys (no whitespace)."""
    return orjson.dumps(_canonical(value)).decode()


#: orjson text of a number JavaScript writes differently: an integral float (``9007199254740994.0``,
#: ``1e+16``..``1e+20``, ``-0.0``). Compact JSON puts a number between ``:``/``[``/``,`` and
#: ``,``/``]``/``}``, which keeps version strings such as ``"1.0"`` (in every IR) from matching; a
#: string may still match, and then the hash only takes the exact, slower encoder.
_NON_JS_NUMBER = re.compile(rb"[:\[,]-?[0-9]+(?:\.0|(?:\.[0-9]+)?e\+(?:1[6-9]|20))[,\]}]")
#: the ends of every match above: patterns with a literal prefix, which ``re`` finds several times
#: faster than it scans for the whole pattern (a compile of a small model would otherwise spend
#: 5% of its time here)
_NON_JS_ENDS = (re.compile(rb"\.0[,\]}]"), re.compile(rb"e\+(?:1[6-9]|20)[,\]}]"))


def _may_hold_non_js_number(data: bytes) -> bool:
    return any(end.search(data) for end in _NON_JS_ENDS) and _NON_JS_NUMBER.search(data) is not None


def compute_ir_hash(ir: dict[str, Any], *, collation: str = "locale") -> str:
    """The reference's irHash over the IR with provenance minus ``irHash``.

    ``collation="locale"`` is the current reference (``localeCompare`` key order);
    ``"codepoint"`` is the older published package (3.4.x), whose ``irHash`` used a plain sort.
    """
    provenance = {k: v for k, v in (ir.get("provenance") or {}).items() if k != "irHash"}
    document = {**ir, "provenance": provenance}
    text = canonical_json(document) if collation == "locale" else _codepoint_json(document)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _codepoint_json(value: Any) -> str:
    return orjson.dumps(_canonical(value), option=orjson.OPT_SORT_KEYS).decode()


class IRNestingError(ValueError):
    """The IR nests deeper than ``untrusted.MAX_IR_DEPTH`` levels (a very long chain of operators)."""


def compiler_ir_hash(ir: dict[str, Any]) -> str:
    """``compute_ir_hash`` for IR this compiler just built, at C speed.

    In IR v1 only a few objects have keys whose ``localeCompare`` order differs from code-point
    order: constraints (``overrideable`` / ``overridePolicyRef``), initialization plans
    (``initializationInputs`` / ``initialLifecycleState``) and the user-keyed maps (store config,
    object default values, ``detailsMapping``). Those are serialised with the generic canonical
    encoder and embedded as ``orjson.Fragment``; orjson sorts every other object by code point,
    which is the same order. ``tests/compiler`` checks this against ``compute_ir_hash``.
    """
    swaps: list[tuple[Any, Any, Any]] = []
    data: bytes | None = None
    try:
        for container, key, nested_maps in _locale_sensitive(ir):
            value = container[key]
            swaps.append((container, key, value))
            container[key] = orjson.Fragment(_ordered_bytes(orjson, value, nested_maps))
        provenance = ir.get("provenance") or {}
        document = {**ir, "provenance": {k: v for k, v in provenance.items() if k != "irHash"}}
        data = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        if str(exc) == "Recursion limit reached":
            raise IRNestingError from None
        data = None  # e.g. an int beyond 64 bits: the exact encoder below
    finally:
        for container, key, value in reversed(swaps):
            container[key] = value
    if data is None or _may_hold_non_js_number(data):
        data = canonical_json_bytes(ir)
    return hashlib.sha256(data).hexdigest()


def canonical_json_bytes(ir: dict[str, Any]) -> bytes:
    provenance = {k: v for k, v in (ir.get("provenance") or {}).items() if k != "irHash"}
    return canonical_json({**ir, "provenance": provenance}).encode("utf-8")


_GENERIC = None  # marker: serialise the whole value with the generic canonical encoder
_CONSTRAINT_MAPS = frozenset(["detailsMapping"])
_NO_MAPS: frozenset[str] = frozenset()


def _ordered_bytes(orjson: Any, value: Any, nested_maps: frozenset[str] | None) -> bytes:
    """JSON of a dict with locale-ordered keys; values via orjson (code point = locale order there),
    except the keys in ``nested_maps`` (user-keyed maps of expressions), ordered the same way."""
    if nested_maps is _GENERIC:
        return canonical_json(value).encode("utf-8")
    parts = []
    for key in _sorted_keys(tuple(value)):
        item = value[key]
        if key in nested_maps:
            encoded = _ordered_bytes(orjson, item, _NO_MAPS)
        else:
            encoded = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
        parts.append(orjson.dumps(key) + b":" + encoded)
    return b"{" + b",".join(parts) + b"}"


def _locale_sensitive(ir: dict[str, Any]) -> Any:
    """(container, key, nested maps) of every value whose key order needs the locale-aware encoder."""
    for entity in ir.get("entities", []):
        yield from _constraints(entity.get("constraints", []))
        yield from _object_defaults(entity.get("properties", []))
    for value_object in ir.get("values", []):
        yield from _object_defaults(value_object.get("properties", []))
    for command in ir.get("commands", []):
        yield from _constraints(command.get("constraints", []))
        plan = command.get("initialization")
        if plan is not None:
            simple = all(
                item["value"].get("kind") not in ("object", "array") for item in plan["initialLifecycleState"]
            )
            yield command, "initialization", _NO_MAPS if simple else _GENERIC
        yield from _object_defaults(command.get("parameters", []))
    for store in ir.get("stores", []):
        if store.get("config"):
            yield store, "config", _GENERIC


#: the only constraint keys whose order differs between code point and ``localeCompare``
#: (``overrideable`` < ``overridePolicyRef`` case-insensitively) or that hold user-keyed maps
_CONSTRAINT_LOCALE_KEYS = frozenset(["overridePolicyRef", "detailsMapping"])


def _constraints(constraints: list[dict[str, Any]]) -> Any:
    for index, constraint in enumerate(constraints):
        if not _CONSTRAINT_LOCALE_KEYS.isdisjoint(constraint):
            yield constraints, index, _CONSTRAINT_MAPS


def _object_defaults(members: list[dict[str, Any]]) -> Any:
    for member in members:
        default = member.get("defaultValue")
        if isinstance(default, dict) and default.get("kind") in ("object", "array"):
            yield member, "defaultValue", _GENERIC


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def compiled_at(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def verify_ir_hash(ir: dict[str, Any], expected: str | None = None) -> bool:
    provenance = ir.get("provenance") or {}
    target = expected if expected is not None else provenance.get("irHash")
    if not isinstance(target, str):
        return False
    return compute_ir_hash(ir) == target or compute_ir_hash(ir, collation="codepoint") == target


def build_provenance(
    source: str,
    compiler_version: str,
    ir_without_provenance: dict[str, Any],
    *,
    now: datetime | None = None,
    sources: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Provenance block in the reference key order; ``irHash`` is computed over the whole IR.

    ``sources`` (a multi-file compile: ``{path, contentHash}`` per file) is kept sorted by path,
    as the reference's ``compileProjectToIR`` does; ``contentHash`` then covers every file: the
    SHA-256 of the files' sorted hashes joined by ``:`` (the reference uses the joined string
    itself, which is not a SHA-256 as the schema describes).
    """
    digest = content_hash(source)
    if sources:
        sources = sorted(sources, key=lambda item: collation_key(item["path"]))
        digest = content_hash(":".join(sorted(item["contentHash"] for item in sources)))
    provenance: dict[str, Any] = {
        "contentHash": digest,
        "irHash": "",
        "compilerVersion": compiler_version,
        "schemaVersion": SCHEMA_VERSION,
        "compiledAt": compiled_at(now),
    }
    if sources:
        provenance["sources"] = sources
    ir_without_provenance["provenance"] = provenance
    provenance["irHash"] = compiler_ir_hash(ir_without_provenance)
    return provenance
