"""A command request builds ONE engine and loads its target row ONCE, and its problem code comes
from ``CommandResult.code`` (conventional ``tenantId`` scoping included)."""

from __future__ import annotations

from typing import Any

import pytest
from httpkit import who
from starlette.testclient import TestClient

from manifest_lang.http.app import create_app
from manifest_lang.runtime import engine as engine_module
from manifest_lang.stores.memory import MemoryStore

MODEL = """
entity Bin {
  property required id: string
  property tenantId: string = ""
  property label: string = ""
  command rename(label: string) {
    mutate label = label
  }
}
"""


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str]] = []

    def load(self, entity: str, id: str, tenant: str | None = None) -> Any:
        self.loads.append((entity, id))
        return super().load(entity, id, tenant=tenant) if tenant else super().load(entity, id)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Any:
    engines: list[Any] = []
    plain = engine_module.RuntimeEngine

    class Counted(plain):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            engines.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(engine_module, "RuntimeEngine", Counted)
    store = CountingStore()
    with TestClient(create_app(MODEL, store=store, auth="headers"), raise_server_exceptions=False) as client:
        created = client.post("/Bin", json={"id": "b1", "label": "old"}, headers=who(tenant="t-a"))
        assert created.status_code == 201
        engines.clear()
        store.loads.clear()
        yield client, engines, store


def test_one_engine_and_one_load_per_command(counted: Any) -> None:
    client, engines, store = counted
    response = client.post("/Bin/b1/commands/rename", json={"label": "new"}, headers=who(tenant="t-a"))
    assert response.status_code == 200, response.text
    assert len(engines) == 1
    assert store.loads == [("Bin", "b1")]


def test_another_tenants_row_is_not_found_by_the_one_engine(counted: Any) -> None:
    client, engines, store = counted
    response = client.post("/Bin/b1/commands/rename", json={"label": "x"}, headers=who(tenant="t-b"))
    assert response.status_code == 404 and response.json()["code"] == "INSTANCE_NOT_FOUND"
    assert len(engines) == 1 and store.loads == [("Bin", "b1")]
    assert client.get("/Bin/b1", headers=who(tenant="t-a")).json()["label"] == "old"
