"""Indexes from the model: an ``indexed`` or ``unique`` property gets an index in the SQL stores.

Rows are JSON documents in one ``instances`` table shared by every entity, so each index is a
*partial* expression index, ``WHERE entity = '<Entity>'``: rows of other entities are never in
it, and writing them costs nothing. The key is the very expression the filtered list compares
(``sql_common.SqlStore.scan``), then the ``tenant`` column, then ``seq``: an equality filter
within a tenant reads the matching rows already in the list's order and stops at the page size.

- SQLite: ``(json_extract(data, '$.<prop>'), tenant)`` (``seq`` is the rowid, the implicit last
  column of every index). ``json_extract`` keeps a number a number and a string a string, so the
  index compares as the filter does (``1`` = ``1.0``, ``"1"`` ≠ ``1``); the filter's
  ``json_type`` condition is checked on the few rows the index finds.
- PostgreSQL: ``(jsonb_hash_extended(data -> '<prop>', 0), tenant, seq)``. A hash of the JSONB
  value, not the value: a B-tree entry must stay under ~2.7 kB, and a long string in an indexed
  property must never make a write fail. The hash agrees with JSONB ``=`` (``5`` and ``5.0``
  hash alike, ``"5"`` does not), and the filter rechecks ``data -> '<prop>' = value`` exactly.

``sync`` makes the database's set of these indexes equal the model's: it creates the missing ones
(``IF NOT EXISTS``) and drops the ones it finds under its naming prefix that the model no longer
wants, in one transaction that the caller serialises across processes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from .sql_statements import Tables, quote_ident

#: the property modifiers that ask for an index (``unique`` is enforced by the engine; the index
#: makes its lookups and the filters on the property fast)
INDEX_MODIFIERS = frozenset({"indexed", "unique"})
#: between the store's table prefix and an index's own name: what marks an index as the store's
NAME_TAG = "mx_"
#: part of every name's hash: a changed definition gets a new name, so ``sync`` replaces the old one
DEFINITION_VERSION = "1"
_MAX_NAME = 63  # PostgreSQL's identifier limit (bytes; names here are ASCII)
_HASH_CHARS = 10
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index the model asks for: ``entity``'s rows by the value of ``field``."""

    entity: str
    field: str

    def name(self, prefix: str) -> str:
        """``<prefix>mx_<entity>_<field>_<hash>``, shortened to fit 63 characters. The hash of the
        exact names keeps two specs apart even where the readable part is cut or case-folded
        (SQLite compares index names without case)."""
        digest = hashlib.sha256(f"{self.entity}\x1f{self.field}\x1f{DEFINITION_VERSION}".encode())
        tail = "_" + digest.hexdigest()[:_HASH_CHARS]
        room = _MAX_NAME - len(prefix) - len(NAME_TAG) - len(tail)
        readable = f"{self.entity}_{self.field}".lower()[: max(room, 0)]
        return prefix + NAME_TAG + readable + tail

    def to_dict(self) -> dict[str, str]:
        return {"entity": self.entity, "field": self.field}


@dataclass(frozen=True, slots=True)
class IndexSync:
    """What ``sync`` did: index names created and dropped, and the ones already there."""

    created: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"created": list(self.created), "dropped": list(self.dropped), "kept": list(self.kept)}


def model_indexes(ir: Mapping[str, Any]) -> list[IndexSpec]:
    """The indexes an IR document asks for, in model order. Encrypted properties are skipped (the
    stored value is ciphertext, which no filter can match); so are names that are not plain
    identifiers (every name of a compiled model is one; the DDL inlines them)."""
    specs: list[IndexSpec] = []
    for entity in ir.get("entities") or ():
        name = entity.get("name")
        if not isinstance(name, str) or not _PLAIN.match(name):
            continue
        for prop in entity.get("properties") or ():
            modifiers = set(prop.get("modifiers") or ())
            field = prop.get("name")
            if not modifiers & INDEX_MODIFIERS or "encrypted" in modifiers:
                continue
            if isinstance(field, str) and _PLAIN.match(field):
                specs.append(IndexSpec(name, field))
    return specs


def literal(text: str) -> str:
    """A SQL string literal (both dialects). Only ever given plain identifiers (``_PLAIN``)."""
    return "'" + text.replace("'", "''") + "'"


# -- the expressions the filtered list compares (and the indexes hold) ------------------------------
def sqlite_key(field: str) -> str:
    """The expression ``SQLiteStore._where`` compares for a plain field name."""
    return f"json_extract(data, '$.{field}')"


def postgres_key(field: str) -> str:
    return f"jsonb_hash_extended(data -> {literal(field)}, 0)"


def postgres_condition(field: str) -> str:
    """An indexed field's equality on PostgreSQL; both ``?`` take the value's JSON text: the
    hash finds the candidates through the index, the JSONB ``=`` is the exact test."""
    return f"{postgres_key(field)} = jsonb_hash_extended(?::jsonb, 0) AND data -> {literal(field)} = ?::jsonb"


