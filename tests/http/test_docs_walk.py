"""The curl walk of docs/http.md, step by step, against the catering example model."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from manifest_lang.http.app import create_app

CATERING = Path(__file__).resolve().parents[2] / "examples" / "catering" / "catering.manifest"
KEYS = {
    "chef-key": {"user": {"id": "maria", "role": "chef"}, "tenantId": "kitchen-1"},
    "manager-key": {"user": {"id": "sam", "role": "manager"}, "tenantId": "kitchen-1"},
}
CHEF = {"X-API-Key": "chef-key", "X-Correlation-Id": "prep-wedding-42"}
MGR = {"X-API-Key": "manager-key", "X-Correlation-Id": "prep-wedding-42"}


def test_documented_walk() -> None:
    with TestClient(create_app(CATERING, api_keys=KEYS)) as client:
        item = {
            "id": "butter",
            "name": "Butter",
            "quantityOnHand": 20,
            "quantityAvailable": 20,
            "parLevel": 5,
        }
        created = client.post("/InventoryItem", json=item, headers=CHEF)
        assert created.status_code == 201 and created.json()["tenantId"] == "kitchen-1"

        url = "/InventoryItem/butter/commands/reserve"
        warned = client.post(url, json={"quantity": 16, "eventId": "wedding-42"}, headers=CHEF)
        assert warned.status_code == 200
        failed = {o["code"] for o in warned.json()["constraintOutcomes"] if not o["passed"]}
        assert failed == {"warnBelowPar"}

        blocked = client.post(url, json={"quantity": 10, "eventId": "wedding-42"}, headers=CHEF)
        assert blocked.status_code == 422 and blocked.json()["code"] == "CONSTRAINT_BLOCKED"
        assert blocked.json()["detail"] == "Insufficient stock for reservation"

        override = {"constraintCode": "blockStockout", "reason": "delivery at 6am", "authorizedBy": "sam"}
        body = {"input": {"quantity": 10, "eventId": "wedding-42"}, "overrideRequests": [override]}
        headers = {**MGR, "Idempotency-Key": "wedding-42-butter-2"}
        first = client.post(url, json=body, headers=headers)
        retry = client.post(url, json=body, headers=headers)
        assert first.status_code == retry.status_code == 200 and first.json() == retry.json()
        assert [e["name"] for e in first.json()["emittedEvents"]] == ["OverrideApplied", "InventoryReserved"]

        row = client.get("/InventoryItem/butter", headers=CHEF).json()
        assert (row["quantityReserved"], row["quantityAvailable"]) == (26, -6)
        trace = client.get("/trace/prep-wedding-42", headers={**CHEF, "Accept": "application/json"}).json()
        assert trace["commands"] == 3  # the idempotent retry did not run again
        assert (
            client.get("/trace/prep-wedding-42?api_key=chef-key")
            .headers["content-type"]
            .startswith("text/html")
        )
