"""manifest replay: exit 0 when verified, 1 when a command differs, 2 for unreadable input."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from click.testing import CliRunner

from manifest_lang.cli import main
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.workflows.journal import CommandJournal

from .models import COUNTER, counter_model


def _record(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "counter.manifest"
    model.write_text(COUNTER, encoding="utf-8")
    path = tmp_path / "j.jsonl"
    with CommandJournal(path) as journal:
        engine = RuntimeEngine(
            counter_model(), {}, **journal.engine_options(now=lambda: 5, generate_id=lambda: "i")
        )
        engine.create_instance("Counter", {"id": "c"})
        journal.snapshot(engine, model=counter_model())
        for by in (1, 2, 3):
            engine.run_command("increment", {"by": by}, entity_name="Counter", instance_id="c")
    return path, model


def test_verified_journal_exits_0(tmp_path: Path) -> None:
    path, model = _record(tmp_path)
    result = CliRunner().invoke(main, ["replay", str(path), "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert result.output == "verified: 3 commands replayed, every result identical\n"


def test_tampered_journal_exits_1_naming_the_command(tmp_path: Path) -> None:
    path, model = _record(tmp_path)
    lines = path.read_bytes().splitlines()
    entry = orjson.loads(lines[-1])
    entry["input"]["by"] = 30
    lines[-1] = orjson.dumps(entry)
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(main, ["replay", str(path), "--model", str(model)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "NOT verified: 1 of 3 commands differ"
    assert "Command increment (#3): payload of Incremented differs: 'by' expected 3, got 30" in result.output
    as_json = CliRunner().invoke(main, ["replay", str(path), "--model", str(model), "--json"])
    report = json.loads(as_json.output)
    assert report["verified"] is False and {m["seq"] for m in report["mismatches"]} == {3}


def test_an_ir_json_model_and_limits_are_accepted(tmp_path: Path) -> None:
    path, _ = _record(tmp_path)
    ir = tmp_path / "counter.ir.json"
    ir.write_bytes(orjson.dumps(counter_model().ir))
    result = CliRunner().invoke(main, ["replay", str(path), "--model", str(ir), "--max-steps", "3"])
    assert result.exit_code == 1  # 3 steps are too few: every command now fails
    assert "Evaluation budget exceeded: steps limit 3 reached" in result.output


def test_unreadable_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path, model = _record(tmp_path)
    cases = [
        ([str(tmp_path / "missing.jsonl"), "--model", str(model)], "cannot read journal"),
        ([str(path), "--model", str(tmp_path / "missing.manifest")], "cannot read model"),
    ]
    broken = tmp_path / "broken.manifest"
    broken.write_text("entity {", encoding="utf-8")
    cases.append(([str(path), "--model", str(broken)], "broken.manifest: model does not compile"))
    bad_journal = tmp_path / "bad.jsonl"
    bad_journal.write_text("{nope\n", encoding="utf-8")
    cases.append(([str(bad_journal), "--model", str(model)], "bad.jsonl: line 1"))
    bad_ir = tmp_path / "bad.json"
    bad_ir.write_text("[", encoding="utf-8")
    cases.append(([str(path), "--model", str(bad_ir)], "is not valid JSON"))
    wrong_ir = tmp_path / "wrong.json"
    wrong_ir.write_text('{"entities": 5}', encoding="utf-8")
    cases.append(([str(path), "--model", str(wrong_ir)], "wrong.json: "))
    for args, expected in cases:
        result = CliRunner().invoke(main, ["replay", *args])
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_recompiling_the_same_source_is_the_same_model(tmp_path: Path) -> None:
    """The replay compares a hash without ``compiledAt``: the same source compiled at another
    time is not "a different model"; an edited model is."""
    import copy

    from manifest_lang.loading import load_model

    recorded_ir = copy.deepcopy(counter_model().ir)
    recorded_ir["provenance"]["compiledAt"] = "2001-02-03T04:05:06.000Z"
    recorded_ir["provenance"]["irHash"] = "recorded-at-another-time"
    model = tmp_path / "counter.manifest"
    model.write_text(COUNTER, encoding="utf-8")
    path = tmp_path / "j.jsonl"
    with CommandJournal(path, model=load_model(recorded_ir)) as journal:
        engine = RuntimeEngine(load_model(recorded_ir), {}, **journal.engine_options(now=lambda: 5))
        engine.create_instance("Counter", {"id": "c"})
        journal.snapshot(engine, model=load_model(recorded_ir))
        engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c")
    same = CliRunner().invoke(main, ["replay", str(path), "--model", str(model)])
    assert same.exit_code == 0, same.output
    assert "different model" not in same.output

    edited = tmp_path / "edited.manifest"
    edited.write_text(COUNTER.replace('"Counter passes 100"', '"Counter is past 100"'), encoding="utf-8")
    changed = CliRunner().invoke(main, ["replay", str(path), "--model", str(edited)])
    assert "the journal was recorded with a different model" in changed.output