# -- dialects ------------------------------------------------------------------------------------
class IndexDialect(Protocol):
    def existing(self, cur: Any) -> set[str]:
        """Names of the indexes on the instances table (any owner)."""
        ...

    def create(self, spec: IndexSpec, name: str) -> str: ...

    def drop(self, name: str) -> str: ...

    def analyze(self, cur: Any, created: list[str]) -> None:
        """Give the planner statistics for the new indexes' expressions."""
        ...


class SQLiteIndexes:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def existing(self, cur: Any) -> set[str]:
        table = self.tables.prefix + "instances"
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))
        return {str(r[0]) for r in cur.fetchall()}

    def create(self, spec: IndexSpec, name: str) -> str:
        return (
            f"CREATE INDEX IF NOT EXISTS {quote_ident(name)} ON {self.tables.instances} "
            f"({sqlite_key(spec.field)}, tenant) WHERE entity = {literal(spec.entity)}"
        )

    def drop(self, name: str) -> str:
        return f"DROP INDEX IF EXISTS {quote_ident(name)}"

    def analyze(self, cur: Any, created: list[str]) -> None:
        # Only where statistics are kept already: a first ANALYZE would change the plans of
        # every other query too, and without statistics SQLite picks these indexes anyway.
        cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cur.fetchall():
            for name in created:
                cur.execute(f"ANALYZE {quote_ident(name)}")


class PostgresIndexes:
    def __init__(self, tables: Tables, schema: str) -> None:
        self.tables = tables
        self.schema = schema

    def existing(self, cur: Any) -> set[str]:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            (self.schema, self.tables.prefix + "instances"),
        )
        return {str(r[0]) for r in cur.fetchall()}

    def create(self, spec: IndexSpec, name: str) -> str:
        return (
            f"CREATE INDEX IF NOT EXISTS {quote_ident(name)} ON {self.tables.instances} "
            f"(({postgres_key(spec.field)}), tenant, seq) WHERE entity = {literal(spec.entity)}"
        )

    def drop(self, name: str) -> str:
        return f"DROP INDEX IF EXISTS {quote_ident(self.schema)}.{quote_ident(name)}"

    def analyze(self, cur: Any, created: list[str]) -> None:
        # Without statistics on the new expression the planner guesses its selectivity, and may
        # walk the list order instead of using the index.
        cur.execute(f"ANALYZE {self.tables.instances}")


def owned(name: str, prefix: str) -> bool:
    """Whether an index name is one ``sync`` manages for ``prefix`` (its exact shape, so an index
    named by hand, or by ``SQLiteStore.create_index``, is never dropped)."""
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    return bool(re.fullmatch(re.escape(NAME_TAG) + "[a-z0-9_]*_[0-9a-f]{" + str(_HASH_CHARS) + "}", rest))


def sync(cur: Any, dialect: IndexDialect, prefix: str, specs: Iterable[IndexSpec]) -> IndexSync:
    """Create the indexes ``specs`` name and drop the other ones this store created, with ``cur``
    in a transaction the caller holds (and serialises: a lock, or SQLite's write lock)."""
    wanted = {spec.name(prefix): spec for spec in specs}
    existing = dialect.existing(cur)
    mine = {name for name in existing if owned(name, prefix)}
    created = [name for name in wanted if name not in existing]
    dropped = sorted(mine - wanted.keys())
    for name in dropped:
        cur.execute(dialect.drop(name))
    for name in created:
        cur.execute(dialect.create(wanted[name], name))
    if created:
        dialect.analyze(cur, created)
    kept = sorted(name for name in wanted if name in existing)
    return IndexSync(tuple(created), tuple(dropped), tuple(kept))


class SqlIndexes:
    """``sync_indexes`` of ``SqlStore`` (which supplies ``_transact``; the dialects supply
    ``_index_dialect`` and ``_lock_schema``)."""

    tables: Tables
    #: per entity, the fields with a model index (what ``sync_indexes`` last applied)
    indexed_fields: Mapping[str, frozenset[str]] = MappingProxyType({})

    def _transact(self, work: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    def _index_dialect(self) -> IndexDialect:
        raise NotImplementedError

    def _lock_schema(self, cur: Any) -> None:
        """Serialise schema changes of several processes (SQLite's BEGIN IMMEDIATE already does)."""

    def sync_indexes(self, model: Any) -> IndexSync:
        """Give the ``indexed`` and ``unique`` properties of ``model`` (an IR document, or a
        ``CompiledModel``) their indexes and drop the ones of properties no longer marked; safe
        when several processes open the store at once. ``manifest serve`` calls it on start."""
        ir = getattr(model, "ir", model)
        specs = model_indexes(ir if isinstance(ir, Mapping) else {})
        done = self._transact(self._sync_indexes, specs)
        fields: dict[str, set[str]] = {}
        for spec in specs:
            fields.setdefault(spec.entity, set()).add(spec.field)
        self.indexed_fields = MappingProxyType({e: frozenset(f) for e, f in fields.items()})
        return done

    def _sync_indexes(self, cur: Any, specs: list[IndexSpec]) -> IndexSync:
        self._lock_schema(cur)
        return sync(cur, self._index_dialect(), self.tables.prefix, specs)
