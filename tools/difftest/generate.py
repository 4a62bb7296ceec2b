"""Seeded generation of Manifest models and operation sequences (one ``random.Random`` per case).

A case is ``{"seed", "source", "context", "ops"}``: the model as source text (compiled by our
compiler; both runtimes run the same IR) and 20-60 operations in the driver's vocabulary
(``create run get all computed check log context serialize restore``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

TYPES = ("string", "number", "boolean")
PROPERTY_TYPES = (*TYPES, "list<string>")
STATES = ("draft", "open", "done", "void")
ROLES = ("admin", "clerk", "banned", None)
BIG = (2**53 + 2, 18446744073709551616, 10**21, 1.5, -0.0, 1e-7)


@dataclass
class Prop:
    name: str
    type: str
    default: Any = None  # source text of the default, or None
    unique: bool = False
    optional: bool = False


@dataclass
class Entity:
    name: str
    props: list[Prop] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    has_status: bool = False


def _literal(r: random.Random, type_: str) -> str:
    if type_ == "list<string>":
        return r.choice(["[]", '["a"]', '["a", "b"]'])
    if type_ == "number":
        return r.choice(
            ["0", "1", "2", "5", "10", "100", "2.5", "-3", "0.0000001", "0.00001"]
            + ["18446744073709551616", "1000000000000000000000", "123456789012345678"]
        )
    if type_ == "boolean":
        return r.choice(["true", "false"])
    return r.choice(['"a"', '"b"', '""', '"x y"'])


def _value(r: random.Random, type_: str, odd: float = 0.08) -> Any:
    """A value for a property or parameter of ``type_``; with probability ``odd`` one of another
    type (command inputs use little: a wrongly typed input ends the comparison, row 18)."""
    if type_ == "list<string>":
        return r.choice([[], ["a"], ["b", "c"], None])
    if r.random() < odd:
        return r.choice([None, "s", 3, True, r.choice(BIG)])
    if type_ == "number":
        return r.choice([0, 1, 2, 3, 7, 50, 99, 100, 101, -1, 2.5, r.choice(BIG)])
    if type_ == "boolean":
        return r.choice([True, False])
    return r.choice(["a", "b", "c", "", "x y", "a1"])


def _num_expr(r: random.Random, names: list[str]) -> str:
    atoms = names + ["1", "2", "10", "0.5"]
    a = r.choice(atoms)
    if r.random() < 0.5:
        return a
    return f"{a} {r.choice(['+', '-', '*', '/', '%'])} {r.choice(atoms)}"


def _bool_expr(r: random.Random, nums: list[str], strs: list[str], bools: list[str]) -> str:
    choices = []
    if nums:
        choices.append(
            lambda: (
                f"{_num_expr(r, nums)} {r.choice(['<', '<=', '>', '>=', '==', '!='])} "
                f"{r.choice(['0', '5', '10', '100'])}"
            )
        )
    if strs:
        choices.append(lambda: f'{r.choice(strs)} {r.choice(["==", "!="])} "{r.choice(["a", "b", ""])}"')
    if bools:
        choices.append(lambda: r.choice(bools))
    choices.append(
        lambda: r.choice(["true", "false", 'user.role == "admin"', "user.id != null", "context.flag == true"])
    )
    if strs:
        choices.append(lambda: f'{r.choice(strs)} + "x" == "ax"')
        choices.append(lambda: f'{r.choice(strs)} in ["a", "b"]')
    if nums:
        choices.append(lambda: f"({r.choice(nums)} > 1 ? {r.choice(nums)} : 0) < 50")
    expr = r.choice(choices)()
    if r.random() < 0.2:
        expr = f"{expr} {r.choice(['and', 'or'])} {r.choice(choices)()}"
    if r.random() < 0.1:
        expr = f"not ({expr})"
    return expr


class ModelGen:
    def __init__(self, r: random.Random) -> None:
        self.r = r
        self.events: dict[str, list[str]] = {}
        self.lines: list[str] = []

    def entity(self, index: int, others: list[str]) -> Entity:
        r = self.r
        e = Entity(f"E{index}")
        for i in range(r.randint(1, 4)):
            t = r.choice(PROPERTY_TYPES)
            p = Prop(f"p{i}", t)
            if r.random() < 0.6:
                p.default = _literal(r, t)
            if r.random() < 0.15:
                p.unique = True
                p.optional = r.random() < 0.6
            elif r.random() < 0.2:
                p.optional = True
            e.props.append(p)
        e.has_status = r.random() < 0.4
        out = [f"entity {e.name} {{", "  property required id: string"]
        for p in e.props:
            mods = "unique " if p.unique else ""
            q = "?" if p.optional else ""
            d = f" = {p.default}" if p.default is not None else ""
            out.append(f"  property {mods}{p.name}: {p.type}{q}{d}")
        if e.has_status:
            out.append('  property status: string = "draft"')
            out.append('  transition status from "draft" to ["open", "void"]')
            out.append('  transition status from "open" to ["done", "void"]')
        if r.random() < 0.25:
            out.append("  property version: number = 0")
            out.append("  versionProperty version")
        nums = [p.name for p in e.props if p.type == "number"]
        strs = [p.name for p in e.props if p.type == "string"]
        bools = [p.name for p in e.props if p.type == "boolean"]
        for i in range(r.randint(0, 2)):
            if nums:
                # a computed may use the ones before it
                out.append(f"  computed c{i}: number = {_num_expr(r, nums + e.computed)}")
                e.computed.append(f"c{i}")
        if others and r.random() < 0.3:
            out.append(f"  {r.choice(['hasMany', 'hasOne', 'belongsTo', 'ref'])} rel: {r.choice(others)}")
            if r.random() < 0.5:
                out.append("  computed hasRel: boolean = self.rel != null")
                e.computed.append("hasRel")
        for i in range(r.randint(0, 2)):
            out.append(self._entity_constraint(i, nums, strs, bools))
        policies = self._policies(out, nums, strs, bools)
        for i in range(r.randint(1, 4)):
            out.extend(self._command(e, i, nums, strs, bools, policies))
        out.append("}")
        self.lines.extend(out)
        return e

    def _entity_constraint(self, i: int, nums: list[str], strs: list[str], bools: list[str]) -> str:
        r = self.r
        expr = _bool_expr(r, nums, strs, bools)
        if r.random() < 0.3:  # the block form: overrideable, templates, details
            over = "overrideable " if r.random() < 0.6 else ""
            fields = [f"expression: {expr}", f"severity: {r.choice(['block', 'warn'])}"]
            if nums and r.random() < 0.5:
                fields.append(f'messageTemplate: "at {{{r.choice(nums)}}}"')
                fields.append(f"details: {{ v: {r.choice(nums)} }}")
            return f"  constraint {over}ek{i} {{ " + "  ".join(fields) + " }"
        sev = r.choice([":", ":", ":warn", ":ok", ":block"])
        msg = r.choice(["", ' "entity rule broken"'])
        return f"  constraint ek{i}{sev} {expr}{msg}"

    def _policies(self, out: list[str], nums: list[str], strs: list[str], bools: list[str]) -> list[str]:
        r = self.r
        names = []
        for i in range(r.randint(0, 2)):
            action = r.choice(["execute", "all", "override", "read", "write", ""])
            expr = r.choice(
                ['user.role == "admin"', 'user.role != "banned"', "true", "false", "user.id != null"]
            )
            if r.random() < 0.3:
                expr = _bool_expr(r, nums, strs, bools)
            msg = r.choice(["", ' "not allowed"'])
            if action in ("execute", "all") and r.random() < 0.2:
                scope = r.choice(["global", "user"])
                msg = f" rateLimit {{ maxRequests: {r.randint(1, 3)}, windowMs: 10, scope: {scope} }}{msg}"
            line = f"policy pol{i} {action}: {expr}{msg}".replace("  ", " ")
            out.append("  " + line)
            names.append(f"pol{i}")
        return names

    def _command(
        self, e: Entity, i: int, nums: list[str], strs: list[str], bools: list[str], policies: list[str]
    ) -> list[str]:
        r = self.r
        params: list[tuple[str, str]] = []
        for j in range(r.randint(0, 3)):
            params.append((f"a{j}", r.choice(TYPES)))
        name = "create" if i == 0 and r.random() < 0.3 else f"cmd{i}"
        e.commands.append({"name": name, "params": params})
        pnums = nums + [n for n, t in params if t == "number"]
        pstrs = strs + [n for n, t in params if t == "string"]
        pbools = bools + [n for n, t in params if t == "boolean"]
        sig = ", ".join(self._param(n, t) for n, t in params)
        out = [f"  command {name}({sig}) {{"]
        if r.random() < 0.1:
            scope = r.choice(["global", "user", "tenant"])
            out.append(f"    rateLimit {{ maxRequests: {r.randint(1, 3)}, windowMs: 10, scope: {scope} }}")
        for _ in range(r.randint(0, 2)):
            out.append(f"    guard {_bool_expr(r, pnums, pstrs, pbools)}")
        for k in range(r.randint(0, 2)):
            out.extend(self._command_constraint(k, pnums, pstrs, pbools, policies))
        props = e.props
        for _ in range(r.randint(0, 3)):
            roll = r.random()
            if roll < 0.5 and props:
                p = r.choice(props)
                if p.type == "number":
                    value = _num_expr(r, pnums)
                elif p.type == "list<string>":
                    value = r.choice(["[]", '["z"]', p.name])
                elif p.type == "string":
                    value = r.choice(pstrs + ['"z"', "context.missing"]) if pstrs else '"z"'
                else:
                    value = r.choice(pbools + ["true", "false"])
                out.append(f"    mutate {p.name} = {value}")
            elif roll < 0.6 and e.has_status:
                out.append(f'    mutate status = "{r.choice(STATES)}"')
            elif roll < 0.75:
                target = f"t{r.randint(0, 1)}"
                out.append(f"    compute {target} = {_num_expr(r, pnums)}")
                pnums = [*pnums, target]  # later statements may use it
            else:
                ev = f"Ev{r.randint(0, 2)}"
                fields = r.sample(["f", "g", "h"], r.randint(0, 2))
                body = ", ".join(f"{f}: {_num_expr(r, pnums)}" for f in fields)
                out.append(f"    emit {ev} {{ {body} }}" if fields else f"    emit {ev}")
                self.events.setdefault(ev, [])
        if r.random() < 0.08:  # one event, two payload mappings (the first one wins everywhere)
            out.append(f"    emit Ev0 {{ f: {_num_expr(r, pnums)} }}")
            out.append(f"    emit Ev0 {{ g: {_num_expr(r, pnums)} }}")
            self.events.setdefault("Ev0", [])
        out.append("  }")
        return out

    def _param(self, name: str, type_: str) -> str:
        r = self.r
        roll = r.random()
        if roll < 0.15:
            return f"optional {name}: {type_}"
        if roll < 0.3:
            return f"{name}: {type_} = {_literal(r, type_)}"
        if roll < 0.38 and type_ == "string":
            return f"{name}: string from context.user.id"
        return f"{name}: {type_}"

    def _command_constraint(
        self, k: int, nums: list[str], strs: list[str], bools: list[str], policies: list[str]
    ) -> list[str]:
        r = self.r
        expr = _bool_expr(r, nums, strs, bools)
        if r.random() < 0.5:
            sev = r.choice([":", ":warn", ":ok", ":block"])
            return [f'    constraint k{k}{sev} {expr} "rule {k}"']
        over = "overrideable " if r.random() < 0.6 else ""
        lines = [f"    constraint {over}k{k} {{", f"      expression: {expr}"]
        lines.append(f"      severity: {r.choice(['block', 'block', 'warn', 'ok'])}")
        if r.random() < 0.5:
            lines.append(
                f'      messageTemplate: "limit {{{r.choice(nums + ["n", "id"]) if nums else "id"}}} broken"'
            )
        elif r.random() < 0.5:
            lines.append('      message: "blocked here"')
        if over and policies and r.random() < 0.7:
            lines.append(f"      overridePolicy: {r.choice(policies)}")
        if nums and r.random() < 0.3:
            lines.append(f"      details: {{ v: {r.choice(nums)} }}")
        lines.append("    }")
        return lines


def generate_case(seed: int) -> dict[str, Any]:
    r = random.Random(seed)
    gen = ModelGen(r)
    count = r.randint(1, 3)
    entities = [gen.entity(i, [f"E{j}" for j in range(count) if j != i]) for i in range(count)]
    for ev in sorted(gen.events):
        gen.lines.append(f'event {ev}: "ch.{ev.lower()}" {{')
        gen.lines.extend(["  f: number?", "  g: number?", "  h: number?", "}"])
    source = "\n".join(gen.lines) + "\n"
    context = {"user": {"id": r.choice(["u1", None]), "role": r.choice(ROLES)}}
    if context["user"]["id"] is None:
        del context["user"]["id"]
    return {"seed": seed, "source": source, "context": context, "ops": _ops(r, entities)}


def _ops(r: random.Random, entities: list[Entity]) -> list[dict[str, Any]]:
    ids: dict[str, list[str]] = {e.name: [] for e in entities}
    ops: list[dict[str, Any]] = []
    for n in range(r.randint(20, 60)):
        e = r.choice(entities)
        roll = r.random()
        if roll < 0.2 or not ids[e.name]:
            new_id = f"{e.name.lower()}-1" if r.random() < 0.15 else f"{e.name.lower()}-{n}"
            data: dict[str, Any] = {"id": new_id}
            for p in e.props:
                if r.random() < 0.6:
                    data[p.name] = _value(r, p.type)
            if r.random() < 0.1:
                del data["id"]
            ops.append({"op": "create", "entity": e.name, "data": data})
            ids[e.name].append(new_id)
        elif roll < 0.65 and e.commands:
            op = _run_op(r, e, ids[e.name])
            if r.random() < 0.03:
                op["command"] = "nope"  # an unknown command still answers with the call's ids
            ops.append(op)
        elif roll < 0.72:
            ops.append({"op": "get", "entity": e.name, "id": r.choice(ids[e.name] + ["nope"])})
        elif roll < 0.76:
            ops.append({"op": "all", "entity": e.name})
        elif roll < 0.8 and e.computed:
            ops.append(
                {
                    "op": "computed",
                    "entity": e.name,
                    "id": r.choice(ids[e.name]),
                    "prop": r.choice(e.computed),
                }
            )
        elif roll < 0.85:
            data = {p.name: _value(r, p.type) for p in e.props}
            ops.append({"op": "check", "entity": e.name, "data": data})
        elif roll < 0.9:
            ops.append({"op": "log"})
        elif roll < 0.95:
            user: dict[str, Any] = {"role": r.choice(ROLES)}
            if r.random() < 0.5:
                user["id"] = r.choice(["u1", "u2"])
            ops.append({"op": "context", "patch": {"user": user, "flag": r.choice([True, False])}})
        else:
            ops.append({"op": r.choice(["serialize", "restore"])})
    ops.append({"op": "log"})
    return ops


def _run_op(r: random.Random, e: Entity, ids: list[str]) -> dict[str, Any]:
    cmd = r.choice(e.commands)
    inp: dict[str, Any] = {}
    for name, type_ in cmd["params"]:
        if r.random() < 0.85:
            inp[name] = _value(r, type_, odd=0.004)
    if cmd["name"] == "create" and r.random() < 0.5:
        inp["id"] = f"{e.name.lower()}-c{r.randint(0, 3)}"
    op: dict[str, Any] = {"op": "run", "command": cmd["name"], "input": inp, "entity": e.name}
    if cmd["name"] != "create" or r.random() < 0.3:
        op["instance"] = "missing-id" if r.random() < 0.08 else r.choice(ids)
    if r.random() < 0.4:
        op["corr"] = f"corr-{r.randint(1, 3)}"
    if r.random() < 0.3:
        op["cause"] = f"cause-{r.randint(1, 3)}"
    if r.random() < 0.25:
        op["overrides"] = [
            {
                "constraintCode": r.choice(["k0", "k1", "ek0", "ek1"]),
                "reason": "because",
                "authorizedBy": r.choice(["u1", "boss"]),
                "timestamp": r.choice([5, 99]),
            }
        ]
    return op
