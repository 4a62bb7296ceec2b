"""Issue 12 (security and data loss) on every backend: creates never replace a row, idempotency
keys are scoped by tenant and bound to their request, and concurrent creates of one id by two
tenants never both succeed (real threads on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from manifest_lang import compile_source
from manifest_lang.errors import InstanceExistsError
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore
from manifest_lang.stores.base import IdempotencyKey as IdempotencyKeyT
from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore

from .conftest import open_backend

SOURCE = """
entity Item {
  property required id: string
  property tenantId: string
  property name: string = ""
  property qty: number = 0

  command create(name: string) {
    mutate name = name
  }

  command bump(by: number) {
    mutate qty = self.qty + by
    emit Bumped
  }
}

event Bumped: "item.bumped" { by: number }
"""

IR = compile_source(SOURCE).ir
assert IR is not None


def engine_for(store: Any, tenant: str | None = "t-a", user: str = "u1", **options: Any) -> RuntimeEngine:
    context: dict[str, Any] = {"user": {"id": user}}
    if tenant is not None:
        context["tenantId"] = tenant
    return RuntimeEngine(IR, context, store_provider=store, **options)


def idem_for(store: Any) -> Any:
    return (
        MemoryIdempotencyStore() if not hasattr(store, "idempotency_lookup") else SqlIdempotencyStore(store)
    )


# -- item 1: creates are insert-only -------------------------------------------------------------
def test_create_instance_refuses_a_taken_id_unless_replace(store: Any) -> None:
    engine = engine_for(store)
    engine.create_instance("Item", {"id": "i1", "tenantId": "t-a", "name": "first"})
    other = engine_for(store, tenant="t-b")
    with pytest.raises(InstanceExistsError) as caught:
        other.create_instance("Item", {"id": "i1", "tenantId": "t-b", "name": "takeover"})
    assert caught.value.code == "ALREADY_EXISTS" and caught.value.details["id"] == "i1"
    found = store.load("Item", "i1")
    assert (found.row["name"], found.row["tenantId"], found.revision) == ("first", "t-a", 1)
    replaced = engine.create_instance("Item", {"id": "i1", "tenantId": "t-a", "name": "second"}, replace=True)
    assert replaced is not None and store.load("Item", "i1").row["name"] == "second"


def test_create_command_refuses_a_taken_id(store: Any) -> None:
    engine = engine_for(store)
    assert engine.run_command("create", {"id": "c1", "name": "first"}, entity_name="Item").success
    again = engine_for(store, tenant="t-b").run_command(
        "create", {"id": "c1", "name": "takeover"}, entity_name="Item"
    )
    assert not again.success and again.error is not None and again.error.startswith("ALREADY_EXISTS")
    found = store.load("Item", "c1")
    assert (found.row["name"], found.revision) == ("first", 1)


@pytest.mark.parametrize("how", ["create_instance", "command"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_tenants_racing_for_one_id_never_both_win(
    backend: str, how: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rounds = 20
    with open_backend(backend, request, tmp_path) as store:
        takeovers = 0
        for n in range(rounds):
            barrier = threading.Barrier(2)
            wins: list[str] = []

            def contend(
                tenant: str, row_id: str = f"r{n}", barrier: Any = barrier, wins: list[str] = wins
            ) -> None:
                engine = engine_for(store, tenant=tenant)
                barrier.wait()
                if how == "command":
                    if engine.run_command(
                        "create", {"id": row_id, "name": tenant, "tenantId": tenant}, entity_name="Item"
                    ).success:
                        wins.append(tenant)
                    return
                try:
                    engine.create_instance("Item", {"id": row_id, "tenantId": tenant, "name": tenant})
                    wins.append(tenant)
                except InstanceExistsError:
                    pass

            threads = [threading.Thread(target=contend, args=(t,)) for t in ("t-a", "t-b")]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            takeovers += len(wins) != 1
            found = store.load("Item", f"r{n}")
            assert len(wins) == 1 and found.revision == 1 and found.row["tenantId"] == wins[0]
        assert takeovers == 0


# -- items 2 and 3: keys scoped by tenant, bound to their request ---------------------------------
def test_a_key_is_scoped_by_tenant_structurally(store: Any) -> None:
    idem = idem_for(store)
    for t in ("acme", "acme:eu"):
        engine_for(store, tenant=t).create_instance("Item", {"id": t, "tenantId": t})
    first = engine_for(store, tenant="acme:eu", idempotency_store=idem)
    assert first.run_command(
        "bump", {"by": 1}, entity_name="Item", instance_id="acme:eu", idempotency_key="K1"
    ).success
    # "acme" + "eu:K1" would have been the same joined string as "acme:eu" + "K1"
    second = engine_for(store, tenant="acme", idempotency_store=idem)
    result = second.run_command(
        "bump", {"by": 1}, entity_name="Item", instance_id="acme", idempotency_key="eu:K1"
    )
    assert result.success and store.load("Item", "acme").row["qty"] == 1
    # a caller without a tenant has a scope of its own
    none = engine_for(store, tenant=None, idempotency_store=idem)
    engine_for(store, tenant=None).create_instance("Item", {"id": "free"})
    assert none.run_command(
        "bump", {"by": 5}, entity_name="Item", instance_id="free", idempotency_key="K1"
    ).success
    assert store.load("Item", "free").row["qty"] == 5


@pytest.mark.parametrize(
    "change",
    [
        {"input": {"by": 2}},
        {"instance_id": "other"},
        {"name": "create", "input": {"name": "x"}, "instance_id": None},
        {"user": "u2"},
        {"override_requests": [{"constraintCode": "c", "reason": "r", "authorizedBy": "m"}]},
    ],
)
def test_a_reused_key_with_another_request_is_refused(store: Any, change: dict[str, Any]) -> None:
    idem = idem_for(store)
    engine_for(store).create_instance("Item", {"id": "i1", "tenantId": "t-a"})
    engine_for(store).create_instance("Item", {"id": "other", "tenantId": "t-a"})
    request: dict[str, Any] = {"name": "bump", "input": {"by": 1}, "instance_id": "i1", "user": "u1"}
    first = engine_for(store, user="u1", idempotency_store=idem).run_command(
        "bump", {"by": 1}, entity_name="Item", instance_id="i1", idempotency_key="K"
    )
    assert first.success
    request.update(change)
    engine = engine_for(store, user=request["user"], idempotency_store=idem)
    reused = engine.run_command(
        request["name"],
        request["input"],
        entity_name="Item",
        instance_id=request["instance_id"],
        override_requests=request.get("override_requests"),
        idempotency_key="K",
    )
    assert not reused.success and reused.error is not None
    assert reused.error.startswith("IDEMPOTENCY_KEY_REUSED")
    # the same request again is still answered with the first result; nothing ran twice
    same = engine_for(store, idempotency_store=idem).run_command(
        "bump", {"by": 1}, entity_name="Item", instance_id="i1", idempotency_key="K"
    )
    assert same.success and same.to_dict() == first.to_dict()
    assert store.load("Item", "i1").row["qty"] == 1 and store.load("Item", "other").row["qty"] == 0


def test_key_order_of_the_input_is_the_same_request(store: Any) -> None:
    idem = idem_for(store)
    engine = engine_for(store, idempotency_store=idem)
    engine.create_instance("Item", {"id": "i1", "tenantId": "t-a"})
    a = engine.run_command(
        "bump", {"by": 1, "note": "x"}, entity_name="Item", instance_id="i1", idempotency_key="K"
    )
    b = engine.run_command(
        "bump", {"note": "x", "by": 1}, entity_name="Item", instance_id="i1", idempotency_key="K"
    )
    assert a.success and b.to_dict() == a.to_dict()
    # true is not 1
    c = engine.run_command(
        "bump", {"by": True, "note": "x"}, entity_name="Item", instance_id="i1", idempotency_key="K"
    )
    assert c.error is not None and c.error.startswith("IDEMPOTENCY_KEY_REUSED")


# -- item 4: the in-progress claim on every idempotency store -------------------------------------
def test_one_key_from_eight_threads_executes_once(store: Any, request: pytest.FixtureRequest) -> None:
    idem = idem_for(store)
    engine_for(store).create_instance("Item", {"id": "hot", "tenantId": "t-a"})
    _storm(store, idem, keys=25)


def test_one_key_from_eight_threads_executes_once_with_redis(
    redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import uuid

    from manifest_lang.stores.redis_idempotency import RedisIdempotencyStore

    idem = RedisIdempotencyStore(redis_url, namespace=f"mt:{uuid.uuid4().hex[:8]}:")
    with open_backend("sqlite", request, tmp_path) as store:
        engine_for(store).create_instance("Item", {"id": "hot", "tenantId": "t-a"})
        try:
            _storm(store, idem, keys=25)
        finally:
            for key in idem._client.scan_iter(match=idem.namespace + "*"):
                idem._client.delete(key)
            idem.close()


def _storm(store: Any, idem: Any, keys: int) -> None:
    """Every key sent by 8 threads at once: each key is applied exactly once."""
    threads_n = 8
    outcomes: list[str] = []
    lock = threading.Lock()
    for k in range(keys):
        barrier = threading.Barrier(threads_n)

        def send(key: str = f"k{k}", barrier: Any = barrier) -> None:
            engine = engine_for(store, idempotency_store=idem, conflict_retries=50)
            barrier.wait()
            r = engine.run_command(
                "bump", {"by": 1}, entity_name="Item", instance_id="hot", idempotency_key=key
            )
            with lock:
                outcomes.append("ok" if r.success else str(r.error).split(":")[0])

        threads = [threading.Thread(target=send) for _ in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert store.load("Item", "hot").row["qty"] == keys  # executed once per key, never twice
    assert set(outcomes) <= {"ok", "IDEMPOTENCY_IN_PROGRESS"}
    assert outcomes.count("ok") >= keys


def test_memory_idempotency_records_expire_and_stay_bounded() -> None:
    from manifest_lang.stores.base import IdempotencyKey

    now = [0.0]
    idem = MemoryIdempotencyStore(ttl_seconds=10, max_records=100, clock=lambda: now[0])
    for i in range(250):
        idem.set(IdempotencyKey("t", f"k{i}"), {"n": i}, "f")
    assert idem.size() == 100 and idem.get(IdempotencyKey("t", "k249")) == {"n": 249}
    assert idem.get(IdempotencyKey("t", "k0")) is None  # the oldest went first
    now[0] = 11
    assert idem.get(IdempotencyKey("t", "k249")) is None  # expired
    idem.set(IdempotencyKey("t", "new"), {"n": 0}, "f")
    assert idem.size() == 1  # expired records pruned as new ones arrive
    # a claim expires too: a request that died frees its key
    idem.in_progress_ttl_seconds = 5
    assert idem.claim(IdempotencyKey("t", "c")) and not idem.claim(IdempotencyKey("t", "c"))
    now[0] = 17
    assert idem.claim(IdempotencyKey("t", "c"))


def test_sql_stores_expire_idempotency_records_by_default(sql_store: Any) -> None:
    from manifest_lang.stores.base import IdempotencyKey

    assert sql_store.idempotency_ttl_seconds == 24 * 3600
    now = [1000.0]
    sql_store._clock = lambda: now[0]
    idem = SqlIdempotencyStore(sql_store)
    idem.set(IdempotencyKey("t", "k"), {"n": 1}, "f")
    assert idem.lookup(IdempotencyKey("t", "k")) == ({"n": 1}, "f")
    now[0] += 24 * 3600 + 1
    assert idem.get(IdempotencyKey("t", "k")) is None
    sql_store._next_purge = 0.0
    assert idem.claim(IdempotencyKey("t", "other"))  # a claim also prunes expired records
    assert sql_store.purge_expired_keys() == 0


# -- item 8: a mutate to undefined means "the field is absent" -----------------------------------
UNDEFINED_SOURCE = """
entity Box {
  property required id: string
  property label: string = "x"
  property note: string?
  property tags: list<string> = []
  property meta: object?
  computed missing: number = self.nothing

  command clear() {
    mutate label = context.missing.field
    mutate note = self.tags[5]
    mutate tags = [self.nothing, "a"]
    mutate meta = { a: self.nothing, b: 1 }
  }

  command fromComputed() {
    mutate note = self.missing
  }
}
"""


def test_a_mutate_to_undefined_leaves_the_field_absent(store: Any) -> None:
    ir = compile_source(UNDEFINED_SOURCE).ir
    assert ir is not None, compile_source(UNDEFINED_SOURCE).diagnostics
    engine = RuntimeEngine(ir, {"user": {"id": "u"}}, store_provider=store)
    engine.create_instance("Box", {"id": "b1", "note": "n"})
    result = engine.run_command("clear", {}, entity_name="Box", instance_id="b1")
    assert result.success, result.error
    row = store.load("Box", "b1").row
    assert "label" not in row and "note" not in row
    assert row["tags"] == [None, "a"] and row["meta"] == {"b": 1}
    engine.create_instance("Box", {"id": "b2", "note": "n"})
    assert engine.run_command("fromComputed", {}, entity_name="Box", instance_id="b2").success
    assert "note" not in store.load("Box", "b2").row
    assert engine.get_instance("Box", "b1") is not None


# -- items 9 and 12: limits and hostile Python inputs ---------------------------------------------
def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": [value]}
    return value


def _cyclic() -> dict[str, Any]:
    d: dict[str, Any] = {"by": 1}
    d["self"] = d
    return d


@pytest.mark.parametrize("value", [_deep(1000), _cyclic()], ids=["deep", "cyclic"])
def test_deep_or_cyclic_values_are_refused_with_a_code(store: Any, value: Any) -> None:
    from manifest_lang.errors import LimitExceededError

    engine = engine_for(store)
    engine.create_instance("Item", {"id": "i1", "tenantId": "t-a"})
    result = engine.run_command("bump", {"by": 1, "extra": value}, entity_name="Item", instance_id="i1")
    assert not result.success and str(result.error).startswith("LIMIT_EXCEEDED")
    with pytest.raises(LimitExceededError) as caught:
        engine.create_instance("Item", {"id": "i2", "name": value})
    assert caught.value.code == "LIMIT_EXCEEDED"
    with pytest.raises(LimitExceededError):
        engine.find_instances("Item", {"name": value})


def test_unhashable_or_odd_keys_and_ids_are_failed_results_or_manifest_errors(store: Any) -> None:
    from manifest_lang.errors import InvalidInputError

    idem = idem_for(store)
    engine = engine_for(store, idempotency_store=idem)
    engine.create_instance("Item", {"id": "i1", "tenantId": "t-a"})
    for key in ([1], {"a": 1}, _cyclic()):
        result = engine.run_command(
            "bump", {"by": 1}, entity_name="Item", instance_id="i1", idempotency_key=key
        )
        assert not result.success and str(result.error).startswith("INVALID_INPUT")
    for bad_id in ([1], {"a": 1}, _cyclic(), _deep(1000)):
        result = engine.run_command(
            "bump", {"by": 1}, entity_name="Item", instance_id=bad_id, idempotency_key="k"
        )
        assert not result.success and str(result.error).startswith("INVALID_INPUT")
        with pytest.raises(InvalidInputError):
            engine.get_instance("Item", bad_id)
        with pytest.raises(InvalidInputError):
            engine.create_instance("Item", {"id": bad_id})
    assert engine.get_instance("Item", 7) is None  # a number is an id in its string form


def test_values_no_store_can_hold_are_refused_on_every_backend(store: Any) -> None:
    from manifest_lang.errors import InvalidInputError

    engine = engine_for(store)
    engine.create_instance("Item", {"id": "i1", "tenantId": "t-a", "name": "n"})
    assert engine.find_instances("Item", {"name": 9223372036854775808}) == []
    assert engine.find_instances("Item", {"name": -(2**70)}) == []
    for text in ("\ud800", "a\x00b"):
        with pytest.raises(InvalidInputError):
            engine.find_instances("Item", {"name": text})
        with pytest.raises(InvalidInputError):
            engine.create_instance("Item", {"id": "i2", "name": text})
        with pytest.raises(InvalidInputError):
            engine.get_instance("Item", text)
        result = engine.run_command("bump", {"by": 1, "note": text}, entity_name="Item", instance_id="i1")
        assert not result.success and str(result.error).startswith("INVALID_INPUT")
    # the stores themselves answer a lone surrogate or a huge integer without a driver error
    assert store.scan("Item", {"name": "\ud800"}) == []
    assert store.scan("Item", {"qty": 2**64}) == []


def test_ids_and_values_are_bounded(store: Any) -> None:
    from manifest_lang.errors import LimitExceededError
    from manifest_lang.runtime.jsonvalues import MAX_ID_LENGTH, MAX_STRING_LENGTH

    engine = engine_for(store)
    long_id = "x" * (MAX_ID_LENGTH + 1)
    with pytest.raises(LimitExceededError):
        engine.create_instance("Item", {"id": "y" * 900_000})
    with pytest.raises(LimitExceededError):
        engine.get_instance("Item", long_id)
    result = engine.run_command("create", {"id": long_id, "name": "n"}, entity_name="Item")
    assert not result.success and str(result.error).startswith("LIMIT_EXCEEDED")
    assert engine.create_instance("Item", {"id": "x" * MAX_ID_LENGTH, "tenantId": "t-a"}) is not None
    with pytest.raises(LimitExceededError):
        engine.create_instance("Item", {"id": "big", "name": "v" * (MAX_STRING_LENGTH + 1)})
    assert store.scan("Item") and all(len(r["id"]) <= MAX_ID_LENGTH for r in store.scan("Item"))


@pytest.mark.parametrize("max_requests", [-1, 0, float("nan"), float("inf"), -(2**70)])
def test_odd_rate_limits_in_the_ir_deny_rather_than_crash(max_requests: Any) -> None:
    source = """
    entity Counter {
      property required id: string
      property n: number = 0
      command bump() {
        rateLimit { maxRequests: 2, windowMs: 1000, scope: global }
        mutate n = self.n + 1
      }
    }
    """
    ir = compile_source(source).ir
    assert ir is not None
    for cmd in ir["commands"]:
        if cmd.get("rateLimit"):
            cmd["rateLimit"]["maxRequests"] = max_requests
    engine = RuntimeEngine(ir, {"user": {"id": "u"}})
    engine.create_instance("Counter", {"id": "c"})
    result = engine.run_command("bump", {}, entity_name="Counter", instance_id="c")
    assert not result.success and result.rate_limit_denial is not None


# -- item 2: an idempotency table of the first schema is upgraded --------------------------------
OLD_TABLE = (
    "CREATE TABLE {table} (key TEXT PRIMARY KEY, state TEXT NOT NULL, result {json}, expires_at {real})"
)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_idempotency_table_of_the_first_schema_is_upgraded(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from manifest_lang.stores.base import IdempotencyKey

    with open_backend(backend, request, tmp_path) as fresh:
        t = fresh.tables
        json_type, real = ("TEXT", "REAL") if backend == "sqlite" else ("JSONB", "DOUBLE PRECISION")

        def downgrade(cur: Any) -> None:
            cur.execute(f"DROP TABLE {t.idempotency}")
            cur.execute(OLD_TABLE.format(table=t.idempotency, json=json_type, real=real))
            cur.execute(
                f"INSERT INTO {t.idempotency} (key, state, result) VALUES (?, 'completed', ?)".replace(
                    "?", "%s" if backend == "postgres" else "?"
                ),
                ("acme:K1", '{"success": true}'),
            )

        fresh._transact(downgrade)
        # Opening the store again (a new release on an old database) upgrades the table.
        if backend == "sqlite":
            from manifest_lang.stores.sqlite import SQLiteStore

            reopened: Any = SQLiteStore(fresh.path)
        else:
            from manifest_lang.stores.postgres import PostgresStore

            reopened = PostgresStore(fresh.dsn, schema=fresh.schema)
        try:
            legacy = reopened._fetch(f"SELECT key FROM {t.idempotency_legacy}")
            assert [r[0] for r in legacy] == ["acme:K1"]  # kept for inspection
            idem = SqlIdempotencyStore(reopened)
            # the joined key answers no request, in either reading of it
            assert idem.lookup(IdempotencyKey("acme", "K1")) is None
            assert idem.lookup(IdempotencyKey("", "acme:K1")) is None
            assert idem.claim(IdempotencyKey("acme", "K1"))
            idem.set(IdempotencyKey("acme", "K1"), {"success": True}, "f")
            assert idem.lookup(IdempotencyKey("acme", "K1")) == ({"success": True}, "f")
        finally:
            reopened.close()


def test_redis_idempotency_is_scoped_and_fingerprinted(
    redis_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import uuid

    from manifest_lang.stores.redis_idempotency import RedisIdempotencyStore

    idem = RedisIdempotencyStore(redis_url, namespace=f"mt:{uuid.uuid4().hex[:8]}:")
    try:
        with open_backend("sqlite", request, tmp_path) as store:
            for t in ("acme", "acme:eu"):
                engine_for(store, tenant=t).create_instance("Item", {"id": t, "tenantId": t})
            eu = engine_for(store, tenant="acme:eu", idempotency_store=idem)
            first = eu.run_command(
                "bump", {"by": 1}, entity_name="Item", instance_id="acme:eu", idempotency_key="K1"
            )
            assert first.success
            acme = engine_for(store, tenant="acme", idempotency_store=idem)
            own = acme.run_command(
                "bump", {"by": 1}, entity_name="Item", instance_id="acme", idempotency_key="eu:K1"
            )
            assert own.success and store.load("Item", "acme").row["qty"] == 1
            reused = eu.run_command(
                "bump", {"by": 9}, entity_name="Item", instance_id="acme:eu", idempotency_key="K1"
            )
            assert str(reused.error).startswith("IDEMPOTENCY_KEY_REUSED")
            again = eu.run_command(
                "bump", {"by": 1}, entity_name="Item", instance_id="acme:eu", idempotency_key="K1"
            )
            assert again.to_dict() == first.to_dict() and store.load("Item", "acme:eu").row["qty"] == 1
            assert idem._client.ttl(idem._key(IdempotencyKeyT("acme:eu", "K1"))) > 0  # it expires
    finally:
        for key in idem._client.scan_iter(match=idem.namespace + "*"):
            idem._client.delete(key)
        idem.close()


# -- item 15: writers of one instance queue on PostgreSQL -----------------------------------------
def test_postgres_writers_of_one_row_queue_instead_of_conflicting(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Eight threads bump one row with no conflict re-runs allowed: every bump must still commit,
    because the second writer waits for the first instead of computing from the same revision."""
    with open_backend("postgres", request, tmp_path) as store:
        engine_for(store).create_instance("Item", {"id": "hot", "tenantId": "t-a"})
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def bump() -> None:
            engine = engine_for(store, conflict_retries=0)
            barrier.wait()
            for _ in range(25):
                r = engine.run_command("bump", {"by": 1}, entity_name="Item", instance_id="hot")
                outcomes.append("ok" if r.success else str(r.error).split(":")[0])

        threads = [threading.Thread(target=bump) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        found = store.load("Item", "hot")
        assert outcomes.count("ok") == 200, sorted(set(outcomes))
        assert found.row["qty"] == 200 and found.revision == 201
        assert len(store.claim_outbox(1000, now=1e15)) == 200
