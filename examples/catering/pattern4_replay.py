"""Pattern 4: record last night's commands, replay them deterministically, catch a tampered record.

A ``CommandJournal`` records every command (input, options, the clock readings and ids it used,
and what it produced). ``replay_and_verify`` re-runs the journal in deterministic mode on a fresh
store and compares. Editing one recorded input makes the replay name the command that differs.

Run: python -m examples.catering.pattern4_replay
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson

from manifest_lang.workflows.journal import CommandJournal
from manifest_lang.workflows.replay import replay_and_verify

from .kitchen import CHEF, TENANT, StepClock, kitchen, load_model


def record_event_day(path: Path) -> CommandJournal:
    """Run the document's three recorded commands on task-42, journaling them to ``path``."""
    journal = CommandJournal(path, model=load_model())
    factory = kitchen(now=journal.clock(StepClock()), generate_id=journal.ids(), command_hooks=[journal])
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    engine.create_instance(
        "PrepTask",
        {
            "id": "task-42",
            "tenantId": TENANT,
            "eventId": "evt-99",
            "name": "Pipe eclairs",
            "quantityTotal": 50,
        },
    )
    journal.snapshot(factory.store, model=load_model())
    options = {"entity_name": "PrepTask", "instance_id": "task-42", "correlation_id": "event-day-99"}
    engine.run_command("claim", {"userId": "chef-maria"}, **options)
    engine.run_command("start", {}, **options)
    engine.run_command("complete", {"quantityCompleted": 50}, **options)
    journal.close()
    return journal


def tamper(path: Path, command: str, field: str, value: Any) -> None:
    """Change one recorded input of ``command`` in a journal file (what an auditor must detect)."""
    lines = path.read_bytes().splitlines()
    for i, line in enumerate(lines):
        entry = orjson.loads(line)
        if entry.get("type") == "command" and entry["command"] == command:
            entry["input"][field] = value
            lines[i] = orjson.dumps(entry)
            break
    path.write_bytes(b"\n".join(lines) + b"\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "event-day-99.jsonl"
        record_event_day(path)
        report = replay_and_verify(load_model(), CommandJournal.load(path))
        print("replay of the journal:", {"verified": report.verified, "mismatches": report.messages})

        tamper(path, "complete", "quantityCompleted", 5)
        report = replay_and_verify(load_model(), CommandJournal.load(path))
        print("after editing one input:", {"verified": report.verified})
        for message in report.messages:
            print("  ", message)


if __name__ == "__main__":
    main()
