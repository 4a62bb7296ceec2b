"""Reaction completeness: a reaction must be able to fire, and what it reads must exist.

Checked on the IR, after everything else (reference order). ``self.`` in a single-target
reaction reads the event payload; in a fan-out it reads the matched row, as does ``target.``.
"""

from __future__ import annotations

from typing import Any

from .diagnostics import DiagnosticSink

_EXEMPT_HEADS = frozenset(["_subject", "_eventName", "_channel"])
_UNDEFINED = "— undefined at runtime."


def _chains(expr: Any) -> Any:
    """(root, [names...]) for every member chain rooted at an identifier, outermost first."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("kind") == "member":
            names: list[str] = []
            current = node
            while current.get("kind") == "member":
                names.append(str(current["property"]))
                current = current["object"]
            if current.get("kind") == "identifier":
                yield current["name"], list(reversed(names))
                continue
            stack.append(current)
            continue
        for value in reversed(list(node.values())):
            if isinstance(value, dict):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(reversed([v for v in value if isinstance(v, dict)]))


class ReactionChecker:
    def __init__(self, ir: dict[str, Any], sink: DiagnosticSink) -> None:
        self.sink = sink
        self.entities = {e["name"]: e for e in ir["entities"]}
        self.events = {e["name"]: e for e in ir["events"]}
        self.emitters: dict[str, list[dict[str, Any]]] = {}
        for command in ir["commands"]:
            for event in command["emits"]:
                self.emitters.setdefault(event, []).append(command)

    def check(self, reaction: dict[str, Any]) -> None:
        event = reaction["event"]
        label = f"{event} \u2192 {reaction['targetEntity']}.{reaction['targetCommand']}"
        emitters = self.emitters.get(event)
        if not emitters:
            self.sink.error(
                f"Reaction '{label}' listens for event '{event}' but no command emits that event — "
                "the reaction can never fire."
            )
            return
        fan_out = reaction.get("fanOut")
        match_entity = (fan_out.get("matchEntity") or reaction["targetEntity"]) if fan_out else None
        sources = [reaction.get("resolve")] + [m["source"] for m in reaction.get("match", [])]
        if fan_out:
            sources.append(fan_out["matchSource"])
        sources += [p["expression"] for p in reaction.get("params", [])]
        for source in sources:
            for root, names in _chains(source):
                self._chain(label, event, root, names, emitters, match_entity)

    def _chain(
        self,
        label: str,
        event: str,
        root: str,
        names: list[str],
        emitters: list[dict[str, Any]],
        match_entity: str | None,
    ) -> None:
        prefix = f"Reaction '{label}' references"
        if root in ("self", "target") and match_entity is not None:
            entity = self.entities.get(match_entity)
            props = {p["name"] for p in entity["properties"]} if entity else set()
            if entity is not None and names[0] != "id" and names[0] not in props:
                self.sink.error(
                    f"{prefix} {root}.{'.'.join(names)} but '{names[0]}' is not a property of match "
                    f"entity {match_entity} {_UNDEFINED}"
                )
            return
        if root == "target":
            self.sink.error(
                f"{prefix} target.{'.'.join(names)} but target binding is only available on fan-out "
                "reaction params."
            )
            return
        if root in ("payload", "self"):
            self._payload(prefix, event, names, emitters)

    def _payload(self, prefix: str, event: str, names: list[str], emitters: list[dict[str, Any]]) -> None:
        head = names[0]
        declared = self.events.get(event, {}).get("payload")
        fields = {f["name"] for f in declared} if isinstance(declared, list) else set()
        if head in _EXEMPT_HEADS or head in fields:
            return
        chain = "payload." + ".".join(names)
        for emitter in emitters:
            entity = emitter.get("entity", "")
            who = f"{entity}.{emitter['name']}" if entity else emitter["name"]
            if head == "result":
                if len(names) < 2:
                    continue
                field = names[1]
                if emitter["name"] != "create":
                    self.sink.error(
                        f"{prefix} payload.result.{field} via {who} — non-create commands set result "
                        "to the last action value, not the instance; use payload._subject.id or an "
                        "input param instead."
                    )
                elif field != "id" and field not in {p["name"] for p in self._props(entity)}:
                    self.sink.error(
                        f"{prefix} payload.result.{field} but '{field}' is not a property of {entity} "
                        f"(create result is the new instance) {_UNDEFINED}"
                    )
                continue
            params = {p["name"] for p in emitter["parameters"]}
            explicit = {
                f["name"]
                for p in emitter.get("emitPayloads", [])
                if p["eventName"] == event
                for f in p["fields"]
            }
            if head not in params and head not in explicit:
                self.sink.error(
                    f"{prefix} {chain} but '{head}' is neither a parameter nor an explicit payload "
                    f"field of emitter {who} {_UNDEFINED}"
                )

    def _props(self, entity: str) -> list[dict[str, Any]]:
        found = self.entities.get(entity)
        return found["properties"] if found else []


def check_reaction_completeness(ir: dict[str, Any], sink: DiagnosticSink) -> None:
    checker = ReactionChecker(ir, sink)
    for reaction in ir["reactions"]:
        checker.check(reaction)
