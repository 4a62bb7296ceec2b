"""The SQL both stores run, written once with ``?`` placeholders (PostgreSQL rewrites them).

``t`` holds the quoted table names, ``j`` is the placeholder of a JSON value (``?`` on SQLite,
``?::jsonb`` on PostgreSQL). Every value is a bound parameter.
"""

from __future__ import annotations

import re

from ..errors import StoreError
from ..outbox.types import DEAD, PENDING, PUBLISHED

_PREFIX_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (both dialects), safe for any name."""
    return '"' + name.replace('"', '""') + '"'


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise StoreError(f"invalid table prefix {prefix!r}: use letters, digits and '_' (max 41)")
    return prefix


class Tables:
    """Quoted table names for one prefix."""

    def __init__(self, prefix: str, schema: str | None = None) -> None:
        check_prefix(prefix)
        qualify = (quote_ident(schema) + ".") if schema else ""
        self.prefix = prefix
        self.instances = qualify + quote_ident(prefix + "instances")
        self.outbox = qualify + quote_ident(prefix + "outbox")
        self.idempotency = qualify + quote_ident(prefix + "idempotency")
        #: where ``idempotency`` rows of the schema before (tenant, key) keys are kept on upgrade
        self.idempotency_legacy = qualify + quote_ident(prefix + "idempotency_legacy")
        self.idempotency_name = prefix + "idempotency"
        self.audit = qualify + quote_ident(prefix + "audit")
        self.lease = qualify + quote_ident(prefix + "relay_lease")
        self.work = qualify + quote_ident(prefix + "work")
        self.schedules = qualify + quote_ident(prefix + "schedules")
        self.approvals = qualify + quote_ident(prefix + "approvals")
        self.rate_limits = qualify + quote_ident(prefix + "rate_limits")
        self.schema_version = qualify + quote_ident(prefix + "schema_version")
        self.sagas = qualify + quote_ident(prefix + "sagas")

    def owned(self) -> tuple[str, ...]:
        """Every table of this prefix (what ``drop_schema`` removes)."""
        return (
            self.instances,
            self.outbox,
            self.idempotency,
            self.idempotency_legacy,
            self.audit,
            self.lease,
            self.work,
            self.schedules,
            self.approvals,
            self.rate_limits,
            self.schema_version,
            self.sagas,
        )

    def index(self, name: str) -> str:
        """An index name (unqualified: indexes live in their table's schema)."""
        return quote_ident(self.prefix + name)


def instance_statements(t: Tables, j: str) -> dict[str, str]:
    """Instance rows: reads, revision-checked writes."""
    return {
        "load": f"SELECT data, revision FROM {t.instances} WHERE entity = ? AND id = ?",
        "load_t": f"SELECT data, revision FROM {t.instances} WHERE entity = ? AND id = ? AND tenant = ?",
        "insert": f"INSERT INTO {t.instances} (entity, id, tenant, data, revision) "
        f"VALUES (?, ?, ?, {j}, 1) ON CONFLICT (entity, id) DO NOTHING",
        "update": f"UPDATE {t.instances} SET data = {j}, tenant = ?, revision = revision + 1 "
        "WHERE entity = ? AND id = ? AND revision = ?",
        "delete": f"DELETE FROM {t.instances} WHERE entity = ? AND id = ? AND revision = ?",
        "exists": f"SELECT revision FROM {t.instances} WHERE entity = ? AND id = ?",
        "clear": f"DELETE FROM {t.instances} WHERE entity = ?",
    }


def outbox_statements(t: Tables, j: str) -> dict[str, str]:
    """Outbox rows: append, claim in per-instance order, outcome, maintenance."""
    return {
        "outbox_insert": f"INSERT INTO {t.outbox} (entry_id, entity, instance_id, channel, name, tenant, "
        f"event, enqueued_at, available_at) VALUES (?, ?, ?, ?, ?, ?, {j}, {j}, 0) "
        "ON CONFLICT (entry_id) DO NOTHING",
        "claim": "SELECT seq, entry_id, entity, instance_id, channel, name, event, enqueued_at, attempts "
        f"FROM {t.outbox} o WHERE o.status = '{PENDING}' AND NOT EXISTS (SELECT 1 FROM {t.outbox} p "
        f"WHERE p.status = '{PENDING}' AND p.entity = o.entity AND p.instance_id = o.instance_id "
        "AND p.seq <= o.seq AND p.available_at > ?) ORDER BY o.seq LIMIT ?",
        "published": f"UPDATE {t.outbox} SET status = '{PUBLISHED}', published_at = ?, "
        "attempts = attempts + 1 WHERE seq = ?",
        "failed": f"UPDATE {t.outbox} SET status = ?, attempts = attempts + 1, last_error = ?, "
        "available_at = ? WHERE seq = ?",
        "counts": f"SELECT status, attempts > 0, count(*) FROM {t.outbox} GROUP BY status, attempts > 0",
        "pending": f"SELECT count(*) FROM {t.outbox} WHERE status = '{PENDING}'",
        "rows_by_status": "SELECT seq, entry_id, entity, instance_id, name, attempts, last_error "
        f"FROM {t.outbox} WHERE status = ? ORDER BY seq LIMIT ?",
        "requeue_dead": f"UPDATE {t.outbox} SET status = '{PENDING}', attempts = 0, available_at = 0 "
        f"WHERE status = '{DEAD}'",
        "purge": f"DELETE FROM {t.outbox} WHERE status = '{PUBLISHED}' AND published_at < ?",
    }


def bookkeeping_statements(t: Tables, j: str) -> dict[str, str]:
    """Idempotency records, audit records and the relay lease."""
    return {
        "audit_insert": f"INSERT INTO {t.audit} "
        "(record_id, occurred_at, command, outcome, tenant, record) "
        f"VALUES (?, {j}, ?, ?, ?, {j})",
        # Keys are (tenant, key) columns. A completed, unexpired record wins: the second writer's
        # whole transaction rolls back.
        "idem_complete": f"INSERT INTO {t.idempotency} AS i (tenant, key, state, fingerprint, result, "
        f"expires_at) VALUES (?, ?, 'completed', ?, {j}, ?) ON CONFLICT (tenant, key) DO UPDATE SET "
        "state = 'completed', fingerprint = excluded.fingerprint, result = excluded.result, "
        "expires_at = excluded.expires_at "
        "WHERE i.state = 'in_progress' OR (i.expires_at IS NOT NULL AND i.expires_at <= ?)",
        "idem_claim": f"INSERT INTO {t.idempotency} AS i (tenant, key, state, fingerprint, result, "
        "expires_at) VALUES (?, ?, 'in_progress', NULL, NULL, ?) ON CONFLICT (tenant, key) DO UPDATE SET "
        "state = 'in_progress', fingerprint = NULL, result = NULL, expires_at = excluded.expires_at "
        "WHERE i.expires_at IS NOT NULL AND i.expires_at <= ?",
        "idem_get": f"SELECT state, result, fingerprint FROM {t.idempotency} WHERE tenant = ? AND key = ? "
        "AND (expires_at IS NULL OR expires_at > ?)",
        "idem_purge": f"DELETE FROM {t.idempotency} WHERE expires_at IS NOT NULL AND expires_at <= ?",
        "idem_release": f"DELETE FROM {t.idempotency} WHERE tenant = ? AND key = ? AND state = 'in_progress'",
        "lease": f"INSERT INTO {t.lease} AS l (name, holder, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
        "WHERE l.holder = excluded.holder OR l.expires_at <= ?",
        "lease_release": f"DELETE FROM {t.lease} WHERE name = ? AND holder = ?",
        "audit_read": f"SELECT record FROM {t.audit} ORDER BY seq",
    }


def idempotency_table(t: Tables, json_type: str, float_type: str) -> list[str]:
    """The idempotency table: one row per (tenant, key), with the request's fingerprint."""
    return [
        f"CREATE TABLE IF NOT EXISTS {t.idempotency} (tenant TEXT NOT NULL, key TEXT NOT NULL, "
        f"state TEXT NOT NULL, fingerprint TEXT, result {json_type}, expires_at {float_type}, "
        "PRIMARY KEY (tenant, key))",
        f"CREATE INDEX IF NOT EXISTS {t.index('idempotency_expiry')} ON {t.idempotency} (expires_at)",
    ]


def idempotency_upgrade(t: Tables) -> list[str]:
    """From the first schema (one ``key`` column holding "<tenant>:<key>"): its rows are kept
    in ``<prefix>idempotency_legacy`` for inspection and never answer a request again (a joined
    key cannot be split back into tenant and key safely)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {t.idempotency_legacy} AS SELECT * FROM {t.idempotency}",
        f"DROP TABLE {t.idempotency}",
    ]
