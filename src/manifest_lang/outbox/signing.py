"""HMAC-SHA256 signatures of HTTP bodies, in the Stripe ``t=<unix>,v1=<hex>`` scheme.

One scheme both ways: the relay signs what it POSTs to a partner (``http_publisher.py``), and the
server's inbound webhooks (``http/webhooks.py``) verify what partners POST, Stripe included. As
Stripe documents it: the signed payload is ``"<t>.<raw body>"``, the header may carry several
``v1`` signatures (during a secret rotation), every other element is ignored, the timestamp must
be within ``tolerance`` seconds of now (either way; 300 s by default), and signatures are
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The verdict on one signature header: ``ok``, or the reason it was refused."""

    ok: bool
    reason: str = ""
    #: the header's timestamp, when it had one
    timestamp: int | None = None


def compute(secret: bytes | str, body: bytes, timestamp: int | None = None) -> str:
    """Hex HMAC-SHA256 of ``body`` (of ``"<timestamp>.<body>"`` when a timestamp is given)."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = body if timestamp is None else b"%d." % timestamp + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_header(secret: bytes | str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on ``body``: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},{SCHEME}={compute(secret, body, timestamp)}"


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for element in header.split(","):
        key, sep, value = element.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value.strip())
    return timestamp, signatures


def verify_timestamped(
    secrets: list[bytes | str],
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> SignatureCheck:
    """Check a ``t=...,v1=...`` header against the raw ``body`` with any of ``secrets``."""
    if not header:
        return SignatureCheck(False, "the signature header is missing")
    timestamp, signatures = _parse(header)
    if timestamp is None:
        return SignatureCheck(False, "the signature header has no timestamp (t=...)")
    if not signatures:
        return SignatureCheck(False, f"the signature header has no {SCHEME} signature", timestamp)
    expected = [compute(secret, body, timestamp) for secret in secrets]
    # Every comparison runs (no early exit), each in constant time.
    matched = False
    for candidate in signatures:
        for digest in expected:
            matched |= hmac.compare_digest(digest, candidate)
    if not matched:
        return SignatureCheck(False, "no signature matches the body", timestamp)
    if tolerance_seconds > 0 and abs(now - timestamp) > tolerance_seconds:
        return SignatureCheck(False, "the signature timestamp is outside the tolerance", timestamp)
    return SignatureCheck(True, timestamp=timestamp)


def verify_plain(secrets: list[bytes | str], body: bytes, header: str | None) -> SignatureCheck:
    """Check a bare hex HMAC-SHA256 of the body (``sha256=`` prefix allowed, as GitHub sends)."""
    if not header:
        return SignatureCheck(False, "the signature header is missing")
    candidate = header.strip()
    if candidate.lower().startswith("sha256="):
        candidate = candidate[len("sha256=") :]
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(compute(secret, body), candidate.lower())
    return SignatureCheck(True) if matched else SignatureCheck(False, "the signature does not match the body")
