"""``open_publisher(url)``: ``nats://…`` → JetStream, ``redis://…`` / ``rediss://…`` → Streams."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..errors import StoreError
from .relay import Publisher


def open_publisher(url: str, **options: Any) -> Publisher:
    """The publisher a broker URL names. Query parameters: ``stream`` (both), ``subject_prefix``
    (NATS), ``maxlen`` (Redis); keyword ``options`` override them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    scheme = parts.scheme.lower()
    if scheme in {"nats", "tls"}:
        from .nats_publisher import NatsPublisher

        picked: dict[str, Any] = {k: query[k] for k in ("stream", "subject_prefix") if k in query}
        return NatsPublisher(base, **{**picked, **options})
    if scheme in {"redis", "rediss"}:
        from .redis_publisher import RedisStreamsPublisher

        picked_r: dict[str, Any] = {"stream": query["stream"]} if "stream" in query else {}
        if "maxlen" in query:
            picked_r["maxlen"] = int(query["maxlen"])
        return RedisStreamsPublisher(base, **{**picked_r, **options})
    raise StoreError(f"unsupported broker URL {url!r}: use nats://host:4222 or redis://host:6379/0")
