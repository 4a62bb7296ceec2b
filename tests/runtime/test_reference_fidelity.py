"""Behaviours where we disagreed with the reference runtime (issue 11, B1-B9 and Q1) and the
number rule: the language's numbers are JavaScript doubles, also beyond 2**53."""

from __future__ import annotations

import json
from typing import Any

import orjson

from manifest_lang.compiler.api import compile_source
from manifest_lang.compiler.provenance import compute_ir_hash, verify_ir_hash
from manifest_lang.expr.values import loads_json
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.results import OverrideRequest

from .helpers import NOW, compile_ir

HEAD = "entity A {\n  property required id: string\n"


def engine_for(body: str, context: dict[str, Any] | None = None, tail: str = "") -> RuntimeEngine:
    ir = compile_ir(HEAD + body + "\n}\n" + tail)
    engine = RuntimeEngine(ir, context or {}, now=lambda: NOW)
    engine.create_instance("A", {"id": "a1"})
    return engine


def test_unknown_command_result_carries_correlation_and_causation_ids() -> None:
    engine = engine_for("  command go() {}")
    result = engine.run_command("nope", {}, correlation_id="corr-1", causation_id="cause-1")
    assert result.to_dict() == {
        "success": False,
        "error": "Command 'nope' not found",
        "correlationId": "corr-1",
        "causationId": "cause-1",
        "emittedEvents": [],
    }


def test_budget_exceeded_result_carries_correlation_and_causation_ids() -> None:
    ir = compile_ir(HEAD + "  property n: number = 0\n  command go() { mutate n = n + 1 + 2 + 3 + 4 }\n}\n")
    engine = RuntimeEngine(ir, {}, evaluation_limits={"maxEvaluationSteps": 2})
    engine.create_instance("A", {"id": "a1"})
    result = engine.run_command(
        "go", {}, entity_name="A", instance_id="a1", correlation_id="c", causation_id="k"
    )
    assert not result.success and "budget" in (result.error or "").lower()
    assert (result.correlation_id, result.causation_id) == ("c", "k")


def test_policy_denial_message_defaults_to_the_denial_text() -> None:
    engine = engine_for(
        '  command go() {}\n  policy staffOnly execute: user.role == "admin"', {"user": {"role": "clerk"}}
    )
    result = engine.run_command("go", {}, entity_name="A", instance_id="a1")
    denial = result.to_dict()["policyDenial"]
    assert result.error == denial["message"] == "Denied by policy 'staffOnly'"


def test_policy_denial_message_is_the_policy_message() -> None:
    engine = engine_for('  command go() {}\n  policy p execute: false "staff only"')
    result = engine.run_command("go", {}, entity_name="A", instance_id="a1")
    assert result.to_dict()["policyDenial"]["message"] == "staff only"


def test_command_constraint_error_is_the_rendered_message_template() -> None:
    body = (
        "  command go(n: number) {\n"
        '    constraint limit { expression: false  messageTemplate: "limit {n} exceeded" }\n  }'
    )
    result = engine_for(body).run_command("go", {"n": 3}, entity_name="A", instance_id="a1")
    assert result.error == "limit 3 exceeded"


def test_number_literals_beyond_64_bits_compile_with_an_override_policy() -> None:
    source = HEAD + (
        "  property total: number = 18446744073709551616\n"
        "  command go() { constraint overrideable big { expression: total > 5  overridePolicy: p } }\n"
        "  policy p override: true\n}\n"
    )
    result = compile_source(source)
    assert result.ir is not None, [d.message for d in result.diagnostics]
    assert verify_ir_hash(result.ir)
    default = result.ir["entities"][0]["properties"][1]["defaultValue"]
    assert default == {"kind": "number", "value": 18446744073709551616.0}


def test_ir_hash_writes_large_numbers_as_javascript_does() -> None:
    result = compile_source(HEAD + "  property total: number = 1000000000000000000000\n}\n")
    assert result.ir is not None
    # The reference hashes JSON.stringify's text: 1e+21 (and 2**64 as 18446744073709552000).
    from manifest_lang.compiler.provenance import canonical_json

    assert '"value":1e+21' in canonical_json(result.ir)
    assert canonical_json({"v": 2.0**64}) == '{"v":18446744073709552000}'
    assert result.ir["provenance"]["irHash"] == compute_ir_hash(result.ir)
    # the file a user writes and reads back keeps the hash
    again = json.loads(json.dumps(result.ir))
    assert verify_ir_hash(again)


