"""Issue 18, the keyed command path of ``manifest serve``: the compiled input checker agrees with
jsonschema on every parameter type, a command answers lean by default and in full with
``?verbose=1``, and a keyed reserve over HTTP is one transaction of eight statements."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from manifest_lang.http.app import create_app
from manifest_lang.http.checker import InputChecker, compile_schema
from manifest_lang.http.schema import TypeSchemas

REPO = Path(__file__).resolve().parents[2]
CATERING = REPO / "examples" / "catering" / "catering.manifest"
MANAGER = {"X-User-Id": "sam", "X-User-Role": "manager", "X-Tenant-Id": "kitchen-1"}

# -- the compiled checker ----------------------------------------------------------------------
IR: dict[str, Any] = {
    "enums": [{"name": "Size", "values": [{"name": "small"}, {"name": "large"}]}],
    "values": [
        {
            "name": "Money",
            "properties": [
                {"name": "amount", "type": {"name": "number"}},
                {"name": "currency", "type": {"name": "string"}},
            ],
        }
    ],
}
SCALARS = [
    "string", "number", "decimal", "money", "float", "double", "int", "integer", "bigint", "boolean",
    "bool", "date", "datetime", "timestamp", "time", "duration", "map", "record", "json", "object",
    "any", "unknown", "void", "Size", "Money", "Customer",
]  # fmt: skip
TYPES: list[dict[str, Any]] = [{"name": n} for n in SCALARS]
TYPES += [{"name": n, "nullable": True} for n in SCALARS]
TYPES += [{"name": c, "generic": {"name": g}} for c in ("list", "array") for g in ("string", "int", "Size")]
TYPES += [{"name": "map", "generic": {"name": g}} for g in ("number", "boolean", "Money")]
TYPES += [{"name": "list", "generic": {"name": "list", "generic": {"name": "time", "nullable": True}}}]

SCHEMAS = TypeSchemas(IR)

TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["small", "large", "12:30", "23:59:59.5", "24:00", "2026-12-04", "a\x00b", "USD"]),
)
SCALAR_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -3.0, 2.5, 1e300]),
    TEXT,
)
JSON = st.recursive(
    SCALAR_VALUES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["amount", "currency", "a", "b"]) | TEXT, inner, max_size=4),
    ),
    max_leaves=10,
)


_VALIDATORS: dict[str, Any] = {}


def jsonschema_accepts(schema: dict[str, Any], value: Any) -> bool:
    validator = _VALIDATORS.setdefault(repr(schema), Draft202012Validator(schema))
    return not list(validator.iter_errors(value))


@pytest.mark.parametrize("ir_type", TYPES, ids=lambda t: repr(t))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_the_compiled_check_agrees_with_jsonschema_on_every_type(ir_type: dict[str, Any], value: Any) -> None:
    schema = SCHEMAS.for_type(ir_type)
    assert compile_schema(schema)(value) == jsonschema_accepts(schema, value), (schema, value)


COMMAND = {
    "name": "book",
    "parameters": [
        {"name": "quantity", "type": {"name": "int"}},
        {"name": "size", "type": {"name": "Size"}, "required": False},
        {"name": "note", "type": {"name": "string", "nullable": True}, "defaultValue": {"kind": "literal"}},
        {"name": "price", "type": {"name": "Money"}, "required": False},
        {"name": "tags", "type": {"name": "list", "generic": {"name": "string"}}, "required": False},
        {"name": "who", "type": {"name": "string"}, "trustedSource": "context.user.id"},
    ],
}
INPUT_SCHEMA = SCHEMAS.command_input(COMMAND)
INPUTS = st.dictionaries(st.sampled_from(["quantity", "size", "note", "price", "tags", "who", "x"]), JSON)


@settings(max_examples=400, deadline=None)
@given(data=INPUTS)
def test_the_compiled_check_of_a_whole_input_agrees_with_jsonschema(data: dict[str, Any]) -> None:
    checker = InputChecker(INPUT_SCHEMA)
    assert checker.valid(data) == jsonschema_accepts(INPUT_SCHEMA, data), data
    assert checker.valid(data) == (checker.errors(data) == [])


# -- lean and verbose answers ------------------------------------------------------------------
@pytest.fixture
def catering(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(str(CATERING), store=f"sqlite:///{tmp_path / 'c.db'}", auth="headers")
    with TestClient(app, raise_server_exceptions=False) as client:
        row = {"id": "butter", "name": "Butter", "quantityOnHand": 20, "quantityAvailable": 20, "parLevel": 5}
        assert client.post("/InventoryItem", json=row, headers=MANAGER).status_code == 201
        yield client


def reserve(
    client: TestClient,
    quantity: int,
    *,
    query: str = "",
    key: str | None = None,
    who: dict[str, str] = MANAGER,
) -> Any:
    headers = {**who, "X-Correlation-Id": "wedding-42"}
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"quantity": quantity, "eventId": "wedding-42"}
    return client.post(f"/InventoryItem/butter/commands/reserve{query}", json=body, headers=headers)


def test_an_invalid_input_is_described_as_before(catering: TestClient) -> None:
    bad = catering.post(
        "/InventoryItem/butter/commands/reserve",
        json={"quantity": "lots", "eventId": 7, "extra": True},
        headers=MANAGER,
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["code"] == "INVALID_INPUT"
    assert body["errors"] == [
        {"path": "", "message": "Additional properties are not allowed ('extra' was unexpected)"},
        {"path": "eventId", "message": "7 is not of type 'string'"},
        {"path": "quantity", "message": "'lots' is not of type 'number'"},
    ]
    assert body["detail"] == (
        "Additional properties are not allowed ('extra' was unexpected); "
        "eventId: 7 is not of type 'string'; quantity: 'lots' is not of type 'number'"
    )


def test_a_command_answers_lean_by_default(catering: TestClient) -> None:
    response = reserve(catering, 16)  # drops below par: the warning fires
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["result"] == 4 and body["correlationId"] == "wedding-42"
    # only the outcome that fired, without the rule's text and values
    assert body["constraintOutcomes"] == [
        {
            "code": "warnBelowPar",
            "constraintName": "warnBelowPar",
            "severity": "warn",
            "message": "Reserving will drop below par level",
            "passed": False,
        }
    ]
    [event] = body["emittedEvents"]
    assert event["name"] == "InventoryReserved" and event["payload"]["quantity"] == 16
    assert event["subject"] == {"command": "reserve", "entity": "InventoryItem", "id": "butter"}
    assert "provenance" not in event
    quiet = reserve(catering, 1).json()  # nothing fires above par... here it is still below
    assert [o["code"] for o in quiet["constraintOutcomes"]] == ["warnBelowPar"]


def test_verbose_answers_the_full_result(catering: TestClient) -> None:
    body = reserve(catering, 2, query="?verbose=1").json()
    codes = [o["code"] for o in body["constraintOutcomes"]]
    assert codes == ["warnBelowPar", "blockStockout", "blockRestrictedEvent"]  # passed ones too
    assert all("formatted" in o and "resolved" in o for o in body["constraintOutcomes"])
    seen = body["constraintOutcomes"][1]["resolved"][0]
    assert seen == {"expression": "self.quantityAvailable", "value": 20}
    assert set(body["emittedEvents"][0]["provenance"]) >= {"contentHash", "compilerVersion"}
    assert reserve(catering, 1, query="?verbose=true").json()["constraintOutcomes"][0]["resolved"]
    lean = reserve(catering, 1, query="?verbose=0").json()
    assert "provenance" not in lean["emittedEvents"][0]


def test_a_replay_answers_like_the_first_answer_lean_or_verbose(catering: TestClient) -> None:
    first = reserve(catering, 3, key="k-1")
    assert reserve(catering, 3, key="k-1").json() == first.json()
    verbose = reserve(catering, 3, key="k-1", query="?verbose=1").json()
    assert len(verbose["constraintOutcomes"]) == 3 and "provenance" in verbose["emittedEvents"][0]
    assert catering.get("/InventoryItem/butter", headers=MANAGER).json()["quantityReserved"] == 3


def test_a_refusal_carries_the_full_result(catering: TestClient) -> None:
    response = reserve(catering, 50, who={**MANAGER, "X-User-Role": "chef"})  # a chef may not oversell
    assert response.status_code == 422 and response.json()["code"] == "CONSTRAINT_BLOCKED"
    outcomes = response.json()["result"]["constraintOutcomes"]
    assert [o["code"] for o in outcomes] == ["warnBelowPar", "blockStockout"]  # stopped at the block
    assert all("resolved" in o and "formatted" in o for o in outcomes)


def test_a_keyed_reserve_is_one_transaction_of_eight_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    app = create_app(str(CATERING), store=f"sqlite:///{tmp_path / 't.db'}", auth="headers")
    with TestClient(app) as client:
        row = {"id": "butter", "name": "Butter", "quantityOnHand": 10**6, "quantityAvailable": 10**6}
        assert client.post("/InventoryItem", json=row, headers=MANAGER).status_code == 201
        reserve(client, 1, key="warm")  # the first claim also purges expired keys
        for _ in range(3):
            statements.clear()
            assert reserve(client, 1, key=uuid.uuid4().hex).status_code == 200
            assert len(statements) == 8, statements
            assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
            assert sum(s.startswith("BEGIN") for s in statements) == 1
        statements.clear()
        assert reserve(client, 1, key="warm").status_code == 200  # a replay writes nothing
        assert not [s for s in statements if s.startswith(("UPDATE", 'INSERT INTO "manifest_outbox"'))]
