"""``open_store(url)``: one string names a backend, for the CLI, the HTTP server and workers.

- ``memory://``                                   in-process, like the engine's default store
- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``
- ``postgresql://user@host:5432/db?schema=s&prefix=p_&pool_size=4`` (``postgres://`` too)

Query parameters the store understands (``prefix``, ``schema``, ``pool_size``, ``synchronous``,
``busy_timeout_ms``, ``audit_refusals=1``) are taken out; the rest stay in the PostgreSQL DSN
(e.g. ``sslmode``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import StoreError
from .base import Store

_INT_OPTIONS = {"pool_size", "busy_timeout_ms", "prepare_threshold"}
_BOOL_OPTIONS = {"audit_refusals"}
_SQLITE_OPTIONS = {"prefix", "synchronous", "busy_timeout_ms", "audit_refusals"}
_PG_OPTIONS = {"prefix", "schema", "pool_size", "prepare_threshold", "audit_refusals"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _split_options(query: str, known: set[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    options: dict[str, Any] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in known:
            rest.append((key, value))
            continue
        if key in _BOOL_OPTIONS:
            if value.lower() not in _TRUE | _FALSE:
                raise StoreError(f"store option {key} must be true or false, not {value!r}")
            options[key] = value.lower() in _TRUE
            continue
        try:
            options[key] = int(value) if key in _INT_OPTIONS else value
        except ValueError:
            raise StoreError(f"store option {key} must be an integer, not {value!r}") from None
    return options, rest


def open_store(url: str, **overrides: Any) -> Store:
    """The store a URL names; keyword ``overrides`` go to the store's constructor."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        from .memory import MemoryStore

        # Nothing else can read an in-process outbox, so record none (it would only grow).
        return MemoryStore()
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        options, rest = _split_options(parts.query, _SQLITE_OPTIONS)
        if rest:
            raise StoreError(f"unknown sqlite store option(s): {', '.join(k for k, _ in rest)}")
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path:
            raise StoreError(f"sqlite URL must look like sqlite:///path/to/file.db, not {url!r}")
        return SQLiteStore(path, **{**options, **overrides})
    if scheme in {"postgresql", "postgres"}:
        from .postgres import PostgresStore

        options, rest = _split_options(parts.query, _PG_OPTIONS)
        dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), parts.fragment))
        return PostgresStore(dsn, **{**options, **overrides})
    raise StoreError(f"unsupported store URL {url!r}: use memory://, sqlite:///path or postgresql://...")
