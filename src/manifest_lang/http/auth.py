"""Turning a request into the runtime context ``{user: {id, role}, tenantId}``.

Authentication is pluggable: ``create_app(auth=...)`` takes any callable ``request -> context``
(sync or async) that raises ``ProblemError("UNAUTHENTICATED")`` to refuse. The default
``KeyOrTokenAuth`` accepts an API key (``X-API-Key``, keys from a JSON/TOML file or the
``MANIFEST_API_KEYS`` environment variable) or a bearer token signed with HMAC-SHA256.

Tokens are ``base64url(json claims) "." base64url(hmac_sha256(secret, first part))`` with claims
``sub`` (user id), ``role``, ``tenantId`` and ``exp`` (unix seconds). ``sign_token`` makes one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request

from .. import untrusted
from ..errors import ManifestError
from .problems import ProblemError

Context = dict[str, Any]
#: what ``create_app(auth=...)`` accepts
Authenticator = Callable[[Request], Context | Awaitable[Context]]

API_KEYS_ENV = "MANIFEST_API_KEYS"
API_KEY_HEADER = "x-api-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, message: str) -> str:
    return _b64(hmac.new(secret.encode(), message.encode("ascii"), hashlib.sha256).digest())


def sign_token(
    secret: str,
    user_id: str,
    *,
    role: str | None = None,
    tenant_id: str | None = None,
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """A bearer token that ``KeyOrTokenAuth(secret=secret)`` maps to that user and tenant."""
    claims: dict[str, Any] = {"sub": user_id, "exp": int((now or time.time()) + ttl_seconds)}
    if role is not None:
        claims["role"] = role
    if tenant_id is not None:
        claims["tenantId"] = tenant_id
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(secret, body)}"


def verify_token(secret: str, token: str, *, now: float | None = None) -> Context:
    """The context a token grants; raises an UNAUTHENTICATED problem if it is forged or expired."""
    body, _, signature = token.partition(".")
    if not body or not signature or not hmac.compare_digest(signature, _mac(secret, body)):
        raise ProblemError("UNAUTHENTICATED", "Invalid bearer token", headers=_CHALLENGE)
    try:
        claims = json.loads(_unb64(body))
    except ValueError:
        raise ProblemError("UNAUTHENTICATED", "Invalid bearer token", headers=_CHALLENGE) from None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise ProblemError("UNAUTHENTICATED", "Token has no subject", headers=_CHALLENGE)
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and exp < (now or time.time()):
        raise ProblemError("UNAUTHENTICATED", "Token expired", headers=_CHALLENGE)
    return make_context(claims["sub"], claims.get("role"), claims.get("tenantId"))


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="manifest"'}


def make_context(user_id: str, role: Any = None, tenant_id: Any = None) -> Context:
    user: dict[str, Any] = {"id": user_id}
    if role is not None:
        user["role"] = role
    context: Context = {"user": user}
    if tenant_id is not None:
        context["tenantId"] = tenant_id
    return context


def _context_from_entry(key_name: str, entry: Any) -> Context:
    """Accept ``{user: {id, role}, tenantId}`` or the flat ``{id|userId, role, tenantId}``."""
    if not isinstance(entry, Mapping):
        raise ManifestError(f"API key entry {key_name!r} must be an object")
    if isinstance(entry.get("user"), Mapping):
        context = dict(entry)
        context["user"] = dict(entry["user"])
        return context
    user_id = entry.get("id", entry.get("userId"))
    if not isinstance(user_id, str):
        raise ManifestError(f"API key entry {key_name!r} needs a user id")
    return make_context(user_id, entry.get("role"), entry.get("tenantId"))


def parse_api_keys(data: Any) -> dict[str, Context]:
    """``{"keys": {KEY: context}}`` or just ``{KEY: context}`` -> key -> context."""
    if isinstance(data, Mapping) and isinstance(data.get("keys"), Mapping):
        data = data["keys"]
    if not isinstance(data, Mapping):
        raise ManifestError("API keys must be an object mapping each key to a user context")
    return {str(key): _context_from_entry(str(key), entry) for key, entry in data.items()}


def load_api_keys(path: str | Path) -> dict[str, Context]:
    """Read API keys from a ``.json`` or ``.toml`` file (see ``parse_api_keys``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else untrusted.loads(text)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read API keys from {path}: {exc}") from None
    return parse_api_keys(data)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyOrTokenAuth:
    """API keys and/or HMAC bearer tokens; anonymous requests only if ``allow_anonymous``."""

    def __init__(
        self,
        *,
        api_keys: Mapping[str, Context] | None = None,
        secret: str | None = None,
        allow_anonymous: bool = False,
    ) -> None:
        # Look keys up by their digest so the lookup time does not depend on key prefixes.
        self._keys = {_digest(k): dict(v) for k, v in (api_keys or {}).items()}
        self._secret = secret
        self.allow_anonymous = allow_anonymous

    @classmethod
    def from_env(cls, *, secret: str | None = None, api_keys_file: str | None = None) -> KeyOrTokenAuth:
        keys: dict[str, Context] = {}
        if api_keys_file:
            keys.update(load_api_keys(api_keys_file))
        env = os.environ.get(API_KEYS_ENV)
        if env:
            try:
                keys.update(parse_api_keys(untrusted.loads(env)))
            except ValueError as exc:
                raise ManifestError(f"{API_KEYS_ENV} is not valid JSON: {exc}") from None
        return cls(api_keys=keys, secret=secret, allow_anonymous=not keys and not secret)

    def __call__(self, request: Request) -> Context:
        key = request.headers.get(API_KEY_HEADER)
        token = _bearer(request)
        if not key and not token and request.method == "GET":
            # Browsers cannot add headers to a page link or an EventSource: GET requests may
            # carry the credential as ?api_key= or ?access_token= (RFC 6750 section 2.3).
            key = request.query_params.get("api_key")
            token = request.query_params.get("access_token")
        if key:
            context = self._keys.get(_digest(key))
            if context is None:
                raise ProblemError("UNAUTHENTICATED", "Unknown API key")
            return {**context, "user": dict(context.get("user") or {})}
        if token:
            if self._secret is None:
                raise ProblemError("UNAUTHENTICATED", "Bearer tokens are not enabled", headers=_CHALLENGE)
            return verify_token(self._secret, token)
        if self.allow_anonymous:
            return {}
        raise ProblemError(
            "UNAUTHENTICATED", "Send an X-API-Key header or a bearer token", headers=_CHALLENGE
        )


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def trusted_headers_auth(request: Request) -> Context:
    """Development / behind-a-gateway auth: trust ``X-User-Id``, ``X-User-Role``, ``X-Tenant-Id``.

    Never expose an app using it directly: anyone can claim any user.
    """
    user_id = request.headers.get("x-user-id")
    if not user_id:
        raise ProblemError("UNAUTHENTICATED", "X-User-Id header required")
    return make_context(user_id, request.headers.get("x-user-role"), request.headers.get("x-tenant-id"))