def test_an_event_emitted_twice_keeps_its_first_payload_mapping() -> None:
    engine = engine_for(
        "  command two() {\n    emit Done { a: 1 }\n    emit Done { b: 2 }\n  }",
        tail='event Done: "x.done" { a: number? }\n',
    )
    result = engine.run_command("two", {}, entity_name="A", instance_id="a1")
    assert [e.to_dict()["payload"] for e in result.emitted_events] == [{"a": 1}, {"a": 1}]


OVERRIDE = (
    "  property n: number = 0\n"
    "  command ov() {\n"
    "    constraint overrideable big { expression: n > 5  overridePolicy: p }\n"
    "    mutate n = 7\n  }\n"
    "  policy p override: true"
)


def test_auto_authorised_override_without_user_id_is_authorised_by_the_policy() -> None:
    result = engine_for(OVERRIDE).run_command("ov", {}, entity_name="A", instance_id="a1")
    assert result.success
    (event,) = [e for e in result.emitted_events if e.name == "OverrideApplied"]
    assert event.payload["authorizedBy"] == "policy:p"


def test_override_timestamp_is_the_engine_clock_not_the_request() -> None:
    request = OverrideRequest("big", "r", "boss", 5)
    result = engine_for(OVERRIDE).run_command(
        "ov", {}, entity_name="A", instance_id="a1", override_requests=[request]
    )
    (event,) = [e for e in result.emitted_events if e.name == "OverrideApplied"]
    assert event.payload["timestamp"] == NOW


def test_undefined_value_of_a_unique_property_is_not_a_duplicate() -> None:
    engine = engine_for("  property unique title: string?\n  command ut() { mutate title = context.missing }")
    engine.create_instance("A", {"id": "a2"})
    assert engine.run_command("ut", {}, entity_name="A", instance_id="a1").success
    assert engine.run_command("ut", {}, entity_name="A", instance_id="a2").success


def test_denied_caller_on_a_missing_instance_gets_the_policy_denial() -> None:
    body = '  command go() {}\n  policy staffOnly execute: user.role == "admin"'
    engine = engine_for(body, {"user": {"role": "clerk"}})
    assert (
        engine.run_command("go", {}, entity_name="A", instance_id="nope").error
        == "Denied by policy 'staffOnly'"
    )
    engine.set_context({"user": {"role": "admin"}})
    assert engine.run_command("go", {}, entity_name="A", instance_id="nope").error == (
        "Instance 'nope' of entity 'A' not found"
    )


def test_rate_limit_applies_before_the_missing_instance_check() -> None:
    body = "  command go() {\n    rateLimit { maxRequests: 1, windowMs: 60000, scope: global }\n  }"
    engine = engine_for(body)
    assert "not found" in (engine.run_command("go", {}, entity_name="A", instance_id="nope").error or "")
    assert "Rate limit exceeded" in (
        engine.run_command("go", {}, entity_name="A", instance_id="nope").error or ""
    )


def test_json_integers_beyond_64_bits_are_doubles() -> None:
    assert loads_json(b'{"n": 18446744073709551616, "m": 9007199254740993, "k": 5}') == {
        "n": 18446744073709551616.0,
        "m": 9007199254740992.0,
        "k": 5,
    }
    assert type(loads_json(b"[12345678901234567890123]")[0]) is float


def test_command_input_beyond_2_53_is_a_double_end_to_end() -> None:
    engine = engine_for("  property n: number = 0\n  command set(v: number) { mutate n = v + 1 }")
    result = engine.run_command("set", {"v": 18446744073709551616}, entity_name="A", instance_id="a1")
    assert result.success
    row = engine.get_instance("A", "a1")
    assert row is not None and row["n"] == 2.0**64 and type(row["n"]) is float
    assert orjson.loads(orjson.dumps(result.to_dict()))["result"] == 2.0**64  # serialisable, no crash


