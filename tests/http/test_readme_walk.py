"""The README's curl walk (Pattern 1 and Pattern 2 of the users' document), replayed request by
request against the real ``manifest serve`` CLI, with curl's own request shape: ``-d`` sends
``application/x-www-form-urlencoded``, and the server reads the body as JSON regardless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from httpkit import ServeProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catering"
CHEF = {"X-API-Key": "chef-key"}
MGR = {"X-API-Key": "manager-key"}
WEDDING = {"X-Correlation-Id": "wedding-42"}
CURL_FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends


def curl_d(client: httpx.Client, path: str, data: str, *headers: dict[str, str]) -> httpx.Response:
    merged: dict[str, str] = dict(CURL_FORM)
    for extra in headers:
        merged.update(extra)
    return client.post(path, content=data.encode(), headers=merged)


def failed_codes(body: dict[str, Any]) -> set[str]:
    return {o["code"] for o in body.get("constraintOutcomes") or [] if not o["passed"]}


def pattern_1(api: httpx.Client) -> None:
    item = '{"id": "butter", "name": "Butter", "quantityOnHand": 20, "quantityAvailable": 20, "parLevel": 5}'
    created = curl_d(api, "/InventoryItem", item, CHEF)
    assert created.status_code == 201 and created.json()["tenantId"] == "kitchen-1", created.text

    url = "/InventoryItem/butter/commands/reserve"
    warned = curl_d(api, url, '{"quantity": 16, "eventId": "wedding-42"}', CHEF, WEDDING)
    assert warned.status_code == 200 and failed_codes(warned.json()) == {"warnBelowPar"}
    warning = next(o for o in warned.json()["constraintOutcomes"] if o["code"] == "warnBelowPar")
    assert warning["severity"] == "warn" and warning["passed"] is False

    blocked = curl_d(api, url, '{"quantity": 10, "eventId": "wedding-42"}', CHEF, WEDDING)
    assert blocked.status_code == 422 and blocked.json()["code"] == "CONSTRAINT_BLOCKED"
    assert blocked.json()["detail"] == "Insufficient stock for reservation"
    override = (
        '{"input": {"quantity": 10, "eventId": "wedding-42"},\n'
        '          "overrideRequests": [{"constraintCode": "blockStockout", "reason": "delivery at 6am", '
        '"authorizedBy": "sam"}]}'
    )
    chef_override = curl_d(api, url, override, CHEF, WEDDING)  # only a manager may override
    assert chef_override.status_code == 422 and chef_override.json()["code"] == "CONSTRAINT_BLOCKED"

    key = {"Idempotency-Key": "wedding-42-butter-2"}
    first = curl_d(api, url, override, MGR, WEDDING, key)
    retry = curl_d(api, url, override, MGR, WEDDING, key)
    assert first.status_code == retry.status_code == 200 and first.json() == retry.json()
    assert [e["name"] for e in first.json()["emittedEvents"]] == ["OverrideApplied", "InventoryReserved"]

    row = api.get("/InventoryItem/butter", headers=CHEF).json()
    assert (row["quantityReserved"], row["quantityAvailable"]) == (26, -6)  # applied once
    assert api.get("/InventoryItem/butter", headers={"X-API-Key": "other-key"}).status_code == 404


def pattern_2(api: httpx.Client) -> None:
    task = '{"id": "task-1", "eventId": "wedding-42", "name": "Dice onions", "quantityTotal": 50}'
    created = curl_d(api, "/PrepTask", task, CHEF)
    assert created.status_code == 201 and created.json()["status"] == "open", created.text

    key = {"Idempotency-Key": "claim-task-1"}
    claim = "/PrepTask/task-1/commands/claim"
    first = curl_d(api, claim, '{"userId": "maria"}', CHEF, WEDDING, key)
    assert first.status_code == 200, first.text
    assert [e["name"] for e in first.json()["emittedEvents"]] == ["PrepTaskClaimed"]
    again = curl_d(api, claim, '{"userId": "maria"}', CHEF, WEDDING, key)
    assert again.status_code == 200 and again.json() == first.json()  # cached, nothing re-emitted

    duplicate = curl_d(api, claim, '{"userId": "bob"}', CHEF, WEDDING)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "INVALID_TRANSITION"
    assert duplicate.json()["detail"] == (
        "Invalid state transition for 'status': 'claimed' -> 'claimed' is not allowed. "
        "Allowed from 'claimed': ['in_progress', 'open']"
    )
    started = curl_d(api, "/PrepTask/task-1/commands/start", "{}", CHEF, WEDDING)
    assert started.status_code == 200 and started.json()["emittedEvents"][0]["name"] == "PrepTaskStarted"
    done = curl_d(api, "/PrepTask/task-1/commands/complete", '{"quantityCompleted": 50}', CHEF, WEDDING)
    assert done.status_code == 200 and done.json()["emittedEvents"][0]["name"] == "PrepTaskCompleted"
    row = api.get("/PrepTask/task-1", headers=CHEF).json()
    assert (row["status"], row["claimedBy"], row["quantityCompleted"]) == ("done", "maria", 50)


def test_readme_walk_on_the_real_cli(tmp_path: Path) -> None:
    keys = str(EXAMPLE / "keys.json")
    # no --db: the README runs on the default ./manifest.db of the working directory
    with (
        ServeProcess(EXAMPLE / "catering.manifest", None, "--api-keys", keys, cwd=tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        pattern_1(api)
        pattern_2(api)
        trace = api.get("/trace/wedding-42", headers={**CHEF, "Accept": "application/json"})
        assert trace.status_code == 200
        # reserve x3 (warn, block, chef override) + manager override once (the retry was a replay)
        # + claim once + duplicate claim + start + complete
        assert trace.json()["commands"] == 8, trace.json()
        page = api.get("/trace/wedding-42?api_key=chef-key")
        assert page.headers["content-type"].startswith("text/html") and "wedding-42" in page.text
        assert (tmp_path / "manifest.db").exists()
