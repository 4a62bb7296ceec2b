"""Deliver outbox rows to a partner over HTTP: one signed JSON POST per event.

Each POST carries the row's envelope (``{"entryId", "enqueuedAt", "event"}``) as the body and

* ``Manifest-Event-Id`` and ``Idempotency-Key``: the entry id, so the receiver drops a repeat
  (delivery is at least once, as with the brokers);
* ``Manifest-Signature: t=<unix>,v1=<hex>``: HMAC-SHA256 of ``"<t>.<body>"`` (``signing.py``, the
  Stripe scheme), which a receiver checks with the shared secret and a timestamp tolerance;
* ``Manifest-Event-Name`` and ``Manifest-Delivery-Attempt`` (1-based), for the receiver's logs.

A 2xx answer delivers the row. A 5xx, 408 or 429 answer, a timeout or a dropped connection is a
failure the relay retries with backoff (``Retry-After`` in seconds is honoured) and dead-letters
after its attempts; another 4xx is permanent (the receiver will not accept the same request later),
so the row is dead-lettered at once and can be requeued with ``manifest outbox --requeue-dead``.
An endpoint that cannot be connected to at all is an outage: the row keeps its attempts.

Instances are delivered side by side (a thread each, up to ``concurrency``), the rows of one
instance one after the other, stopping at its first failure: the relay's per-instance order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

import httpx
import orjson

from ..errors import StoreUnavailableError
from .relay import DeliveryError, PublishOutcome
from .signing import signature_header
from .types import OutboxRow

DEFAULT_SIGNATURE_HEADER = "Manifest-Signature"


def _user_agent() -> str:
    try:
        return f"manifest-lang-relay/{metadata.version('manifest-lang')}"
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "manifest-lang-relay"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


class _Unreachable(Exception):
    """The endpoint refused or never answered the connection: nothing was sent."""


class HttpPublisher:
    """POSTs each row to ``url``, signed with ``secret`` (unsigned when it is None)."""

    def __init__(
        self,
        url: str,
        *,
        secret: bytes | str | None,
        timeout_seconds: float = 10.0,
        signature_header_name: str = DEFAULT_SIGNATURE_HEADER,
        concurrency: int = 8,
        headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.signature_header_name = signature_header_name
        self.clock = clock
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            headers={"User-Agent": _user_agent(), **(headers or {})},
            follow_redirects=False,
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="manifest-http")

    def request_headers(self, row: OutboxRow, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Manifest-Event-Id": row.entry_id,
            "Idempotency-Key": row.entry_id,
            "Manifest-Event-Name": row.name,
            "Manifest-Delivery-Attempt": str(row.attempts + 1),
        }
        if self.secret is not None:
            headers[self.signature_header_name] = signature_header(self.secret, body, int(self.clock()))
        return headers

    def publish(self, groups: Sequence[Sequence[OutboxRow]]) -> PublishOutcome:
        parts = list(self._pool.map(self._deliver_group, groups))
        outcome: PublishOutcome = {}
        unreachable: list[str] = []
        for part, reason in parts:
            outcome.update(part)
            if reason is not None:
                unreachable.append(reason)
        if unreachable and not outcome:
            # Nothing got through to the endpoint at all: an outage, not these rows' failure.
            raise StoreUnavailableError(f"HTTP endpoint {self.url} unreachable: {unreachable[0]}")
        return outcome

    def _deliver_group(self, group: Sequence[OutboxRow]) -> tuple[PublishOutcome, str | None]:
        outcome: PublishOutcome = {}
        for row in group:
            try:
                self._post(row)
            except _Unreachable as exc:
                return outcome, str(exc)  # this row and the rest stay pending, attempts untouched
            except DeliveryError as exc:
                outcome[row.seq] = exc
                return outcome, None
            outcome[row.seq] = None
        return outcome, None

    def _post(self, row: OutboxRow) -> None:
        body = orjson.dumps(row.message())
        try:
            response = self._client.post(self.url, content=body, headers=self.request_headers(row, body))
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from None
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timed out after sending: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            # The connection dropped mid-request: the receiver may or may not have it.
            raise DeliveryError(f"connection lost: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"HTTP {status} from {self.url}: {response.text[:200]}"
        if 400 <= status < 500 and status not in _RETRYABLE_STATUS:
            raise DeliveryError(detail, permanent=True)
        raise DeliveryError(detail, retry_after=_retry_after(response))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    return None  # the HTTP-date form is rare from webhook receivers; the backoff applies
