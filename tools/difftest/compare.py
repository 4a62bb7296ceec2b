"""One case on both runtimes, compared after normalisation; shrinking of a failing case."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from manifest_lang.compiler.api import compile_source

from .normalise import normalise, normalise_compiled
from .ours import run_case as run_ours
from .reference import Reference


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    index: int | None = None  # the operation that diverged
    accepted_by: str | None = None  # the documented difference that ended the comparison
    skipped: bool = False  # the model did not compile (nothing to compare)


def check(ref: Reference, case: dict[str, Any]) -> Verdict:
    compiled = compile_source(case["source"])
    if compiled.ir is None:
        return Verdict(True, "model does not compile", skipped=True)
    runnable = {"ir": compiled.ir, "context": case.get("context") or {}, "ops": case["ops"]}
    theirs = ref.run(dict(runnable, source=case["source"]))
    if not theirs.get("ok"):
        return Verdict(False, f"the reference failed on the case: {theirs.get('error')}")
    ours = run_ours(runnable)
    if theirs["hash"] != ours["hash"]:
        return Verdict(False, f"IR hash: reference {theirs['hash']} != ours {ours['hash']}")
    mine = {"ir": compiled.ir, "diagnostics": [d.to_dict() for d in compiled.diagnostics]}
    other, mine = normalise_compiled(theirs["compiled"], mine)
    if other != mine:
        where, x, y = first_difference(other, mine)
        return Verdict(False, f"compiler at {where}: reference {x!r} != ours {y!r}")
    memory: dict[str, Any] = {}
    for i, (op, a, b) in enumerate(zip(case["ops"], theirs["results"], ours["results"], strict=True)):
        # Not a result: the driver's count of writes the reference dropped (row 1 needs it).
        memory["dropped"] = a.pop("dropped", 0)
        a, b, accepted = normalise(op, a, b, compiled.ir, memory)
        if accepted is not None:
            return Verdict(True, index=i, accepted_by=accepted)
        if a != b:
            where, x, y = first_difference(a, b)
            reason = f"operation {i} ({op['op']}) at {where}: reference {x!r} != ours {y!r}"
            return Verdict(False, reason, index=i)
    return Verdict(True)


def shrink(ref: Reference, case: dict[str, Any]) -> dict[str, Any]:
    """A smaller case that still diverges: operations cut after the divergence, then each earlier
    operation dropped if the case still fails, then source lines dropped likewise."""
    verdict = check(ref, case)
    if verdict.ok:
        return case
    if verdict.index is not None:
        case = dict(case, ops=case["ops"][: verdict.index + 1])
    i = 0
    while i < len(case["ops"]) - 1:
        candidate = dict(case, ops=case["ops"][:i] + case["ops"][i + 1 :])
        if not check(ref, candidate).ok:
            case = candidate
        else:
            i += 1
    lines = case["source"].splitlines()
    signature = _signature(check(ref, case))
    i = 0
    while i < len(lines):
        candidate = dict(case, source="\n".join(lines[:i] + lines[i + 1 :]) + "\n")
        v = check(ref, candidate)
        if not v.ok and not v.skipped and _signature(v) == signature:
            lines = candidate["source"].splitlines()
            case = candidate
        else:
            i += 1
    return case


def _signature(v: Verdict) -> str:
    """What a shrink step must keep: the diverging operation and the error texts of both sides
    (dropping a model line must not turn the divergence into a different one)."""
    return re.sub(r"\{'value': |'logged'.*", "", v.reason)[:80] + str(v.index)


_MISSING = "<absent>"


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any]:
    """The first place two JSON values differ: (path, reference side, our side)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key, _MISSING) != b.get(key, _MISSING):
                return first_difference(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return path or "$", a, b
