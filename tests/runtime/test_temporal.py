"""date / time / datetime / duration properties reject values of the wrong shape."""

from __future__ import annotations

import pytest

from .test_reactions import engine_for

VALID = {
    "id": "m1",
    "title": "Standup",
    "day": "2026-06-09",
    "startsAt": "09:30:00",
    "due": 10**12,
    "length": 3_600_000,
}


def test_valid_values_and_iso_datetimes_are_accepted() -> None:
    engine = engine_for("92-date-time-types")
    assert engine.create_instance("Meeting", VALID) is not None
    assert engine.create_instance("Meeting", {**VALID, "id": "m2", "due": "2026-06-09T09:30:00Z"}) is not None
    assert engine.create_instance("Meeting", {**VALID, "id": "m3", "day": None}) is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [("day", "2026-02-30"), ("day", 20260609), ("startsAt", "25:00"), ("due", "tomorrow"), ("length", "1h")],
)
def test_wrong_shapes_are_refused(field: str, value: object) -> None:
    engine = engine_for("92-date-time-types")
    assert engine.create_instance("Meeting", {**VALID, field: value}) is None


def test_a_command_writing_a_wrong_value_fails_with_the_type_error() -> None:
    engine = engine_for("92-date-time-types")
    engine.create_instance("Meeting", VALID)
    # typed inputs refuse the parameter first (newDue is a number) ...
    result = engine.run_command("schedule", {"newDue": "soon"}, entity_name="Meeting", instance_id="m1")
    assert not result.success and result.parameter_failure == {
        "parameter": "newDue",
        "expectedType": "number",
        "code": "INVALID_PARAMETER_TYPE",
    }
    # ... and with the reference's lax inputs, the write rule catches the value
    engine.strict_inputs = False
    result = engine.run_command("schedule", {"newDue": "soon"}, entity_name="Meeting", instance_id="m1")
    assert not result.success
    assert result.error == 'E_TYPE_DATETIME: Property "due" expects datetime; got "soon"'