# --- found by the differential fuzzer (tools/difftest) -----------------------------------------


def test_create_command_admits_its_draft_with_entity_constraint_outcomes() -> None:
    body = (
        "  property p0: number = 1\n"
        '  constraint positive: p0 > 0 "must be positive"\n'
        '  constraint big:warn p0 > 5 "big"\n'
        "  command create(a: number) { mutate p0 = a }"
    )
    engine = engine_for(body)
    created = engine.run_command("create", {"a": 3}, entity_name="A")
    assert created.success
    codes = [(o.code, o.passed) for o in created.constraint_outcomes or []]
    assert codes == [("positive", True), ("big", False)]  # evaluated on the draft (p0 = 1)
    refused = engine.run_command("create", {"a": 3, "p0": -1}, entity_name="A")
    assert refused.error == "must be positive"
    assert [o.code for o in refused.constraint_outcomes or []] == ["positive", "big"]


def test_create_command_reports_every_duplicate_unique_value() -> None:
    body = '  property unique p0: string = "a"\n  property unique p1: number = 1\n  command create() {}'
    engine = engine_for(body)  # a1 holds the defaults: p0 "a", p1 1
    refused = engine.run_command("create", {}, entity_name="A")
    assert refused.error == "Property 'p0' must be unique; value already exists"
    details = [o.details for o in refused.constraint_outcomes or []]
    assert details == [
        {"property": "p0", "modifier": "unique", "value": "a"},
        {"property": "p1", "modifier": "unique", "value": 1},
    ]


def test_a_failed_warning_can_be_overridden() -> None:
    body = "  command go() {\n    constraint overrideable soft { expression: false  severity: warn }\n  }"
    engine = engine_for(body, {"user": {"role": "admin"}})
    result = engine.run_command(
        "go", {}, entity_name="A", instance_id="a1", override_requests=[OverrideRequest("soft", "ok", "boss")]
    )
    assert result.success
    (outcome,) = result.constraint_outcomes or []
    assert (outcome.severity, outcome.overridden, outcome.overridden_by) == ("warn", True, "boss")
    assert [e.name for e in result.emitted_events] == ["OverrideApplied"]


def test_only_an_override_policy_authorises_without_a_request() -> None:
    body = (
        "  command go() {\n    constraint overrideable c { expression: false  overridePolicy: p }\n  }\n"
        "  policy p all: true"
    )
    result = engine_for(body).run_command("go", {}, entity_name="A", instance_id="a1")
    assert result.error == "Command blocked by constraint 'c'"


def test_a_property_a_create_clears_stays_absent() -> None:
    body = '  property p0: string = "a"\n  command create() { mutate p0 = context.missing }'
    engine = engine_for(body)
    created = engine.run_command("create", {}, entity_name="A")
    assert created.success and created.instance is not None and "p0" not in created.instance
    guarded = engine_for(
        '  property p0: string = "a"\n  constraint set: p0 == "a"\n'
        "  command create() { mutate p0 = context.missing }"
    ).run_command("create", {}, entity_name="A")
    assert not guarded.success  # the constraint sees the property absent, not its default


def test_a_missing_trusted_parameter_is_reported_before_a_missing_input() -> None:
    body = "  command go(a: number, who: string from context.user.id) {}"
    result = engine_for(body).run_command("go", {}, entity_name="A", instance_id="a1")
    assert (result.error or "").startswith("MISSING_TRUSTED_CONTEXT: command 'go' requires parameter 'who'")


def test_ir_hash_writes_small_numbers_as_javascript_does() -> None:
    from manifest_lang.compiler.provenance import canonical_json

    # Python writes 1e-07 and 1e-05; JSON.stringify writes 1e-7 and 0.00001 (the hash is over it)
    assert (
        canonical_json({"a": 1e-7, "b": 0.00001, "c": 2**70})
        == '{"a":1e-7,"b":0.00001,"c":1.1805916207174113e+21}'
    )
    result = compile_source(HEAD + "  property x: number = 0.0000001\n}\n")
    assert result.ir is not None and verify_ir_hash(json.loads(json.dumps(result.ir)))
