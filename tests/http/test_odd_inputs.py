"""Bad and odd input gets a 4xx problem, never a 5xx, on every store (issue 6).

PostgreSQL is the strictest store (no NUL in text, 64-bit JSON integers), so each case runs on
memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpkit import KITCHEN, who
from starlette.testclient import TestClient
from test_api import problem

from manifest_lang.http.app import create_app

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(store_url: str | None) -> Iterator[TestClient]:
    with TestClient(create_app(KITCHEN, auth="headers", store=store_url), raise_server_exceptions=False) as c:
        yield c


def raw_post(client: TestClient, path: str, body: bytes, **headers: str) -> Any:
    return client.post(path, content=body, headers={**who(), **JSON, **headers})


def new_item(client: TestClient, on_hand: Any = 10) -> str:
    body = {"name": "Flour", "quantityOnHand": on_hand, "parLevel": 2}
    created = client.post("/InventoryItem", json=body, headers=who())
    assert created.status_code == 201, created.text
    return str(created.json()["result"]["id"])


def test_nul_characters_are_refused_everywhere(client: TestClient) -> None:
    for body in (b'{"text": "a\\u0000b"}', b'{"text": "x", "id": "a\\u0000b"}', b'{"t\\u0000": 1}'):
        detail = problem(raw_post(client, "/Note", body), 400, "INVALID_INPUT")["detail"]
        assert "U+0000" in detail
    problem(client.get("/Note/a%00b", headers=who()), 400, "INVALID_INPUT")
    problem(client.get("/Note?text=%00", headers=who()), 400, "INVALID_QUERY")
    problem(client.get("/trace/%00", headers=who()), 400, "INVALID_INPUT")
    # an escaped backslash before "u0000" is text, not a NUL
    text = raw_post(client, "/Note", b'{"text": "\\\\u0000"}')
    assert text.status_code == 201 and text.json()["text"] == "\\u0000"


def test_ids_with_slashes_and_unicode_are_addressable(client: TestClient) -> None:
    for row_id, path in (("a/b", "a%2Fb"), ("é🍰", "%C3%A9%F0%9F%8D%B0"), ("100%", "100%25")):
        assert client.post("/Note", json={"text": "x", "id": row_id}, headers=who()).status_code == 201
        got = client.get(f"/Note/{path}", headers=who())
        assert got.status_code == 200 and got.json()["id"] == row_id
    problem(client.get("/Note/%2F", headers=who()), 404, "INSTANCE_NOT_FOUND")
    item = new_item(client)
    slash = client.post("/InventoryItem/a%2Fb/commands/retire", json={}, headers=who())
    problem(slash, 404, "INSTANCE_NOT_FOUND")
    assert client.post(f"/InventoryItem/{item}/commands/retire", json={}, headers=who()).status_code == 200


def test_numbers_at_and_past_the_limits(client: TestClient) -> None:
    item = new_item(client)
    url = f"/InventoryItem/{item}/commands/reserve"
    for huge in (b"1e999", b"1" + b"0" * 400, b"NaN", b"Infinity"):
        body = b'{"quantity": ' + huge + b', "eventId": "e"}'
        problem(raw_post(client, url, body), 400, "MALFORMED_JSON")
    beyond_u64 = raw_post(client, url, b'{"quantity": 123456789012345678901234, "eventId": "e"}')
    problem(beyond_u64, 422, "CONSTRAINT_BLOCKED")  # parsed as a float, refused by the model
    big = new_item(client, 2**63)
    for value in ("9223372036854775807", "-99999999999999999999999", "1e308", "1.5"):
        listed = client.get(f"/InventoryItem?quantityOnHand={value}", headers=who())
        assert listed.status_code == 200 and listed.json()["items"] == []
    assert client.get(f"/InventoryItem/{big}", headers=who()).json()["quantityOnHand"] == 2**63
    small = client.get("/InventoryItem?quantityOnHand=10", headers=who()).json()["items"]
    assert [row["id"] for row in small] == [item]


def test_integers_between_2_64_and_1e21_are_doubles_not_500(client: TestClient) -> None:
    # orjson refuses integers past 2**64; JavaScript reads them as doubles, and so do we.
    for text, value in ((b"18446744073709551616", 2.0**64), (b"999999999999999999999", 1e21 - 1)):
        created = raw_post(
            client, "/InventoryItem", b'{"name": "F", "parLevel": 2, "quantityOnHand": ' + text + b"}"
        )
        assert created.status_code == 201, created.text
        item = created.json()["result"]["id"]
        got = client.get(f"/InventoryItem/{item}", headers=who())
        assert got.status_code == 200 and got.json()["quantityOnHand"] == value
        url = f"/InventoryItem/{item}/commands/reserve"
        reserve = raw_post(client, url, b'{"quantity": ' + text + b', "eventId": "e"}')
        assert reserve.status_code < 500, reserve.text


def test_wrong_shapes_and_types(client: TestClient) -> None:
    item = new_item(client)
    url = f"/InventoryItem/{item}/commands/reserve"
    for body in (
        {"quantity": [[1]], "eventId": "e"},
        {"quantity": {"a": 1}, "eventId": ["x"]},
        {"quantity": True, "eventId": "e"},
        {"quantity": None, "eventId": "e"},
        [1, 2],
        "text",
        5,
    ):
        problem(client.post(url, json=body, headers=who()), 400, "INVALID_INPUT")
    problem(raw_post(client, url, b"[" * 5000 + b"]" * 5000), 400, "INVALID_INPUT")  # too deep
    problem(raw_post(client, url, b"\xff\xfe{}"), 400, "MALFORMED_JSON")
    problem(client.post("/Note", json={"text": [["x"]]}, headers=who()), 400, "INVALID_INPUT")
    problem(client.post("/Note", json={"text": "x", "id": 5}, headers=who()), 400, "INVALID_INPUT")


def test_content_types_and_empty_bodies(client: TestClient) -> None:
    item = new_item(client)
    url = f"/InventoryItem/{item}/commands/reserve"
    # curl -d sends a form content type: the body is read as JSON whatever the header says
    as_form = {"Content-Type": "application/x-www-form-urlencoded"}
    ok = raw_post(client, url, b'{"quantity": 1, "eventId": "e"}', **as_form)
    assert ok.status_code == 200, ok.text
    problem(raw_post(client, url, b"quantity=1&eventId=e", **as_form), 400, "MALFORMED_JSON")
    # an empty body is {}: fine for a command without parameters, a 400 for one with some
    assert client.post(f"/InventoryItem/{item}/commands/retire", headers=who()).status_code == 200
    missing = problem(client.post("/commands/ping", headers=who()), 400, "INVALID_INPUT")
    assert "'message' is a required property" in missing["detail"]


def test_paging_parameters(client: TestClient) -> None:
    new_item(client)
    bad = ("limit=-1", "limit=1.5", "limit=", "limit=%E2%91%A0", "offset=%D9%A3", "offset=%203", "limit=1_0")
    for query in (*bad, "offset=99999999999999999999999", "cursor=", "cursor=%00%ff", "cursor=bzotMQ"):
        problem(client.get(f"/InventoryItem?{query}", headers=who()), 400, "INVALID_QUERY")
    last = client.get("/InventoryItem?limit=1000&offset=9007199254740991", headers=who())
    assert last.status_code == 200 and last.json()["items"] == []
