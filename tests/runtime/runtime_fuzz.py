"""A seeded mutational fuzzer of the runtime's Python API (issue 12).

Two kinds of cases, drawn from the conformance IR fixtures:
- a mutated IR document handed to ``RuntimeEngine`` (a node replaced, dropped or duplicated);
- hostile arguments to ``run_command`` / ``create_instance`` / ``update_instance`` /
  ``delete_instance`` / reads on a memory or SQLite store, with an idempotency store.

The contract: a call returns (a value or a failed ``CommandResult``) or raises a
``manifest_lang.errors.ManifestError``. Anything else is a finding, reported with the call that
raised it. The run is bounded by time, and reproducible from its seed.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifest_lang.errors import ManifestError
from manifest_lang.expr.values import UNDEFINED
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore


def _deep(depth: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    return d


def _cyclic_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append(lst)
    return lst


#: hostile values: beyond 64 bits, lone surrogates, NUL, deep and self-referencing containers,
#: non-JSON Python objects, unhashable values where strings are expected
HOSTILE: list[Callable[[], Any]] = [
    lambda: 2**63,
    lambda: -(2**63) - 1,
    lambda: 2**64,
    lambda: 10**30,
    lambda: 9223372036854775808,
    lambda: float("nan"),
    lambda: float("inf"),
    lambda: -0.0,
    lambda: "\ud800",
    lambda: "a\udfffb",
    lambda: "\x00",
    lambda: "x" * 5000,
    lambda: "",
    lambda: True,
    lambda: None,
    lambda: UNDEFINED,
    lambda: _deep(1100),
    lambda: _deep(300),
    lambda: _cyclic_dict(),
    lambda: _cyclic_list(),
    lambda: [1, 2],
    lambda: {"a": [1]},
    lambda: {1: "int key"},
    lambda: b"bytes",
    lambda: {1, 2},
    lambda: (1, 2),
    lambda: object(),
    lambda: -1,
    lambda: 0,
    lambda: 1.5,
    lambda: "id-1",
    lambda: "../etc",
    lambda: "x" * 100_000,
]


def hostile(rng: random.Random) -> Any:
    return rng.choice(HOSTILE)()


def load_irs(conformance_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((conformance_dir / "expected").glob("*.ir.json"))]


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, (*path, i))


def mutate_ir(ir: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``ir`` with one to three nodes replaced, dropped or duplicated."""
    doc = copy.deepcopy(ir)
    if rng.random() < 0.25:
        # Every number of the document at once: limits, windows, budgets, counts.
        number = rng.choice([-1, 0, -(2**63), 2**64, 1e308, float("nan"), float("inf"), 0.5])
        for path, value in list(_nodes(doc)):
            if path and type(value) in (int, float):
                parent = doc
                for part in path[:-1]:
                    parent = parent[part]
                parent[path[-1]] = number
        return doc
    scalars_only = rng.random() < 0.4  # numbers and strings the runtime reads (limits, windows, ...)
    for _ in range(rng.randint(1, 3)):
        nodes = [n for n in _nodes(doc) if n[0] and (not scalars_only or not isinstance(n[1], dict | list))]
        if not nodes:
            break
        path, _value = rng.choice(nodes)
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        choice = rng.random()
        if choice < 0.25 and isinstance(parent, dict):
            del parent[last]
        elif choice < 0.35 and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif scalars_only:
            parent[last] = rng.choice([-1, 0, -(2**63), 2**64, 1e308, float("nan"), "", "x", None, True, 0.5])
        else:
            replacement = rng.choice(
                [
                    None,
                    "",
                    "x",
                    0,
                    -1,
                    2**63,
                    1e308,
                    True,
                    [],
                    {},
                    [None],
                    {"kind": "literal"},
                    {"kind": "identifier", "name": "x"},
                    {"kind": "call", "callee": {"kind": "identifier", "name": "now"}, "args": []},
                    _deep(400),
                    "\ud800",
                ]
            )
            parent[last] = copy.deepcopy(replacement)
    return doc


