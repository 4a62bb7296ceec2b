"""Publish outbox rows to NATS JetStream, ``Nats-Msg-Id: <entryId>`` so the server drops repeats.

nats-py is asyncio-only; the relay is synchronous (see DESIGN.md), so the publisher owns a private
event loop. Instances are published concurrently, the rows of one instance strictly one after
the other (each waits for its acknowledgement), stopping at the first failure.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

try:
    import nats
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "nats", "nats") from exc
import orjson

from ..errors import StoreUnavailableError
from .relay import PublishOutcome, log
from .types import OutboxRow

_BAD_TOKEN = re.compile(r"[\s.*>]+")


def subject_token(text: str) -> str:
    """A NATS subject token: no whitespace, dots or wildcards."""
    return _BAD_TOKEN.sub("_", text) or "_"


def channel_tokens(channel: str) -> str:
    """A channel as subject tokens: its dots stay levels (``inventory.reserved``)."""
    return ".".join(subject_token(part) for part in (channel or "default").split("."))


async def _log_error(exc: Exception) -> None:
    # nats-py's default prints a traceback per failed connect; one log line is enough.
    log.warning("NATS: %s", exc or type(exc).__name__)


async def _log_disconnect() -> None:
    log.info("NATS: disconnected")


class NatsPublisher:
    """Publishes to ``<subject_prefix>.<channel>.<event name>`` on stream ``stream``."""

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "MANIFEST",
        subject_prefix: str = "manifest",
        ack_timeout: float = 5.0,
        duplicate_window_seconds: float = 120.0,
        create_stream: bool = True,
    ) -> None:
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.ack_timeout = ack_timeout
        self.url = url
        self._loop = asyncio.new_event_loop()
        try:
            self._connect()
        except StoreUnavailableError:
            self._loop.close()
            raise
        if create_stream:
            self._loop.run_until_complete(self._ensure_stream(duplicate_window_seconds))

    def _connect(self) -> None:
        try:
            self._nc: Any = self._loop.run_until_complete(
                nats.connect(
                    self.url,
                    connect_timeout=3,
                    max_reconnect_attempts=3,
                    error_cb=_log_error,
                    disconnected_cb=_log_disconnect,
                )
            )
        except Exception as exc:
            raise StoreUnavailableError(
                f"NATS unavailable at {self.url}: {exc or type(exc).__name__}"
            ) from None
        self._js = self._nc.jetstream(timeout=self.ack_timeout)

    async def _ensure_stream(self, duplicate_window: float) -> None:
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            config = StreamConfig(
                name=self.stream, subjects=[f"{self.subject_prefix}.>"], duplicate_window=duplicate_window
            )
            await self._js.add_stream(config)

    def subject_for(self, row: OutboxRow) -> str:
        return f"{self.subject_prefix}.{channel_tokens(row.channel)}.{subject_token(row.name)}"

    def publish(self, groups: Sequence[Sequence[OutboxRow]]) -> PublishOutcome:
        if self._nc.is_closed:
            self._connect()  # the client gave up reconnecting: start over (or raise unavailable)
        if not self._nc.is_connected:
            # Reconnecting: an outage, not a failure of these messages.
            raise StoreUnavailableError("NATS is not connected")
        outcome: PublishOutcome = {}
        self._loop.run_until_complete(self._publish_all(groups, outcome))
        return outcome

    async def _publish_all(self, groups: Sequence[Sequence[OutboxRow]], outcome: PublishOutcome) -> None:
        await asyncio.gather(*(self._publish_group(g, outcome) for g in groups))

    async def _publish_group(self, group: Sequence[OutboxRow], outcome: PublishOutcome) -> None:
        for row in group:
            message = row.message()
            headers = {"Nats-Msg-Id": row.entry_id}
            if "traceparent" in message:
                headers["traceparent"] = message["traceparent"]  # W3C trace context, as a header too
            try:
                await self._js.publish(
                    self.subject_for(row), orjson.dumps(message), timeout=self.ack_timeout, headers=headers
                )
            except Exception as exc:  # any failure keeps the row (and the rest of the group) pending
                outcome[row.seq] = exc
                return
            outcome[row.seq] = None

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._nc.drain())
        except Exception:
            pass  # already closed or the server is gone: nothing left to flush
        self._loop.close()
