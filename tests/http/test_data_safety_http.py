"""Issue 12 over HTTP on every store: a taken id is 409 ALREADY_EXISTS (plain create and the
``create`` command, never a takeover), an Idempotency-Key is scoped by tenant and bound to its
request (another body, instance or user: 422 IDEMPOTENCY_KEY_REUSED), and database text never
reaches a problem's detail."""

from __future__ import annotations

from typing import Any

from httpkit import KITCHEN, MODELS, who
from test_api import problem

PANTRY = MODELS / "pantry.manifest"
ITEM = {"name": "Butter", "quantityOnHand": 20, "parLevel": 0}


def reserve(client: Any, item: str, body: Any, key: str, tenant: str = "t-a", user: str = "chef-1") -> Any:
    headers = {**who(user=user, tenant=tenant), "Idempotency-Key": key}
    return client.post(f"/InventoryItem/{item}/commands/reserve", json=body, headers=headers)


def test_taken_ids_are_409_on_every_store(make_client: Any, store_url: str | None) -> None:
    client = make_client(KITCHEN, store=store_url)
    # Note has no create command: the plain create path
    assert client.post("/Note", json={"id": "n1", "text": "mine"}, headers=who()).status_code == 201
    taken = client.post("/Note", json={"id": "n1", "text": "theirs"}, headers=who(tenant="t-b"))
    assert "n1" in problem(taken, 409, "ALREADY_EXISTS")["detail"]
    assert client.get("/Note/n1", headers=who()).json()["text"] == "mine"
    # the `create` command path (conventional tenantId scoping)
    pantry = make_client(PANTRY, store=store_url)
    made = pantry.post("/Bin/commands/create", json={"id": "b1", "label": "mine"}, headers=who())
    assert made.status_code in (200, 201), made.text
    again = pantry.post(
        "/Bin/commands/create", json={"id": "b1", "label": "theirs"}, headers=who(tenant="t-b")
    )
    problem(again, 409, "ALREADY_EXISTS")
    row = pantry.get("/Bin/b1", headers=who()).json()
    assert (row["label"], row["tenantId"]) == ("mine", "t-a")
    assert pantry.get("/Bin/b1", headers=who(tenant="t-b")).status_code == 404


def test_idempotency_keys_are_per_tenant_and_per_request(make_client: Any, store_url: str | None) -> None:
    client = make_client(KITCHEN, store=store_url)
    ids = {}
    for tenant in ("t-a", "t-b"):
        created = client.post("/InventoryItem", json=ITEM, headers=who(tenant=tenant))
        assert created.status_code in (200, 201), created.text
        ids[tenant] = created.json()["instance"]["id"]
    body = {"quantity": 2, "eventId": "e1"}
    first = reserve(client, ids["t-a"], body, "K1")
    assert first.status_code == 200
    assert reserve(client, ids["t-a"], body, "K1").json() == first.json()  # a retry: the same answer
    # another tenant's key of the same text is its own key: it runs
    other = reserve(client, ids["t-b"], body, "K1", tenant="t-b")
    assert other.status_code == 200
    # the same key with another body, or from another user: 422, and nothing runs
    problem(
        reserve(client, ids["t-a"], {"quantity": 5, "eventId": "e1"}, "K1"), 422, "IDEMPOTENCY_KEY_REUSED"
    )
    problem(reserve(client, ids["t-a"], body, "K1", user="chef-2"), 422, "IDEMPOTENCY_KEY_REUSED")
    for tenant, item in ids.items():
        row = client.get(f"/InventoryItem/{item}", headers=who(tenant=tenant)).json()
        assert row["quantityReserved"] == 2


def test_store_unavailable_detail_names_no_database_text(make_client: Any, tmp_path: Any) -> None:
    from manifest_lang.errors import StoreUnavailableError
    from manifest_lang.stores.memory import MemoryStore

    class Down(MemoryStore):
        def load(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailableError('PostgreSQL unavailable: index row size 900016 exceeds "secret_idx"')

    client = make_client(KITCHEN, store=Down())
    body = problem(client.get("/InventoryItem/x", headers=who()), 503, "STORE_UNAVAILABLE")
    assert "secret_idx" not in body["detail"] and "PostgreSQL" not in body["detail"]


def test_ids_past_the_limits_are_413_and_never_reach_the_database(
    make_client: Any, store_url: str | None
) -> None:
    client = make_client(KITCHEN, store=store_url)
    big = "x" * 900_000
    body = problem(client.post("/Note", json={"id": big, "text": "t"}, headers=who()), 413, "LIMIT_EXCEEDED")
    assert "512" in body["detail"] and len(body["detail"]) < 500
    problem(client.get(f"/Note/{'y' * 600}", headers=who()), 413, "LIMIT_EXCEEDED")
    pantry = make_client(PANTRY, store=store_url)
    made = pantry.post("/Bin/commands/create", json={"id": "z" * 600, "label": "l"}, headers=who())
    problem(made, 413, "LIMIT_EXCEEDED")
    assert client.get("/Note", headers=who()).json()["items"] == []
