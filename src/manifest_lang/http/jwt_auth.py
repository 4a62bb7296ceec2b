"""Standard JWT bearer tokens, verified with PyJWT.

A token is accepted when its signature checks out against a configured key (an HMAC secret for
``HS256``/``HS384``/``HS512``; a JWKS file or URL for ``RS*``/``PS*``/``ES*``/``EdDSA``, the key chosen
by the token's ``kid``), it carries a valid ``exp`` that is neither past nor further away than the
server's maximum lifetime, and ``iss``/``aud`` match when configured. Its claims then become the
runtime context ``{user: {id, role}, tenantId}`` through a configurable claim map.

Every malformed token (non-ASCII bytes, bad base64, a string/NaN/infinite ``exp``, an unknown
``kid``...) is the same 401: nothing about a token reaches the client or crashes the server.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import jwt
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra("jwt", "http") from exc

from ..errors import ManifestError
from .problems import ProblemError

log = logging.getLogger("manifest_lang.http.auth")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="manifest"'}
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)
DEFAULT_MAX_LIFETIME = 24 * 3600
DEFAULT_LEEWAY = 30
#: longer bearer tokens are refused before any parsing (real ones are a few KB at most)
MAX_TOKEN_LENGTH = 16_384
#: an unknown ``kid`` re-reads the key set at most this often (a flood of random kids must not
#: turn into a flood of requests to the identity provider)
MIN_REFRESH_SECONDS = 60.0
#: a JWKS URL is re-read this often even when every kid is known, so revoked keys go away
MAX_KEYSET_AGE_SECONDS = 3600.0


class JWTConfigError(ManifestError):
    """The JWT settings (keys, algorithms, claim map) cannot be used."""

    code = "JWT_CONFIG"


def _unauthenticated(detail: str = "Invalid bearer token") -> ProblemError:
    return ProblemError("UNAUTHENTICATED", detail, headers=CHALLENGE)


@dataclass(frozen=True)
class ClaimMap:
    """Which claim becomes which part of the runtime context.

    A name is looked up as a key first, then as a dotted path (``realm_access.role``); a list
    value (``roles: ["chef"]``) gives its first element.
    """

    user_id: str = "sub"
    role: str = "role"
    tenant_id: str = "tenantId"

    @classmethod
    def parse(cls, pairs: Sequence[str]) -> ClaimMap:
        """``["user.role=https://example.com/role", "tenantId=org"]`` -> a ClaimMap."""
        names = {"user.id": "user_id", "user.role": "role", "tenantId": "tenant_id"}
        values: dict[str, str] = {}
        for pair in pairs:
            target, sep, claim = pair.partition("=")
            if not sep or target.strip() not in names or not claim.strip():
                raise JWTConfigError(
                    f"claim mapping {pair!r}: expected user.id=CLAIM, user.role=CLAIM or tenantId=CLAIM"
                )
            values[names[target.strip()]] = claim.strip()
        return cls(**values)


@dataclass(frozen=True)
class JWTSettings:
    """Everything ``JWTVerifier`` needs; ``from_env``/``to_env`` carry it to uvicorn workers."""

    secret: str | None = None
    jwks: str | None = None
    algorithms: tuple[str, ...] = ()
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    max_lifetime: int = DEFAULT_MAX_LIFETIME
    leeway: int = DEFAULT_LEEWAY
    claims: ClaimMap = field(default_factory=ClaimMap)

    def allowed_algorithms(self) -> tuple[str, ...]:
        if self.algorithms:
            return self.algorithms
        return (("HS256",) if self.secret else ()) + (("RS256", "ES256") if self.jwks else ())

    _ENV = "MANIFEST_SERVE_JWT"

    def to_env(self) -> dict[str, str]:
        data = {
            "jwks": self.jwks,
            "algorithms": list(self.algorithms),
            "issuer": self.issuer,
            "audience": list(self.audience),
            "max_lifetime": self.max_lifetime,
            "leeway": self.leeway,
            "claims": {
                "user_id": self.claims.user_id,
                "role": self.claims.role,
                "tenant_id": self.claims.tenant_id,
            },
        }
        # The secret travels in its own variable (MANIFEST_SERVE_SECRET), as before.
        return {self._ENV: json.dumps(data)}

    @classmethod
    def from_env(cls, secret: str | None, environ: Mapping[str, str] = os.environ) -> JWTSettings | None:
        raw = environ.get(cls._ENV)
        if not raw:
            return cls(secret=secret) if secret else None
        data = json.loads(raw)
        settings = cls(
            secret=secret,
            jwks=data.get("jwks"),
            algorithms=tuple(data.get("algorithms") or ()),
            issuer=data.get("issuer"),
            audience=tuple(data.get("audience") or ()),
            max_lifetime=int(data.get("max_lifetime", DEFAULT_MAX_LIFETIME)),
            leeway=int(data.get("leeway", DEFAULT_LEEWAY)),
            claims=ClaimMap(**data.get("claims", {})),
        )
        return settings if settings.secret or settings.jwks else None


class JWKSSource:
    """A JSON Web Key Set from a file or an ``http(s)://`` URL, cached and re-read on rotation.

    A token whose ``kid`` is unknown triggers one re-read (at most every ``MIN_REFRESH_SECONDS``):
    that is how a new signing key is picked up without a restart. A file is also re-read whenever
    its modification time changes.
    """

    def __init__(self, location: str, *, timeout: float = 5.0) -> None:
        self.location = location
        self.is_url = location.startswith(("http://", "https://"))
        self.timeout = timeout
        self._lock = threading.Lock()
        self._keys: dict[str | None, Any] = {}
        self._loaded_at = -math.inf
        self._mtime: float | None = None
        if not self.is_url:
            self._load()  # a bad file is a startup error, not a 401 per request

    def _read(self) -> Any:
        if self.is_url:
            request = urllib.request.Request(self.location, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read(1_048_576))
        path = Path(self.location)
        self._mtime = path.stat().st_mtime
        return json.loads(path.read_text(encoding="utf-8"))

    def _load(self) -> None:
        try:
            data = self._read()
            keyset = jwt.PyJWKSet.from_dict(data)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise JWTConfigError(f"cannot read the JWKS from {self.location}: {exc}") from None
        keys: dict[str | None, Any] = {key.key_id: key for key in keyset.keys}
        if len(keyset.keys) == 1:
            keys.setdefault(None, keyset.keys[0])  # a lone key also serves tokens without a kid
        self._keys = keys
        self._loaded_at = time.monotonic()

    def _file_changed(self) -> bool:
        try:
            return Path(self.location).stat().st_mtime != self._mtime
        except OSError:
            return False

    def needs_fetch(self, kid: str | None) -> bool:
        """Whether finding ``kid`` would read the network (callers then do it off the event loop)."""
        if not self.is_url:
            return False
        age = time.monotonic() - self._loaded_at
        return age > MAX_KEYSET_AGE_SECONDS or (kid not in self._keys and age > MIN_REFRESH_SECONDS)

    def _should_reload(self, kid: str | None) -> bool:
        if not self.is_url:
            return self._file_changed()
        return self.needs_fetch(kid)

    def key(self, kid: str | None) -> Any:
        with self._lock:
            if self._should_reload(kid):
                try:
                    self._load()
                except JWTConfigError as exc:
                    # Keep serving with the keys we have; the identity provider may be back soon.
                    log.warning("%s", exc.message)
                    self._loaded_at = time.monotonic()
            key = self._keys.get(kid)
        if key is None:
            raise _unauthenticated("Unknown signing key")
        return key


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    if name in claims:
        value = claims[name]
    else:
        value = claims
        for part in name.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def _number(value: Any) -> float | None:
    """A NumericDate (RFC 7519): an int or a finite float; a bool, string or NaN is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class JWTVerifier:
    """Checks a bearer token and returns the context it grants (see the module docstring)."""

    def __init__(self, settings: JWTSettings) -> None:
        self.settings = settings
        self.algorithms = settings.allowed_algorithms()
        if not self.algorithms:
            raise JWTConfigError("JWT auth needs a secret (HS256) or a JWKS file/URL (RS256, ES256)")
        unknown = [a for a in self.algorithms if a not in HMAC_ALGORITHMS + ASYMMETRIC_ALGORITHMS]
        if unknown:
            raise JWTConfigError(f"unsupported JWT algorithm(s): {', '.join(unknown)}")
        if any(a in HMAC_ALGORITHMS for a in self.algorithms) and not settings.secret:
            raise JWTConfigError("an HS* algorithm needs a secret (--secret)")
        if any(a in ASYMMETRIC_ALGORITHMS for a in self.algorithms):
            if not settings.jwks:
                raise JWTConfigError("an asymmetric algorithm needs a JWKS file or URL (--jwt-jwks)")
            from ..extras import require_extra

            require_extra("cryptography", "http")  # PyJWT's RSA/EC support
        if settings.max_lifetime <= 0:
            raise JWTConfigError("the maximum token lifetime must be positive")
        if settings.secret and len(settings.secret.encode()) < 32:
            log.warning("the bearer-token secret is shorter than 32 bytes (RFC 7518 section 3.2)")
        self.jwks = JWKSSource(settings.jwks) if settings.jwks else None

    def needs_fetch(self, token: str) -> bool:
        """Whether ``verify(token)`` would block on the network (a JWKS URL to (re)read)."""
        if self.jwks is None or not self.jwks.is_url:
            return False
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return False
        return self.jwks.needs_fetch(kid if isinstance(kid, str) else None)

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise _unauthenticated()
        claims = self._decode(token)
        self._check_times(claims, time.time() if now is None else now)
        return self._context(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self.algorithms:
                raise _unauthenticated("Token algorithm not accepted")
            if algorithm in HMAC_ALGORITHMS:
                key: Any = settings.secret
            else:
                assert self.jwks is not None
                kid = header.get("kid")
                # the cryptography key itself: PyJWT before 2.9 takes no PyJWK in decode()
                key = self.jwks.key(kid if isinstance(kid, str) else None).key
            with warnings.catch_warnings():
                # a short secret was reported once at start-up, not on every request
                warnings.simplefilter("ignore")
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=list(settings.audience) or None,
                    issuer=settings.issuer,
                    # times are checked below, strictly (PyJWT accepts "exp": "123" or 1e30)
                    options={
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": bool(settings.audience),
                        "verify_iss": settings.issuer is not None,
                    },
                )
        except ProblemError:
            raise
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("Token expired") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError, jwt.MissingRequiredClaimError) as exc:
            raise _unauthenticated(f"Token refused: {exc}") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, UnicodeError):
            raise _unauthenticated() from None
        if not isinstance(claims, dict):
            raise _unauthenticated()
        return claims

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        leeway = self.settings.leeway
        exp = _number(claims.get("exp"))
        if exp is None:
            raise _unauthenticated("Token has no valid exp")
        if exp <= now - leeway:
            raise _unauthenticated("Token expired")
        # A token must not outlive the server's limit, however far its issuer set exp.
        limit = self.settings.max_lifetime
        if exp > now + limit + leeway:
            raise _unauthenticated("Token lifetime exceeds the server's maximum")
        if "iat" in claims:
            iat = _number(claims["iat"])
            if iat is None or iat > now + leeway or exp - iat > limit:
                raise _unauthenticated("Token has an invalid iat")
        if "nbf" in claims:
            nbf = _number(claims["nbf"])
            if nbf is None or nbf > now + leeway:
                raise _unauthenticated("Token not valid yet")

    def _context(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        names = self.settings.claims
        user_id = _claim(claims, names.user_id)
        if not isinstance(user_id, str) or not user_id:
            raise _unauthenticated("Token has no subject")
        user: dict[str, Any] = {"id": user_id}
        role = _claim(claims, names.role)
        if isinstance(role, str):
            user["role"] = role
        context: dict[str, Any] = {"user": user}
        tenant = _claim(claims, names.tenant_id)
        if isinstance(tenant, str):
            context["tenantId"] = tenant
        return context


def sign_hs256(secret: str, claims: Mapping[str, Any]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT's short-key warning: the verifier logs it once
        return jwt.encode(dict(claims), secret, algorithm="HS256")
