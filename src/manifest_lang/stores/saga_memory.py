"""Saga rows of the memory store, under the store's own lock (the same rules as the SQL tables)."""

from __future__ import annotations

from typing import Any

from ..errors import SagaFencedError
from .sagas import NEW_SAGA, SagaWrite, StoredSaga, fenced_message


class MemorySagas:
    """``saga_id -> (state, version, columns)``; ``check_locked`` before any write is applied,
    ``apply_locked`` after, so a fenced unit of work applies nothing."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[dict[str, Any], int, tuple[str, str | None, str | None, str, float]]] = {}

    def check_locked(self, write: SagaWrite) -> None:
        found = self._rows.get(write.saga_id)
        version = found[1] if found is not None else None
        ok = version is None if write.expected_version == NEW_SAGA else version == write.expected_version
        if not ok:
            raise SagaFencedError(fenced_message(write, version), saga_id=write.saga_id)

    def apply_locked(self, write: SagaWrite) -> None:
        found = self._rows.get(write.saga_id)
        created = found[2][4] if found is not None else write.at
        columns = (write.name, write.tenant, write.correlation_id, write.status, created)
        self._rows[write.saga_id] = (dict(write.state), write.expected_version + 1, columns)

    def load(self, saga_id: str) -> StoredSaga | None:
        found = self._rows.get(saga_id)
        return None if found is None else StoredSaga(dict(found[0]), found[1])

    def list(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        tenant: str | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> list[StoredSaga]:
        wanted = (name, tenant, correlation_id, status)
        out = []
        for state, version, columns in sorted(self._rows.values(), key=lambda r: r[2][4]):
            if all(w is None or w == c for w, c in zip(wanted, columns[:4], strict=True)):
                out.append(StoredSaga(dict(state), version))
                if len(out) >= limit:
                    break
        return out
