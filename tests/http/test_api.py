"""The HTTP API end to end (in-process ASGI): routes, status codes, problems, tenants, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from httpkit import who
from starlette.testclient import TestClient

PROBLEM = "application/problem+json"


def create_item(
    client: TestClient, name: str = "Flour", on_hand: int = 10, par: int = 2, **who_kw: Any
) -> str:
    response = client.post(
        "/InventoryItem",
        json={"name": name, "quantityOnHand": on_hand, "parLevel": par},
        headers=who(**who_kw),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    instance = body.get("instance") or body["result"]
    return str(instance["id"])


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert (
        body["code"] == code and body["status"] == status and body["type"].startswith("urn:manifest:problem:")
    )
    return body


def reserve(client: TestClient, item: str, body: Any, **kw: Any) -> Any:
    headers = {
        **who(**{k: v for k, v in kw.items() if k in {"user", "role", "tenant"}}),
        **kw.get("extra", {}),
    }
    return client.post(f"/InventoryItem/{item}/commands/reserve", json=body, headers=headers)


def test_create_get_and_list_with_pagination_and_filters(kitchen_client: TestClient) -> None:
    ids = [create_item(kitchen_client, name) for name in ("Flour", "Sugar", "Salt")]
    got = kitchen_client.get(f"/InventoryItem/{ids[1]}", headers=who())
    assert got.status_code == 200 and got.json()["name"] == "Sugar" and got.json()["quantityOnHand"] == 10
    page = kitchen_client.get("/InventoryItem?limit=2", headers=who()).json()
    assert [r["name"] for r in page["items"]] == ["Flour", "Sugar"] and page["nextCursor"]
    rest = kitchen_client.get(f"/InventoryItem?limit=2&cursor={page['nextCursor']}", headers=who()).json()
    assert [r["name"] for r in rest["items"]] == ["Salt"] and rest["nextCursor"] is None
    assert kitchen_client.get("/InventoryItem?offset=2", headers=who()).json()["items"][0]["id"] == ids[2]
    filtered = kitchen_client.get("/InventoryItem?name=Salt&quantityOnHand=10", headers=who()).json()
    assert [r["id"] for r in filtered["items"]] == [ids[2]]
    assert kitchen_client.get("/inventoryitem?name=Nope", headers=who()).json()["items"] == []
    for bad in ("limit=0", "limit=x", "offset=-1", "cursor=zzz", "nosuch=1", "quantityOnHand=abc"):
        problem(kitchen_client.get(f"/InventoryItem?{bad}", headers=who()), 400, "INVALID_QUERY")


def test_warn_block_override_and_guard(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client, on_hand=10, par=5)
    ok = reserve(kitchen_client, item, {"quantity": 2, "eventId": "e1"})
    assert ok.status_code == 200 and ok.json()["emittedEvents"][0]["name"] == "InventoryReserved"
    warned = reserve(kitchen_client, item, {"quantity": 4, "eventId": "e1"})
    assert warned.status_code == 200
    warnings = [o for o in warned.json()["constraintOutcomes"] if o["severity"] == "warn" and not o["passed"]]
    assert warnings and warnings[0]["message"] == "Reservation leaves stock below par"
    blocked = problem(
        reserve(kitchen_client, item, {"quantity": 50, "eventId": "e1"}), 422, "CONSTRAINT_BLOCKED"
    )
    assert blocked["detail"] == "Not enough stock" and blocked["result"]["success"] is False
    override = {"constraintCode": "enoughStock", "reason": "big party", "authorizedBy": "mgr-1"}
    body = {"input": {"quantity": 50, "eventId": "e1"}, "overrideRequests": [override]}
    allowed = reserve(kitchen_client, item, body, user="mgr-1", role="manager")
    assert allowed.status_code == 200, allowed.text
    assert [e["name"] for e in allowed.json()["emittedEvents"]][:1] == ["OverrideApplied"]
    state = kitchen_client.get(f"/InventoryItem/{item}", headers=who()).json()
    assert state["quantityReserved"] == 56
    fresh = create_item(kitchen_client, on_hand=10, par=0)
    guard = problem(reserve(kitchen_client, fresh, {"quantity": 0, "eventId": "e1"}), 422, "GUARD_FAILED")
    assert guard["result"]["guardFailure"]["index"] == 1


def test_policy_denial_and_authentication(make_client: Callable[..., TestClient]) -> None:
    client = make_client(
        auth=None,
        api_keys={
            "chef-key": {"user": {"id": "c1", "role": "chef"}, "tenantId": "t-a"},
            "guest-key": {"user": {"id": "g1", "role": "guest"}, "tenantId": "t-a"},
        },
    )
    problem(client.get("/InventoryItem"), 401, "UNAUTHENTICATED")
    problem(client.get("/InventoryItem", headers={"X-API-Key": "wrong"}), 401, "UNAUTHENTICATED")
    created = client.post(
        "/InventoryItem",
        json={"name": "Eggs", "quantityOnHand": 3, "parLevel": 0},
        headers={"X-API-Key": "chef-key"},
    )
    assert created.status_code == 201
    denied = client.post(
        "/InventoryItem",
        json={"name": "Eggs", "quantityOnHand": 3, "parLevel": 0},
        headers={"X-API-Key": "guest-key"},
    )
    body = problem(denied, 403, "POLICY_DENIED")
    assert (
        body["detail"] == "Only kitchen staff can run commands"
        and body["result"]["deniedBy"] == "kitchenStaff"
    )


def test_bad_input_is_400_never_500(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client)
    url = f"/InventoryItem/{item}/commands/reserve"
    raw = kitchen_client.post(
        url, content=b"{not json", headers={**who(), "content-type": "application/json"}
    )
    problem(raw, 400, "MALFORMED_JSON")
    for body in (
        {"quantity": "two", "eventId": "e"},
        {"quantity": 1},
        {"quantity": 1, "eventId": "e", "x": 1},
        [1, 2],
        "text",
        {"quantity": None, "eventId": "e"},
    ):
        problem(kitchen_client.post(url, json=body, headers=who()), 400, "INVALID_INPUT")
    problem(kitchen_client.post("/InventoryItem", json={"name": 5}, headers=who()), 400, "INVALID_INPUT")
    problem(kitchen_client.post("/Note", json={"text": "a", "bogus": 1}, headers=who()), 400, "INVALID_INPUT")
    problem(kitchen_client.delete("/InventoryItem", headers=who()), 405, "METHOD_NOT_ALLOWED")


def test_not_found_codes(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client)
    problem(kitchen_client.get("/Nope", headers=who()), 404, "UNKNOWN_ENTITY")
    problem(kitchen_client.get("/InventoryItem/missing", headers=who()), 404, "INSTANCE_NOT_FOUND")
    problem(
        kitchen_client.post(f"/InventoryItem/{item}/commands/nope", json={}, headers=who()),
        404,
        "UNKNOWN_COMMAND",
    )
    problem(
        kitchen_client.post("/InventoryItem/missing/commands/retire", json={}, headers=who()),
        404,
        "INSTANCE_NOT_FOUND",
    )
    problem(kitchen_client.post("/commands/nope", json={}, headers=who()), 404, "UNKNOWN_COMMAND")
    # ids may contain "/", so a deep path names an entity and an id
    problem(kitchen_client.get("/a/b/c/d/e", headers=who()), 404, "UNKNOWN_ENTITY")
    problem(kitchen_client.get("/InventoryItem/b/c/d", headers=who()), 404, "INSTANCE_NOT_FOUND")
    problem(kitchen_client.post("/a/b/c/d/e", headers=who()), 405, "METHOD_NOT_ALLOWED")


def test_conflicts_are_409(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client)
    assert kitchen_client.post(f"/InventoryItem/{item}/commands/retire", headers=who()).status_code == 200
    body = problem(
        kitchen_client.post(f"/InventoryItem/{item}/commands/reactivate", headers=who()),
        409,
        "INVALID_TRANSITION",
    )
    assert body["detail"].startswith("Invalid state transition for 'status'")
    version = kitchen_client.get(f"/InventoryItem/{item}", headers=who()).json()["version"]
    stale = {"quantity": 1, "expectedVersion": version - 1}
    conflict = problem(
        kitchen_client.post(f"/InventoryItem/{item}/commands/adjust", json=stale, headers=who()),
        409,
        "CONCURRENCY_CONFLICT",
    )
    assert conflict["result"]["concurrencyConflict"]["actualVersion"] == version
    fresh = {"quantity": 1, "expectedVersion": version}
    assert (
        kitchen_client.post(f"/InventoryItem/{item}/commands/adjust", json=fresh, headers=who()).status_code
        == 200
    )


def test_body_limit_is_enforced_while_reading(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=64)
    big = {"name": "x" * 100, "quantityOnHand": 1, "parLevel": 1}
    problem(client.post("/InventoryItem", json=big, headers=who()), 413, "BODY_TOO_LARGE")

    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(10):
            yield b" " * 20

    problem(client.post("/InventoryItem", content=chunks(), headers=who()), 413, "BODY_TOO_LARGE")


def test_tenant_isolation_on_every_route(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client, tenant="t-a")
    b = who(user="chef-b", tenant="t-b")
    problem(kitchen_client.get(f"/InventoryItem/{item}", headers=b), 404, "INSTANCE_NOT_FOUND")
    assert kitchen_client.get("/InventoryItem", headers=b).json()["items"] == []
    assert kitchen_client.get(f"/InventoryItem?id={item}", headers=b).json()["items"] == []
    for command, body in (("reserve", {"quantity": 1, "eventId": "e"}), ("retire", {})):
        response = kitchen_client.post(f"/InventoryItem/{item}/commands/{command}", json=body, headers=b)
        problem(response, 404, "INSTANCE_NOT_FOUND")
    problem(kitchen_client.get("/InventoryItem", headers=who(tenant=None)), 403, "MISSING_TENANT_CONTEXT")
    problem(
        kitchen_client.get(f"/InventoryItem/{item}", headers=who(tenant=None)), 403, "MISSING_TENANT_CONTEXT"
    )
    # tenant A still sees its row, untouched
    row = kitchen_client.get(f"/InventoryItem/{item}", headers=who(tenant="t-a")).json()
    assert row["quantityReserved"] == 0 and row["status"] == "active" and row["tenantId"] == "t-a"


def test_idempotent_retries_execute_once(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client)
    headers = {"Idempotency-Key": "order-42"}
    first = reserve(kitchen_client, item, {"quantity": 3, "eventId": "e"}, extra=headers)
    second = reserve(kitchen_client, item, {"quantity": 3, "eventId": "e"}, extra=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert kitchen_client.get(f"/InventoryItem/{item}", headers=who()).json()["quantityReserved"] == 3
    # the same key from another tenant is a different request
    other = create_item(kitchen_client, tenant="t-b")
    again = reserve(kitchen_client, other, {"quantity": 1, "eventId": "e"}, tenant="t-b", extra=headers)
    assert again.status_code == 200 and again.json() != first.json()


def test_entityless_command_and_plain_create(kitchen_client: TestClient) -> None:
    response = kitchen_client.post(
        "/commands/ping",
        json={"message": "hi"},
        headers={**who(), "X-Correlation-Id": "wf-1", "X-Causation-Id": "button"},
    )
    assert response.status_code == 200, response.text
    event = response.json()["emittedEvents"][0]
    assert event["name"] == "Pinged" and event["correlationId"] == "wf-1" and event["causationId"] == "button"
    note = kitchen_client.post("/Note", json={"text": "buy lemons"}, headers=who())
    assert note.status_code == 201 and note.json()["text"] == "buy lemons" and note.json()["pinned"] is False
    missing = problem(
        kitchen_client.post("/Note", json={"pinned": True}, headers=who()), 400, "INVALID_INPUT"
    )
    assert missing["missing"] == ["text"] and "missing required text" in missing["detail"]
    listed = kitchen_client.get("/Note?pinned=false", headers=who()).json()["items"]
    assert [n["text"] for n in listed] == ["buy lemons"]


def test_openapi_and_docs(kitchen_client: TestClient) -> None:
    spec = kitchen_client.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    reserve_op = spec["paths"]["/InventoryItem/{id}/commands/reserve"]["post"]
    schema = spec["components"]["schemas"]["InventoryItem_reserve_Input"]
    assert schema["required"] == ["quantity", "eventId"] and schema["properties"]["quantity"] == {
        "type": "number"
    }
    assert {"409", "422", "413"} <= set(reserve_op["responses"])
    docs = kitchen_client.get("/docs")
    assert (
        docs.status_code == 200
        and "/InventoryItem/{id}/commands/reserve" in docs.text
        and "<script" not in docs.text
    )
    assert "<code>quantity</code>: number <b>*</b>" in docs.text  # reserve's fields, resolved from $ref


def test_trace_json_from_recorded_commands(kitchen_client: TestClient) -> None:
    item = create_item(kitchen_client)
    cid = {"X-Correlation-Id": "prep-7"}
    reserve(kitchen_client, item, {"quantity": 9, "eventId": "e"}, extra={**cid, "X-Causation-Id": "plan"})
    for _ in range(2):  # a retry answered from the idempotency store is not a second command
        reserve(
            kitchen_client, item, {"quantity": 50, "eventId": "e"}, extra={**cid, "Idempotency-Key": "r1"}
        )
    trace = kitchen_client.get("/trace/prep-7", headers={**who(), "Accept": "application/json"}).json()
    assert trace["correlationId"] == "prep-7" and trace["commands"] == 2
    labels = {r["label"] for r in trace["roots"]}
    assert labels == {"plan", "root"}
    plan = next(r for r in trace["roots"] if r["label"] == "plan")
    kinds = [c["kind"] for c in plan["children"][0]["children"]]
    assert kinds == ["event", "warning"]
    failed = next(r for r in trace["roots"] if r["label"] == "root")["children"][0]
    assert failed["children"][-1]["kind"] == "failure"
    # another tenant sees nothing of it
    other = kitchen_client.get("/trace/prep-7", headers={**who(tenant="t-b"), "Accept": "application/json"})
    assert other.json()["roots"] == []
    html = kitchen_client.get("/trace/prep-7", headers=who())
    assert html.headers["content-type"].startswith("text/html") and "<svg" in html.text


def test_mounted_inside_another_app() -> None:
    from httpkit import KITCHEN
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from manifest_lang.http.app import create_app

    host = Starlette(routes=[Mount("/kitchen", app=create_app(KITCHEN, auth="headers"))])
    with TestClient(host) as client:
        mint = {"name": "Mint", "quantityOnHand": 1, "parLevel": 0}
        created = client.post("/kitchen/InventoryItem", json=mint, headers=who())
        assert created.status_code == 201
        item = created.json()["instance"]["id"]
        assert client.get(f"/kitchen/InventoryItem/{item}", headers=who()).json()["name"] == "Mint"
        assert 'href="openapi.json"' in client.get("/kitchen/docs").text  # relative: works under any prefix
        assert client.get("/kitchen/openapi.json").json()["openapi"] == "3.1.0"
        missing = client.get("/kitchen/Nope", headers=who())
        assert missing.status_code == 404 and missing.json()["instance"] == "/kitchen/Nope"


def test_conventional_tenant_property_scopes_without_a_declaration(
    make_client: Callable[..., TestClient],
) -> None:
    from httpkit import MODELS

    client = make_client(MODELS / "desk.manifest")
    a, b = who(tenant="t-a"), who(user="bob", tenant="t-b")
    created = client.post("/Ticket", json={"title": "printer"}, headers=a)
    assert created.status_code == 201, created.text
    ticket = created.json()["instance"]
    assert ticket["tenantId"] == "t-a"  # stamped from the caller, not from the body
    problem(client.get(f"/Ticket/{ticket['id']}", headers=b), 404, "INSTANCE_NOT_FOUND")
    assert client.get("/Ticket", headers=b).json()["items"] == []
    assert client.get("/Ticket?tenantId=t-a", headers=b).json()["items"] == []
    problem(client.post(f"/Ticket/{ticket['id']}/commands/close", headers=b), 404, "INSTANCE_NOT_FOUND")
    assert client.get(f"/Ticket/{ticket['id']}", headers=a).json()["status"] == "open"
    assert client.post(f"/Ticket/{ticket['id']}/commands/close", headers=a).status_code == 200
    # Board has no tenantId: shared by every caller (documented)
    board = client.post("/Board", json={"id": "b1", "name": "Ops"}, headers=a)
    assert board.status_code == 201
    assert client.get("/Board/b1", headers=b).json()["name"] == "Ops"


def test_reads_apply_read_policies_and_masking(make_client: Callable[..., TestClient]) -> None:
    from httpkit import MODELS

    client = make_client(MODELS / "clinic.manifest")
    body = {"id": "p1", "name": "Ann", "card": "4111111111111111", "contact": "ann@example.org"}
    assert client.post("/Patient", json=body, headers=who(role="admin")).status_code == 201
    admin = client.get("/Patient/p1", headers=who(role="admin")).json()
    assert admin["card"] == "****1111" and admin["contact"] == "ann@example.org"  # unmask when admin
    nurse = client.get("/Patient?limit=5", headers=who(role="nurse")).json()["items"]
    assert [p["contact"] for p in nurse] == ["a***@example.org"]
    problem(client.get("/Patient/p1", headers=who(role="clerk")), 404, "INSTANCE_NOT_FOUND")
    assert client.get("/Patient", headers=who(role="clerk")).json()["items"] == []


def test_rate_limits_hold_across_requests(kitchen_client: TestClient) -> None:
    for _ in range(3):
        ok = kitchen_client.post("/commands/ping", json={"message": "x"}, headers=who(user="pinger"))
        assert ok.status_code == 200, ok.text
    limited = kitchen_client.post("/commands/ping", json={"message": "x"}, headers=who(user="pinger"))
    body = problem(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1 and body["result"]["rateLimitDenial"]["scope"] == "user"
    other = kitchen_client.post("/commands/ping", json={"message": "x"}, headers=who(user="someone-else"))
    assert other.status_code == 200
