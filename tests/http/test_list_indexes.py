"""``GET /Entity?prop=value`` on an ``indexed`` property: the app gives the store the model's
indexes on start, and the filtered list answers as it does without them, on every store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpkit import who
from starlette.testclient import TestClient

from manifest_lang import compile_source
from manifest_lang.http.app import create_app
from manifest_lang.stores.indexes import IndexSpec

SOURCE = """
entity Item {
  property required id: string
  property required tenantId: string
  property indexed name: string
  property indexed qty: number = 0
  property note: string = ""
  store Item in memory
}
"""
A, B = who(user="u-a", tenant="t-a"), who(user="u-b", tenant="t-b")


@pytest.fixture
def items(store_url: str | None) -> Iterator[TestClient]:
    ir = compile_source(SOURCE).ir
    assert ir is not None
    with TestClient(create_app(ir, auth="headers", store=store_url), raise_server_exceptions=False) as c:
        yield c


def test_filters_on_indexed_properties(items: TestClient) -> None:
    for i in range(12):
        for who_ in (A, B):
            body = {"id": f"i{i}", "name": f"n{i % 4}", "qty": i % 3, "note": "x"}
            if who_ is B:
                body["id"] = f"b{i}"
            assert items.post("/Item", json=body, headers=who_).status_code == 201
    store = items.app.state.manifest.store  # type: ignore[attr-defined]
    if hasattr(store, "indexed_fields"):  # the SQL stores; the memory store filters in Python
        assert store.indexed_fields == {"Item": frozenset({"name", "qty"})}

    def ids(query: str) -> list[str]:
        response = items.get(f"/Item?{query}", headers=A)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert ids("name=n1") == ["i1", "i5", "i9"]  # the caller's tenant only, in insertion order
    assert ids("qty=2") == ["i2", "i5", "i8", "i11"]
    assert ids("qty=2.0&name=n1") == ["i5"]
    assert ids("name=n1&limit=2") == ["i1", "i5"]
    assert ids("name=none") == []
    first = items.get("/Item?name=n1&limit=2", headers=A).json()
    assert (
        items.get(f"/Item?name=n1&limit=2&cursor={first['nextCursor']}", headers=A).json()["items"][0]["id"]
        == "i9"
    )


def test_the_app_creates_the_indexes(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    ir = compile_source(SOURCE).ir
    with TestClient(create_app(ir, auth="headers", store=f"sqlite:///{path}")):
        pass
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert {IndexSpec("Item", f).name("manifest_") for f in ("name", "qty")} <= names
