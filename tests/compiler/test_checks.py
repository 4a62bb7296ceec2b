"""Semantic checks on whole models (completeness, reactions, intents, create commands...)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manifest_lang.compiler.api import compile_source

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.manifest")))
def test_model_diagnostics(name: str) -> None:
    expected = json.loads((DATA / f"{name}.expected.json").read_text())
    result = compile_source((DATA / f"{name}.manifest").read_text())
    assert (result.ir is not None) == expected["ok"]
    assert [d.to_dict() for d in result.diagnostics] == expected["diagnostics"]


def messages(source: str) -> list[str]:
    return [d.message for d in compile_source(source).diagnostics]


def test_retry_and_rate_limit_bounds() -> None:
    source = (
        "command c() {\n  retry {\n    maxAttempts: 0\n    delay: 5\n  }\n"
        "  rateLimit {\n    maxRequests: 0\n    windowMs: 0\n    scope: planet\n  }\n}\n"
    )
    assert messages(source) == [
        "Retry maxAttempts must be >= 1, got 0",
        "RateLimit maxRequests must be >= 1, got 0",
        "RateLimit window must be >= 1ms",
        "RateLimit scope must be 'user', 'tenant', or 'global', got 'planet'",
    ]


def test_role_graph_errors() -> None:
    source = "role A extends B {\n  allow read\n}\nrole B extends A {\n}\nrole C extends Z {\n}\n"
    assert messages(source) == ["Role 'C' extends unknown role 'Z'", "Role cycle detected: A -> B -> A"]


def test_schedule_duration_and_cron_errors() -> None:
    source = 'schedule a cron "* *" run x\nschedule b every 5 parsecs run x\ncommand x() {\n}\n'
    assert messages(source) == [
        "Invalid cron expression '* *' in schedule 'a' (expected 5 fields: minute hour day month dayOfWeek)",
        "Invalid every duration in schedule 'b': Invalid duration unit: \"parsecs\"",
    ]


def test_async_event_collision() -> None:
    source = (
        "entity A {\n  property x: number = 0\n  async command run2() {\n    mutate x = 1\n  }\n}\n"
        'store A in memory\nevent run2Completed: "x" {\n  id: string\n}\n'
    )
    assert messages(source)[0] == (
        "Async command 'run2' auto-generates event 'run2Completed' which collides with a user-declared "
        "event of the same name."
    )


def test_approval_checks_carry_positions() -> None:
    source = (
        "entity A {\n  property x: number = 0\n  command go() {\n    mutate x = 1\n  }\n"
        "  approval ap {\n    command: nope\n  }\n}\nstore A in memory\n"
    )
    diagnostics = compile_source(source).diagnostics
    assert [d.message for d in diagnostics] == [
        "Approval 'ap' references command 'nope' which does not exist on entity 'A'. Available commands: go",
        "Approval 'ap' must declare at least one stage",
    ]
    assert (diagnostics[0].line, diagnostics[0].column) == (6, 11)


def test_incompatible_default_and_masking_errors() -> None:
    source = (
        'entity A {\n  property n: number = "x"\n  property masked(partial, 1) s: string\n'
        "  property masked(weird) t: string\n  property searchable k: number = 0\n}\n"
    )
    assert messages(source)[:4] == [
        "Property default for 'n' is incompatible with declared type 'number'.",
        "Property 's': masking strategy 'partial' requires exactly 2 parameters (got 1).",
        "Property 't': Unknown masking strategy 'weird'. Known strategies: redact, partial, email, "
        "phone, last4.",
        "Property 'k' on entity 'A': 'searchable' modifier is only valid on string properties (got "
        "'number').",
    ]


def test_invalid_regex_in_matches() -> None:
    source = 'entity A {\n  property s: string = ""\n  constraint c: matches(self.s, "(") "bad"\n}\n'
    assert messages(source)[0] == 'Invalid regex pattern in matches(): "("'
