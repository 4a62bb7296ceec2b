"""A refused plain create names its reason: missing properties, the blocking constraint, a taken
id or unique value, or a caller without a tenant (issue 6: never a bare "a rule failed")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from httpkit import MODELS, who
from starlette.testclient import TestClient
from test_api import problem

from manifest_lang.http.app import create_app

PANTRY = MODELS / "pantry.manifest"
CATERING = Path(__file__).resolve().parents[2] / "examples" / "catering" / "catering.manifest"
SHELF = {"label": "Dry goods", "aisle": "A"}


def post(client: TestClient, body: Any, entity: str = "Shelf", tenant: str | None = "t-a") -> Any:
    return client.post(f"/{entity}", json=body, headers=who(tenant=tenant))


def test_missing_required_properties_are_all_named(make_client: Any) -> None:
    client = make_client(PANTRY)
    body = problem(post(client, {"id": "s1"}), 400, "INVALID_INPUT")
    assert body["missing"] == ["label", "aisle"]
    assert body["detail"] == "Shelf could not be created: missing required label, aisle"
    assert [e["path"] for e in body["errors"]] == ["label", "aisle"]
    # an explicit null is missing too (the engine treats it so); nothing was written
    nulls = problem(post(client, {**SHELF, "aisle": None}), 400, "INVALID_INPUT")
    assert "aisle" in nulls["detail"]
    assert client.get("/Shelf", headers=who()).json()["items"] == []


def test_blocking_entity_constraint_names_code_and_message(make_client: Any) -> None:
    client = make_client(PANTRY)
    body = problem(post(client, {**SHELF, "capacity": 0}), 422, "CONSTRAINT_BLOCKED")
    assert body["detail"] == "Shelf could not be created: Capacity must be positive (positiveCapacity)"
    assert body["blockedBy"] == ["positiveCapacity"]
    failed = {o["code"]: o["severity"] for o in body["constraintOutcomes"]}
    assert failed == {"positiveCapacity": "block", "roomyShelf": "warn"}
    # a warning alone does not block
    assert post(client, {**SHELF, "capacity": 2}).status_code == 201


def test_taken_unique_value_and_taken_id_are_conflicts(make_client: Any) -> None:
    client = make_client(PANTRY)
    assert post(client, {**SHELF, "id": "s1", "code": "DRY"}).status_code == 201
    unique = problem(post(client, {**SHELF, "code": "DRY"}), 409, "UNIQUE_VIOLATION")
    assert unique["property"] == "code" and "must be unique" in unique["detail"]
    taken = problem(post(client, {**SHELF, "id": "s1"}), 409, "ALREADY_EXISTS")
    assert taken["id"] == "s1"
    # another tenant cannot overwrite the row by reusing its id
    problem(post(client, {**SHELF, "id": "s1", "label": "mine"}, tenant="t-b"), 409, "ALREADY_EXISTS")
    row = client.get("/Shelf/s1", headers=who()).json()
    assert (row["label"], row["tenantId"]) == ("Dry goods", "t-a")


def test_declared_tenant_model_refuses_overwrite_across_tenants(kitchen_client: TestClient) -> None:
    assert post(kitchen_client, {"id": "n1", "text": "mine"}, "Note").status_code == 201
    problem(post(kitchen_client, {"id": "n1", "text": "theirs"}, "Note", "t-b"), 409, "ALREADY_EXISTS")
    assert kitchen_client.get("/Note/n1", headers=who()).json()["text"] == "mine"


def test_caller_without_tenant_is_told_so(make_client: Any) -> None:
    client = make_client(PANTRY)
    body = problem(post(client, SHELF, tenant=None), 403, "MISSING_TENANT_CONTEXT")
    assert "no tenant" in body["detail"] and "tenantId" in body["detail"]
    # an entity that is not tenant-scoped still takes anonymous-tenant creates
    assert post(client, {"label": "x"}, "Tag", tenant=None).status_code == 201


def test_anonymous_serve_of_the_catering_example_explains_the_refusal() -> None:
    """The reproduction of the report: `manifest serve` without keys, then a plain create."""
    with TestClient(create_app(CATERING), raise_server_exceptions=False) as client:
        response = client.post("/InventoryItem", json={"id": "butter", "name": "Butter"})
        body = problem(response, 403, "MISSING_TENANT_CONTEXT")
        assert "InventoryItem" in body["detail"] and "no tenant" in body["detail"]


def test_anonymous_cli_warns_at_startup_and_explains_the_refusal(tmp_path: Path) -> None:
    """The report, verbatim: `manifest serve catering --db ...` without keys, then `curl -d`."""
    import httpx
    from httpkit import ServeProcess

    with ServeProcess(CATERING, f"sqlite:///{tmp_path / 'x.db'}") as server:
        response = httpx.post(
            f"{server.url}/InventoryItem",
            content=b'{"id":"butter","name":"Butter"}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        output = server.output()
    assert response.status_code == 403 and response.json()["code"] == "MISSING_TENANT_CONTEXT"
    assert "anonymous callers have no tenant, so InventoryItem, PrepTask" in output, output
    assert "--api-keys" in output


def test_other_instance_rules_name_rule_and_property(make_client: Any) -> None:
    client = make_client(PANTRY)
    body = problem(post(client, {**SHELF, "stockedOn": "2026-02-30"}), 400, "INVALID_INPUT")
    assert (body["rule"], body["property"]) == ("E_TYPE_DATE", "stockedOn")
    assert (
        body["detail"].startswith("Shelf could not be created: E_TYPE_DATE")
        and "2026-02-30" in body["detail"]
    )
    assert post(client, {**SHELF, "stockedOn": "2026-01-05"}).status_code == 201


def test_the_engine_itself_names_the_rule_that_refused_a_create() -> None:
    """The reason HTTP reports is the one the engine applied (no rule is run a second time)."""
    from manifest_lang.loading import load_model
    from manifest_lang.runtime.engine import RuntimeEngine
    from manifest_lang.runtime.refusal import WriteRejected

    engine = RuntimeEngine(load_model(PANTRY), {"tenantId": "t-a"})
    refused = engine.create_or_reject("Shelf", {"id": "s1", "tenantId": "t-a"})
    assert isinstance(refused, WriteRejected)
    assert (refused.code, refused.prop, refused.missing) == ("E_REQUIRED", "label", ["label", "aisle"])
    assert engine.create_instance("Shelf", {"id": "s1", "tenantId": "t-a"}) is None  # the reference API
    created = engine.create_or_reject("Shelf", {**SHELF, "id": "s1", "tenantId": "t-a"})
    assert isinstance(created, dict) and created["id"] == "s1"
