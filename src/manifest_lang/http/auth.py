"""Turning a request into the runtime context ``{user: {id, role}, tenantId}``.

Authentication is pluggable: ``create_app(auth=...)`` takes any callable ``request -> context``
(sync or async) that raises ``ProblemError("UNAUTHENTICATED")`` to refuse. The default
``KeyOrTokenAuth`` accepts an API key (``X-API-Key``, keys from a JSON/TOML file or the
``MANIFEST_API_KEYS`` environment variable) or a standard JWT bearer token (``jwt_auth.py``:
HS256 with a secret, RS256/ES256 with keys from a JWKS file or URL).

``sign_token`` makes an HS256 JWT for development and tests; production tokens come from an
identity provider. (The earlier private ``claims.signature`` format is no longer accepted.)
"""

from __future__ import annotations

import hashlib
import os
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import untrusted
from ..errors import ManifestError
from .jwt_auth import CHALLENGE, JWTSettings, JWTVerifier, sign_hs256
from .problems import ProblemError

if TYPE_CHECKING:
    from starlette.requests import Request

Context = dict[str, Any]
#: what ``create_app(auth=...)`` accepts
Authenticator = Callable[["Request"], Context | Awaitable[Context]]

API_KEYS_ENV = "MANIFEST_API_KEYS"
API_KEY_HEADER = "x-api-key"
_CHALLENGE = CHALLENGE


def sign_token(
    secret: str,
    user_id: str,
    *,
    role: str | None = None,
    tenant_id: str | None = None,
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """An HS256 JWT that ``KeyOrTokenAuth(secret=secret)`` maps to that user and tenant."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": user_id, "iat": issued, "exp": issued + int(ttl_seconds)}
    if role is not None:
        claims["role"] = role
    if tenant_id is not None:
        claims["tenantId"] = tenant_id
    return sign_hs256(secret, claims)


def verify_token(secret: str, token: str, *, now: float | None = None) -> Context:
    """The context an HS256 token grants; raises an UNAUTHENTICATED problem if it is forged or expired."""
    return JWTVerifier(JWTSettings(secret=secret)).verify(token, now=now)


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
    """API keys and/or JWT bearer tokens; anonymous requests only if ``allow_anonymous``.

    ``secret`` alone accepts HS256 tokens; ``jwt`` (``JWTSettings`` or a ``JWTVerifier``) configures
    asymmetric keys, issuer, audience, lifetime and the claim map.
    """

    def __init__(
        self,
        *,
        api_keys: Mapping[str, Context] | None = None,
        secret: str | None = None,
        jwt: JWTSettings | JWTVerifier | None = None,
        allow_anonymous: bool = False,
    ) -> None:
        # Look keys up by their digest so the lookup time does not depend on key prefixes.
        self._keys = {_digest(k): dict(v) for k, v in (api_keys or {}).items()}
        if isinstance(jwt, JWTSettings):
            jwt = JWTVerifier(jwt)
        elif jwt is None and secret:
            jwt = JWTVerifier(JWTSettings(secret=secret))
        self.verifier = jwt
        self.allow_anonymous = allow_anonymous

    @classmethod
    def from_env(
        cls,
        *,
        secret: str | None = None,
        api_keys_file: str | None = None,
        jwt: JWTSettings | None = None,
    ) -> KeyOrTokenAuth:
        keys: dict[str, Context] = {}
        if api_keys_file:
            keys.update(load_api_keys(api_keys_file))
        env = os.environ.get(API_KEYS_ENV)
        if env:
            try:
                keys.update(parse_api_keys(untrusted.loads(env)))
            except ValueError as exc:
                raise ManifestError(f"{API_KEYS_ENV} is not valid JSON: {exc}") from None
        jwt = jwt or (JWTSettings(secret=secret) if secret else None)
        return cls(api_keys=keys, jwt=jwt, allow_anonymous=not keys and jwt is None)

    def __call__(self, request: Request) -> Context | Awaitable[Context]:
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
            verifier = self.verifier
            if verifier is None:
                raise ProblemError("UNAUTHENTICATED", "Bearer tokens are not enabled", headers=_CHALLENGE)
            if verifier.needs_fetch(token):
                return _verify_off_loop(verifier, token)  # a JWKS URL to read: not on the event loop
            return verifier.verify(token)
        if self.allow_anonymous:
            return {}
        raise ProblemError(
            "UNAUTHENTICATED", "Send an X-API-Key header or a bearer token", headers=_CHALLENGE
        )


async def _verify_off_loop(verifier: JWTVerifier, token: str) -> Context:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(verifier.verify, token)


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
