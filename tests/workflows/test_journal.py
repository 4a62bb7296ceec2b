"""CommandJournal records commands; replay_and_verify reproduces them or names what differs."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore
from manifest_lang.runtime.results import OverrideRequest
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.workflows.journal import CommandJournal, JournalEntry
from manifest_lang.workflows.replay import replay_and_verify

from .models import counter_model

ADMIN = {"user": {"id": "u1", "role": "admin"}}


def recording_engine(journal: CommandJournal, context: dict | None = None, **options) -> RuntimeEngine:  # type: ignore[no-untyped-def]
    clock = itertools.count(1_000_000, 7)
    ids = (f"gen-{n}" for n in itertools.count(1))
    return RuntimeEngine(
        counter_model(),
        dict(context if context is not None else ADMIN),
        **journal.engine_options(now=lambda: next(clock), generate_id=lambda: next(ids)),
        **options,
    )


def seed(engine: RuntimeEngine, journal: CommandJournal, n: int) -> None:
    for i in range(n):
        engine.create_instance("Counter", {"id": f"c{i}", "value": 0})
    journal.snapshot(engine, model=counter_model())


def test_records_name_input_options_clock_ids_and_result() -> None:
    journal = CommandJournal()
    engine = recording_engine(journal)
    seed(engine, journal, 1)
    engine.run_command("increment", {"by": 2}, entity_name="Counter", instance_id="c0", correlation_id="k")
    engine.run_command("rename", {"label": "x"}, entity_name="Counter", instance_id="c0", causation_id="why")
    rows, first, second = journal.entries
    assert rows.kind == "rows" and rows.entity == "Counter" and rows.rows[0]["id"] == "c0"
    assert (first.seq, first.command, first.input) == (1, "increment", {"by": 2})
    assert first.options == {"entityName": "Counter", "instanceId": "c0", "correlationId": "k"}
    assert first.context == ADMIN and second.context is None  # recorded only when it changes
    assert first.expected["success"] is True
    assert [e["name"] for e in first.expected["events"]] == ["Incremented"]
    assert first.clock and first.ids == []
    assert second.ids == ["gen-1"]  # uuid() in rename
    assert second.options == {"entityName": "Counter", "instanceId": "c0", "causationId": "why"}


def test_replay_of_an_unchanged_journal_verifies(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with CommandJournal(path, model=counter_model()) as journal:
        engine = recording_engine(journal)
        seed(engine, journal, 2)
        opts = {"entity_name": "Counter", "instance_id": "c0"}
        engine.run_command("increment", {"by": 5}, **opts)
        engine.run_command("decrement", {"by": 50}, **opts)  # guard failure: recorded as a failure
        engine.run_command("stamp", {}, **opts)
        engine.run_command("rename", {"label": "new"}, **opts)
        engine.replace_context({"user": {"id": "u2", "role": "cook"}})
        engine.run_command("rename", {"label": "denied"}, **opts)
        engine.run_command("nope", {}, **opts)
    loaded = CommandJournal.load(path)
    assert [e.command for e in loaded.commands()] == [
        "increment",
        "decrement",
        "stamp",
        "rename",
        "rename",
        "nope",
    ]
    report = replay_and_verify(counter_model(), loaded)
    assert report.to_dict() == {"verified": True, "commands": 6, "modelChanged": False, "mismatches": []}


def _big_journal(n: int) -> CommandJournal:
    journal = CommandJournal()
    engine = recording_engine(journal)
    seed(engine, journal, 50)
    for i in range(n):
        cid = f"c{i % 50}"
        if i % 10 == 9:
            engine.run_command("decrement", {"by": 1}, entity_name="Counter", instance_id=cid)
        else:
            engine.run_command(
                "increment",
                {"by": i % 7 + 1},
                entity_name="Counter",
                instance_id=cid,
                correlation_id=f"wf-{i // 100}",
            )
    return journal


def test_a_ten_thousand_command_journal_verifies_and_one_altered_input_is_named() -> None:
    journal = _big_journal(10_000)
    assert len(journal.commands()) == 10_000
    assert not all(e.expected["success"] for e in journal.commands())  # some increments warn/block
    report = replay_and_verify(counter_model(), journal)
    assert report.verified and report.commands == 10_000

    target = journal.commands()[5_000]
    assert target.command == "increment" and target.expected["success"]
    target.input["by"] += 1
    report = replay_and_verify(counter_model(), journal)
    assert not report.verified
    assert report.commands_differing[0] == 5_001
    first = report.mismatches[0]
    assert (first.seq, first.command, first.kind) == (5_001, "increment", "payload")
    assert first.message == (
        "Command increment (#5001): payload of Incremented differs: 'by' expected 3, got 4"
    )


def test_mismatch_kinds_name_the_command() -> None:
    journal = CommandJournal()
    engine = recording_engine(journal)
    seed(engine, journal, 1)
    opts = {"entity_name": "Counter", "instance_id": "c0"}
    engine.run_command("increment", {"by": 1}, **opts)
    engine.run_command("decrement", {"by": 9}, **opts)
    engine.run_command("increment", {"by": 1}, **opts)
    c1, c2, c3 = journal.commands()
    c1.input["by"] = -1  # now fails its guard
    c2.input["by"] = 0  # now succeeds
    c3.expected["events"].append({"name": "Ghost", "emitIndex": 1})
    messages = replay_and_verify(counter_model(), journal).messages
    assert messages[0] == "Command increment (#1) failed: Guard condition failed for command 'increment'"
    assert messages[1] == (
        "Command decrement (#2): expected failure 'Guard condition failed for command 'decrement'', "
        "got success"
    )
    assert "Command increment (#3): expected event Ghost at index 1, got nothing" in messages


def test_clock_and_ids_are_fed_back_and_overruns_reported() -> None:
    journal = CommandJournal()
    engine = recording_engine(journal)
    seed(engine, journal, 1)
    engine.run_command("rename", {"label": "a"}, entity_name="Counter", instance_id="c0")
    entry = journal.commands()[0]
    assert entry.ids == ["gen-1"] and entry.expected["result"] == "gen-1"
    assert replay_and_verify(counter_model(), journal).verified

    entry.ids.append("never-used")
    assert replay_and_verify(counter_model(), journal).messages == [
        "Command rename (#1): used 1 generated ids, recorded 2"
    ]
    entry.ids.clear()
    assert replay_and_verify(counter_model(), journal).messages[-1] == (
        "Command rename (#1): result differs: expected 'gen-1', got 'replay-unrecorded-id-1'"
    )


def test_idempotent_engines_replay_with_an_idempotency_store() -> None:
    journal = CommandJournal(idempotency=True)
    engine = recording_engine(journal, idempotency_store=MemoryIdempotencyStore())
    seed(engine, journal, 1)
    for _ in range(3):
        engine.run_command(
            "increment", {"by": 4}, entity_name="Counter", instance_id="c0", idempotency_key="k1"
        )
    assert engine.get_instance("Counter", "c0")["value"] == 4  # type: ignore[index]
    assert journal.commands()[2].options["idempotencyKey"] == "k1"
    assert replay_and_verify(counter_model(), journal).verified


def test_override_requests_are_replayed() -> None:
    src = counter_model()
    journal = CommandJournal()
    engine = recording_engine(journal)
    seed(engine, journal, 1)
    result = engine.run_command(
        "increment",
        {"by": 5000},
        entity_name="Counter",
        instance_id="c0",
        override_requests=[OverrideRequest("overflow", "load test", "boss")],
    )
    assert not result.success  # overflow is not overrideable: the request is echoed
    assert journal.commands()[0].options["overrideRequests"][0]["constraintCode"] == "overflow"
    assert replay_and_verify(src, journal).verified


def test_attach_adds_the_hook_to_an_existing_engine() -> None:
    journal = CommandJournal()
    engine = journal.attach(RuntimeEngine(counter_model(), {}, store_provider=MemoryStore()))
    engine.create_instance("Counter", {"id": "x"})
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="x")
    assert [e.command for e in journal.commands()] == ["increment"]


def test_load_rejects_bad_lines_with_their_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"type":"header","version":1}\n{"type":"command","seq":1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 2: 'command'"):
        CommandJournal.load(path)
    path.write_bytes(b'{"type":"header","version":99}\n')
    with pytest.raises(ValueError, match="unsupported journal version 99"):
        CommandJournal.load(path)
    path.write_bytes(b"not json\n")
    with pytest.raises(ValueError, match="line 1"):
        CommandJournal.load(path)


def test_entries_round_trip_through_json() -> None:
    entry = JournalEntry(
        "command",
        seq=3,
        command="x",
        input={"a": 1},
        options={"entityName": "E"},
        context={"u": 1},
        clock=[1.5],
        ids=["i"],
        expected={"success": True, "events": []},
    )
    assert JournalEntry.from_dict(orjson.loads(orjson.dumps(entry.to_dict()))) == entry
    rows = JournalEntry("rows", entity="E", rows=[{"id": "1"}])
    assert JournalEntry.from_dict(rows.to_dict()) == rows


def test_save_writes_what_load_reads(tmp_path: Path) -> None:
    journal = _big_journal(30)
    journal.save(tmp_path / "s.jsonl")
    loaded = CommandJournal.load(tmp_path / "s.jsonl")
    assert [e.to_dict() for e in loaded] == [e.to_dict() for e in journal]
    assert replay_and_verify(counter_model(), loaded).verified


def test_threads_share_a_journal_and_keep_their_own_clock_and_ids() -> None:
    import threading

    journal = CommandJournal()
    store = MemoryStore()
    counter = itertools.count(1)
    lock = threading.Lock()

    def next_id() -> str:
        with lock:
            return f"t-{next(counter)}"

    def make() -> RuntimeEngine:
        return RuntimeEngine(
            counter_model(),
            dict(ADMIN),
            store_provider=store,
            **journal.engine_options(now=lambda: 7, generate_id=next_id),
        )

    seeder = make()
    for i in range(4):
        seeder.create_instance("Counter", {"id": f"c{i}"})
    journal.snapshot(store, model=counter_model())

    def work(i: int) -> None:
        engine = make()
        for _ in range(200):
            engine.run_command("rename", {"label": "x"}, entity_name="Counter", instance_id=f"c{i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    commands = journal.commands()
    assert [c.seq for c in commands] == list(range(1, 801))
    assert all(len(c.ids) == 1 and c.expected["result"] == c.ids[0] for c in commands)
    assert len({c.ids[0] for c in commands}) == 800
    assert replay_and_verify(counter_model(), journal).verified


def test_allocating_commands_replay_with_their_recorded_ids() -> None:
    journal = CommandJournal()
    engine = recording_engine(journal)
    for label in ("x", "y"):
        assert engine.run_command("create", {"label": label}, entity_name="Counter").success
    created = [c.expected["events"][0]["subject"]["id"] for c in journal.commands()]
    assert created == [c.ids[0] for c in journal.commands()] == ["gen-1", "gen-2"]
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="gen-2")
    assert replay_and_verify(counter_model(), journal).verified
