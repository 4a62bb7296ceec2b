"""The store contract: one suite, run on memory, SQLite and PostgreSQL (fixture ``store``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from manifest_lang.errors import StoreConflictError
from manifest_lang.stores.base import NEW_ROW, IdempotencyEntry, IdempotencyKey, RowWrite, UnitOfWork


def K(key: str, tenant: str = "") -> IdempotencyKey:  # noqa: N802 - reads like a literal
    return IdempotencyKey(tenant, key)


def create(store: Any, entity: str, row: dict[str, Any]) -> None:
    store.commit(UnitOfWork(writes=[RowWrite(entity, row["id"], row, NEW_ROW)]))


def event_entry(entry_id: str, instance: str, name: str = "Moved", entity: str = "Item") -> dict[str, Any]:
    return {
        "entryId": entry_id,
        "enqueuedAt": 1700000000000,
        "event": {
            "name": name,
            "channel": "inventory",
            "payload": {"id": instance},
            "timestamp": 1700000000000,
            "subject": {"entity": entity, "command": "move", "id": instance},
            "correlationId": "c-" + entry_id,
            "causationId": None,
            "emitIndex": 0,
        },
    }


def claimed_ids(store: Any, now: float = 1000.0, limit: int = 100) -> list[str]:
    return [r.entry_id for r in store.claim_outbox(limit, now=now)]


# -- load / scan ---------------------------------------------------------------------------------
def test_load_returns_row_and_revision_and_update_bumps_it(store: Any) -> None:
    assert store.load("Item", "a") is None
    create(store, "Item", {"id": "a", "qty": 1})
    first = store.load("Item", "a")
    assert first is not None and first.row == {"id": "a", "qty": 1} and first.revision == 1
    store.commit(UnitOfWork(writes=[RowWrite("Item", "a", {"id": "a", "qty": 2}, 1)]))
    second = store.load("Item", "a")
    assert second is not None and second.row["qty"] == 2 and second.revision == 2
    assert store.load("Other", "a") is None


def test_scan_keeps_insertion_order_filters_and_pages(store: Any) -> None:
    for i, colour in enumerate(["red", "blue", "red", "green", "red"]):
        create(store, "Item", {"id": f"i{i}", "colour": colour, "n": i})
    # An update must not move a row in the order.
    store.commit(UnitOfWork(writes=[RowWrite("Item", "i0", {"id": "i0", "colour": "red", "n": 10}, 1)]))
    assert [r["id"] for r in store.scan("Item")] == ["i0", "i1", "i2", "i3", "i4"]
    assert [r["id"] for r in store.scan("Item", {"colour": "red"})] == ["i0", "i2", "i4"]
    assert [r["id"] for r in store.scan("Item", {"colour": "red"}, limit=2)] == ["i0", "i2"]
    assert [r["id"] for r in store.scan("Item", {"colour": "red"}, offset=1)] == ["i2", "i4"]
    assert [r["id"] for r in store.scan("Item", limit=2, offset=3)] == ["i3", "i4"]
    assert store.scan("Item", {"colour": "red", "n": 2}) == [{"id": "i2", "colour": "red", "n": 2}]
    assert store.scan("Item", {"colour": "purple"}) == []
    assert store.scan("Nothing") == []


def test_where_compares_json_types_exactly(store: Any) -> None:
    create(store, "T", {"id": "s", "v": "3", "flag": True, "gone": None, "tags": ["a", "b"]})
    create(store, "T", {"id": "n", "v": 3, "flag": False, "meta": {"k": 1, "j": 2}})
    assert [r["id"] for r in store.scan("T", {"v": "3"})] == ["s"]
    assert [r["id"] for r in store.scan("T", {"v": 3})] == ["n"]
    assert [r["id"] for r in store.scan("T", {"flag": True})] == ["s"]
    assert [r["id"] for r in store.scan("T", {"flag": False})] == ["n"]
    assert store.scan("T", {"flag": 1}) == [] and store.scan("T", {"flag": 0}) == []  # true is not 1
    assert [r["id"] for r in store.scan("T", {"v": 3.0})] == ["n"]  # numbers compare by value
    assert [r["id"] for r in store.scan("T", {"gone": None})] == ["s"]  # a present null, not a missing key
    assert [r["id"] for r in store.scan("T", {"tags": ["a", "b"]})] == ["s"]
    assert store.scan("T", {"tags": ["b", "a"]}) == []
    assert [r["id"] for r in store.scan("T", {"meta": {"j": 2, "k": 1}})] == ["n"]
    assert [r["id"] for r in store.scan("T", {"meta": {"j": 2, "k": 1}}, limit=1, offset=0)] == ["n"]


def test_field_names_with_quotes_and_dots_are_data_not_sql(store: Any) -> None:
    row = {"id": "x", "a.b": 1, 'we"ird': "v", "it's": "ok"}
    create(store, "T", row)
    assert store.scan("T", {"a.b": 1}) == [row]
    assert store.scan("T", {'we"ird': "v"}) == [row]
    assert store.scan("T", {"it's": "ok"}) == [row]
    create(store, "Robert'); DROP TABLE x;--", {"id": "1"})
    assert store.scan("Robert'); DROP TABLE x;--") == [{"id": "1"}]


# -- commit atomicity and revisions ----------------------------------------------------------------
def test_a_conflicting_write_applies_nothing_of_its_unit_of_work(store: Any) -> None:
    create(store, "Item", {"id": "a", "qty": 1})
    create(store, "Item", {"id": "b", "qty": 1})
    uow = UnitOfWork(
        writes=[
            RowWrite("Item", "a", {"id": "a", "qty": 99}, 1),
            RowWrite("Item", "b", {"id": "b", "qty": 99}, 7),  # stale
            RowWrite("Item", "c", {"id": "c", "qty": 99}, NEW_ROW),
        ],
        outbox=[event_entry("e1", "a")],
        idempotency=IdempotencyEntry(K("key-1"), "f1", {"success": True}),
        audit={"recordId": "r1", "command": "move", "outcome": "success"},
    )
    with pytest.raises(StoreConflictError):
        store.commit(uow)
    assert store.load("Item", "a").row["qty"] == 1
    assert store.load("Item", "b").revision == 1
    assert store.load("Item", "c") is None
    assert claimed_ids(store) == []
    assert store.outbox_counts().pending == 0
    # The same unit of work without the stale write commits every part.
    uow.writes[1] = RowWrite("Item", "b", {"id": "b", "qty": 99}, 1)
    store.commit(uow)
    assert [store.load("Item", k).row["qty"] for k in "abc"] == [99, 99, 99]
    assert claimed_ids(store) == ["e1"]


def test_revision_conflicts_on_create_update_and_delete(store: Any) -> None:
    create(store, "Item", {"id": "a"})
    with pytest.raises(StoreConflictError):
        create(store, "Item", {"id": "a"})
    with pytest.raises(StoreConflictError):
        store.commit(UnitOfWork(writes=[RowWrite("Item", "a", {"id": "a", "x": 1}, 2)]))
    with pytest.raises(StoreConflictError):
        store.commit(UnitOfWork(writes=[RowWrite("Item", "missing", {"id": "missing"}, 1)]))
    with pytest.raises(StoreConflictError):
        store.commit(UnitOfWork(writes=[RowWrite("Item", "a", None, 3)]))
    store.commit(UnitOfWork(writes=[RowWrite("Item", "a", None, 1)]))
    assert store.load("Item", "a") is None
    create(store, "Item", {"id": "a", "again": True})  # a deleted id can be created again
    assert store.load("Item", "a").revision == 1


def test_concurrent_writers_lose_no_update(store: Any) -> None:
    create(store, "Counter", {"id": "c", "n": 0})
    conflicts = 0
    lock = threading.Lock()

    def bump(times: int) -> None:
        nonlocal conflicts
        for _ in range(times):
            while True:
                current = store.load("Counter", "c")
                new = {"id": "c", "n": current.row["n"] + 1}
                try:
                    store.commit(UnitOfWork(writes=[RowWrite("Counter", "c", new, current.revision)]))
                    break
                except StoreConflictError:
                    with lock:
                        conflicts += 1

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    final = store.load("Counter", "c")
    assert final.row["n"] == 100
    assert final.revision == 101


# -- outbox ---------------------------------------------------------------------------------------
def test_outbox_rows_are_claimed_in_commit_order(store: Any) -> None:
    for i in range(5):
        store.commit(UnitOfWork(outbox=[event_entry(f"e{i}a", f"x{i % 2}"), event_entry(f"e{i}b", "y")]))
    assert claimed_ids(store) == [f"e{i}{s}" for i in range(5) for s in "ab"]
    assert claimed_ids(store, limit=3) == ["e0a", "e0b", "e1a"]
    rows = store.claim_outbox(1, now=1000.0)
    assert rows[0].event["subject"] == {"entity": "Item", "command": "move", "id": "x0"}
    assert rows[0].message()["entryId"] == "e0a" and rows[0].enqueued_at == 1700000000000
    assert store.outbox_counts().to_dict() == {"pending": 10, "published": 0, "failed": 0, "dead": 0}
    assert store.pending_count() == 10


def test_a_backing_off_row_holds_back_later_rows_of_its_instance_only(store: Any) -> None:
    store.commit(UnitOfWork(outbox=[event_entry("a1", "A"), event_entry("b1", "B")]))
    store.commit(UnitOfWork(outbox=[event_entry("a2", "A"), event_entry("b2", "B")]))
    first = {r.entry_id: r for r in store.claim_outbox(10, now=1000.0)}
    store.mark_failed(first["a1"].seq, "broker down", retry_at=1010.0, dead=False)
    store.mark_published([first["b1"].seq], now=1000.0)
    assert claimed_ids(store, now=1005.0) == ["b2"]  # a2 waits behind a1
    assert store.outbox_counts().to_dict() == {"pending": 3, "published": 1, "failed": 1, "dead": 0}
    assert claimed_ids(store, now=1010.0) == ["a1", "a2", "b2"]
    again = store.claim_outbox(1, now=1010.0)[0]
    assert again.entry_id == "a1" and again.attempts == 1
    store.mark_failed(again.seq, "poison", retry_at=2000.0, dead=True)  # dead-lettered: A flows again
    assert claimed_ids(store, now=1011.0) == ["a2", "b2"]
    assert store.outbox_counts().to_dict() == {"pending": 2, "published": 1, "failed": 0, "dead": 1}


def test_only_one_relay_holds_the_lease_until_it_expires_or_is_released(store: Any) -> None:
    assert store.acquire_relay_lease("r1", 10.0, now=100.0)
    assert store.acquire_relay_lease("r1", 10.0, now=105.0)  # renew
    assert not store.acquire_relay_lease("r2", 10.0, now=110.0)
    assert store.acquire_relay_lease("r2", 10.0, now=115.5)  # r1's lease ran out at 115
    store.release_relay_lease("r1")  # not the holder: no effect
    assert not store.acquire_relay_lease("r1", 10.0, now=116.0)
    store.release_relay_lease("r2")
    assert store.acquire_relay_lease("r1", 10.0, now=116.0)


# -- idempotency, audit, tenants, clear -------------------------------------------------------------
def test_an_idempotency_key_commits_once(store: Any) -> None:
    create(store, "Item", {"id": "a", "qty": 0})
    store.commit(
        UnitOfWork(
            writes=[RowWrite("Item", "a", {"id": "a", "qty": 1}, 1)],
            idempotency=IdempotencyEntry(K("k"), "f1", {"success": True}),
        )
    )
    with pytest.raises(StoreConflictError):
        store.commit(
            UnitOfWork(
                writes=[RowWrite("Item", "a", {"id": "a", "qty": 2}, 2)],
                idempotency=IdempotencyEntry(K("k"), "f2", {"success": 2}),
            )
        )
    assert store.load("Item", "a").row["qty"] == 1
    if hasattr(store, "idempotency"):
        recorded = store.idempotency[K("k")]
        assert (recorded.result, recorded.fingerprint) == ({"success": True}, "f1")
    else:
        assert store.idempotency_lookup(K("k")) == ({"success": True}, "f1")
        assert store.idempotency_lookup(K("k", "other-tenant")) is None


def test_audit_records_commit_with_the_unit_of_work(store: Any) -> None:
    record = {"recordId": "r1", "occurredAt": 5, "command": "move", "outcome": "success", "tenantId": "t"}
    store.commit(UnitOfWork(audit=record))
    records = store.audit if isinstance(getattr(store, "audit", None), list) else store.audit_records()
    assert records == [record]


def test_tenant_scoping_hides_other_tenants_rows(store: Any) -> None:
    create(store, "Doc", {"id": "d1", "tenantId": "acme", "k": 1})
    create(store, "Doc", {"id": "d2", "tenantId": "globex", "k": 1})
    create(store, "Doc", {"id": "d3", "k": 1})
    assert store.load("Doc", "d1", tenant="acme") is not None
    assert store.load("Doc", "d1", tenant="globex") is None
    assert store.load("Doc", "d3", tenant="acme") is None
    assert [r["id"] for r in store.scan("Doc", tenant="acme")] == ["d1"]
    assert [r["id"] for r in store.scan("Doc", {"k": 1}, tenant="globex")] == ["d2"]
    assert [r["id"] for r in store.scan("Doc", {"k": 1})] == ["d1", "d2", "d3"]
    # Moving a row to another tenant moves its scope.
    store.commit(UnitOfWork(writes=[RowWrite("Doc", "d1", {"id": "d1", "tenantId": "globex", "k": 1}, 1)]))
    assert [r["id"] for r in store.scan("Doc", tenant="globex")] == ["d1", "d2"]


def test_clear_removes_one_entity_only(store: Any) -> None:
    create(store, "A", {"id": "1"})
    create(store, "B", {"id": "1"})
    store.clear("A")
    assert store.scan("A") == [] and store.load("A", "1") is None
    assert store.scan("B") == [{"id": "1"}]
    create(store, "A", {"id": "1"})
    assert store.load("A", "1").revision == 1


def test_an_empty_unit_of_work_is_a_no_op(store: Any) -> None:
    store.commit(UnitOfWork())
    assert store.outbox_counts().pending == 0


def test_sql_outbox_maintenance(sql_store: Any) -> None:
    sql_store.commit(
        UnitOfWork(outbox=[event_entry("e1", "A"), event_entry("e2", "B"), event_entry("e3", "C")])
    )
    one, two, _ = sql_store.claim_outbox(10, now=100.0)
    sql_store.mark_failed(one.seq, "boom", retry_at=0.0, dead=True)
    sql_store.mark_published([two.seq], now=100.0)
    assert [r["entryId"] for r in sql_store.outbox_rows("dead")] == ["e1"]
    assert sql_store.outbox_rows("dead")[0]["lastError"] == "boom"
    assert sql_store.requeue_dead() == 1
    sql_store._clock = lambda: 150.0
    assert sql_store.purge_published(60) == 0  # published at 100, not older than 60 s at 150
    assert sql_store.purge_published(10) == 1
    assert sql_store.outbox_counts().to_dict() == {"pending": 2, "published": 0, "failed": 0, "dead": 0}


def test_sql_expired_idempotency_records_are_purged(sql_store: Any) -> None:
    sql_store._clock = lambda: 100.0
    sql_store.idempotency_ttl_seconds = 10
    sql_store.idempotency_set(K("old"), {"n": 1})
    sql_store.idempotency_claim(K("claimed"), 5.0)
    sql_store.idempotency_ttl_seconds = None
    sql_store.idempotency_set(K("forever"), {"n": 2})
    sql_store._clock = lambda: 111.0
    assert sql_store.purge_expired_keys() == 2
    assert sql_store.idempotency_lookup(K("forever")) == ({"n": 2}, None)
