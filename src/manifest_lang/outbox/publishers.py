"""``open_publisher(url)``: ``nats://…`` → JetStream, ``redis://…`` / ``rediss://…`` → Streams,
``https://…`` / ``http://…`` → signed POSTs to a partner's endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..errors import StoreError
from .relay import Publisher


def open_publisher(url: str, **options: Any) -> Publisher:
    """The publisher a broker URL names. Query parameters: ``stream`` (both), ``subject_prefix``
    (NATS), ``maxlen`` (Redis); keyword ``options`` override them. An HTTP URL is the partner's
    own (its query is kept); its options are ``HttpPublisher``'s (``secret`` is required, None
    for unsigned deliveries)."""
    parts = urlsplit(url)
    if parts.scheme.lower() in {"http", "https"}:
        return _http_publisher(url, options)
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
    raise StoreError(
        f"unsupported broker URL {url!r}: use nats://host:4222, redis://host:6379/0 or https://host/path"
    )


def _http_publisher(url: str, options: dict[str, Any]) -> Publisher:
    try:
        from .http_publisher import HttpPublisher
    except ImportError:
        raise StoreError(
            "delivering to an HTTP endpoint needs httpx: pip install 'manifest-lang[relay-http]'"
        ) from None
    if "secret" not in options:
        raise StoreError("an HTTP endpoint needs a signing secret (or secret=None for unsigned deliveries)")
    return HttpPublisher(url, **options)
