"""Publish outbox rows to Redis Streams (XADD); consumers dedupe on the ``entryId`` field.

A batch is one pipeline. Redis runs a connection's commands in order, so when the connection
drops mid-batch an instance's later row cannot have been stored without its earlier one; every
row whose reply did not arrive is published again (a duplicate by entryId). A connection that
cannot be made or is lost raises ``StoreUnavailableError``: an outage costs no row an attempt.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

try:
    import redis
    from redis import exceptions as redis_errors
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "redis", "redis") from exc

from ..errors import StoreUnavailableError
from .relay import PublishOutcome
from .types import OutboxRow


class RedisStreamsPublisher:
    """XADD each row to ``stream`` (``{channel}`` in the name is replaced by the row's channel)."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        stream: str = "manifest:events",
        maxlen: int | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        self.stream = stream
        self.maxlen = maxlen
        self._client = client if client is not None else redis.Redis.from_url(url, socket_timeout=10)

    def stream_for(self, row: OutboxRow) -> str:
        return self.stream.replace("{channel}", row.channel or "default")

    def publish(self, groups: Sequence[Sequence[OutboxRow]]) -> PublishOutcome:
        rows = [row for group in groups for row in group]
        pipe = self._client.pipeline(transaction=False)
        for row in rows:
            fields = {
                "entryId": row.entry_id,
                "name": row.name,
                "channel": row.channel,
                "entity": row.entity,
                "instanceId": row.instance_id,
                "message": orjson.dumps(row.message()),
            }
            pipe.xadd(self.stream_for(row), fields, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
        try:
            replies = pipe.execute(raise_on_error=False)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            raise StoreUnavailableError(f"Redis unavailable: {exc}") from None
        except redis_errors.RedisError as exc:
            # Charge the failure to each instance's first row; the rest wait behind it.
            return {group[0].seq: exc for group in groups if group}
        outcome: PublishOutcome = {}
        failed: set[tuple[str, str]] = set()
        for row, reply in zip(rows, replies, strict=True):
            if row.subject_key in failed:
                continue  # not acknowledged as in order: leave it pending behind the failure
            if isinstance(reply, Exception):
                failed.add(row.subject_key)
                outcome[row.seq] = reply
            else:
                outcome[row.seq] = None
        return outcome

    def close(self) -> None:
        self._client.close()