@dataclass
class Findings:
    """Distinct kinds of error that escaped, with one example call each."""

    calls: int = 0
    escaped: int = 0
    kinds: dict[str, str] = field(default_factory=dict)

    def record(self, what: str, exc: BaseException) -> None:
        self.escaped += 1
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        kind = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        self.kinds.setdefault(kind, f"{what}: {str(exc)[:200]}")

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        self.calls += 1
        try:
            return fn()
        except ManifestError:
            return None
        except (MemoryError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - that is what the fuzzer looks for
            self.record(what, exc)
            return None

    def summary(self) -> str:
        lines = [f"{self.escaped} of {self.calls} calls raised outside manifest_lang.errors:"]
        lines += [f"  {kind}  ({example})" for kind, example in sorted(self.kinds.items())]
        return "\n".join(lines)


def _targets(ir: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    entities = [e.get("name") for e in ir.get("entities") or [] if isinstance(e, dict)]
    commands = [c for c in ir.get("commands") or [] if isinstance(c, dict)]
    return [e for e in entities if isinstance(e, str)], commands


_SANE = {
    "string": "x",
    "number": 1,
    "boolean": True,
    "date": "2026-01-01",
    "datetime": "2026-01-01T00:00:00Z",
}


def _command_input(rng: random.Random, cmd: dict[str, Any]) -> dict[str, Any]:
    """Mostly plausible values for the declared parameters (so commands get past parameter
    checks to their guards, limits and writes), some hostile."""
    data: dict[str, Any] = {}
    for p in cmd.get("parameters") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            continue
        type_name = (p.get("type") or {}).get("name") if isinstance(p.get("type"), dict) else None
        data[p["name"]] = hostile(rng) if rng.random() < 0.25 else _SANE.get(str(type_name), "x")
    return data


def _value(rng: random.Random, sane: Any) -> Any:
    return hostile(rng) if rng.random() < 0.5 else sane


def _hostile_object(rng: random.Random, ir: dict[str, Any], entity: str) -> Any:
    props = [
        p.get("name")
        for e in ir.get("entities") or []
        if isinstance(e, dict) and e.get("name") == entity
        for p in e.get("properties") or []
        if isinstance(p, dict)
    ]
    names = [p for p in props if isinstance(p, str)] or ["x"]
    data: dict[Any, Any] = {rng.choice(names): hostile(rng) for _ in range(rng.randint(0, 3))}
    if rng.random() < 0.7:
        data["id"] = _value(rng, f"i{rng.randint(0, 3)}")
    if rng.random() < 0.05:
        return hostile(rng)  # not a mapping at all
    return data


def exercise(engine: RuntimeEngine, ir: dict[str, Any], rng: random.Random, findings: Findings) -> None:
    """A handful of hostile calls against one engine."""
    entities, commands = _targets(ir)
    entity = rng.choice(entities) if entities else "X"
    for _ in range(6):
        op = rng.randrange(8)
        if op == 0:
            data = _hostile_object(rng, ir, entity)
            findings.call("create_instance", lambda d=data: engine.create_instance(_value(rng, entity), d))
        elif op == 1:
            findings.call(
                "update_instance",
                lambda: engine.update_instance(entity, _value(rng, "i1"), _hostile_object(rng, ir, entity)),
            )
        elif op == 2:
            findings.call("get_instance", lambda: engine.get_instance(_value(rng, entity), _value(rng, "i1")))
        elif op == 3:
            where = {rng.choice(["id", "name", "status", "x"]): hostile(rng)}
            findings.call("find_instances", lambda w=where: engine.find_instances(entity, w))
        elif op == 4:
            findings.call("delete_instance", lambda: engine.delete_instance(entity, _value(rng, "i1")))
        elif op == 5:
            findings.call("get_all_instances", lambda: engine.get_all_instances(_value(rng, entity)))
        else:
            cmd = rng.choice(commands) if commands else {"name": "x"}
            name, cmd_entity = cmd.get("name"), cmd.get("entity")
            data = _command_input(rng, cmd) if rng.random() < 0.7 else _hostile_object(rng, ir, entity)
            overrides = (
                [{"constraintCode": _value(rng, "c"), "reason": hostile(rng), "authorizedBy": "m"}]
                if rng.random() < 0.2
                else None
            )
            findings.call(
                "run_command",
                lambda n=name, e=cmd_entity, o=overrides, d=data: engine.run_command(
                    n if rng.random() < 0.9 else hostile(rng),
                    d,
                    entity_name=e if rng.random() < 0.8 else hostile(rng),
                    instance_id=(_value(rng, f"i{rng.randint(0, 3)}") if rng.random() < 0.6 else None),
                    override_requests=o if rng.random() < 0.9 else hostile(rng),
                    correlation_id=_value(rng, "corr") if rng.random() < 0.3 else None,
                    idempotency_key=_value(rng, f"k{rng.randint(0, 5)}"),
                ),
            )


def run(
    irs: list[dict[str, Any]],
    seconds: float,
    seed: int,
    open_store: Callable[[], Any],
    sql_idempotency: Callable[[Any], Any] | None = None,
    reset: Callable[[Any], None] | None = None,
) -> Findings:
    logger = logging.getLogger("manifest_lang")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # refused creates log a warning each: thousands of lines
    try:
        return _run(irs, seconds, seed, open_store, sql_idempotency, reset)
    finally:
        logger.setLevel(level)


def _run(
    irs: list[dict[str, Any]],
    seconds: float,
    seed: int,
    open_store: Callable[[], Any],
    sql_idempotency: Callable[[Any], Any] | None,
    reset: Callable[[Any], None] | None,
) -> Findings:
    rng = random.Random(seed)
    findings = Findings()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        base = rng.choice(irs)
        ir = mutate_ir(base, rng) if rng.random() < 0.4 else base
        store = open_store()
        try:
            idem = sql_idempotency(store) if sql_idempotency is not None else MemoryIdempotencyStore()
            context = {"user": {"id": "u", "role": "admin"}, "tenantId": _value(rng, "t-a")}
            engine = findings.call(
                "RuntimeEngine",
                lambda i=ir, c=context, s=store, d=idem: RuntimeEngine(
                    i, c, store_provider=s, idempotency_store=d if rng.random() < 0.5 else None
                ),
            )
            if engine is not None:
                exercise(engine, ir, rng, findings)
        finally:
            if reset is not None:
                reset(store)
    return findings
