"""Standard JWT bearer tokens (PyJWT): HS256, RS256/ES256 with a JWKS file or URL, rotation by kid,
iss/aud, a required and bounded exp, claim mapping; malformed tokens are 401, never 500."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpkit import KITCHEN
from jwt.algorithms import RSAAlgorithm
from starlette.testclient import TestClient

from manifest_lang.http.app import create_app
from manifest_lang.http.auth import KeyOrTokenAuth, sign_token, verify_token
from manifest_lang.http.jwt_auth import ClaimMap, JWTConfigError, JWTSettings, JWTVerifier
from manifest_lang.http.problems import ProblemError

ISSUER = "https://idp.example.test/"
AUDIENCE = "manifest-kitchen"
SECRET = "a-secret-that-is-at-least-32-bytes-long"


def _rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(private_key: Any, kid: str) -> dict[str, Any]:
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    else:
        # Written out: PyJWT 2.8's to_jwk drops leading zero bytes of a coordinate (1 key in 128),
        # which no identity provider does and which its own from_jwk then refuses.
        numbers = private_key.public_key().public_numbers()
        size = (private_key.curve.key_size + 7) // 8
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(size, "big")),
            "y": _b64(numbers.y.to_bytes(size, "big")),
        }
    jwk.update(kid=kid, use="sig")
    return jwk


def _write_jwks(path: Path, *keys: tuple[Any, str]) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(json.dumps({"keys": [_jwk(key, kid) for key, kid in keys]}))
    # a rewrite within the file system's timestamp granularity must still look changed
    os.utime(path, ns=(before + 10**9, before + 10**9))


def _token(key: Any, kid: str | None, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "maria", "role": "chef", "tenantId": "kitchen-1", "iss": ISSUER, "aud": AUDIENCE}
    body.update(iat=now, exp=now + 600)
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid else None
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"rsa1": _rsa(), "rsa2": _rsa(), "ec1": ec.generate_private_key(ec.SECP256R1())}


@pytest.fixture
def jwks_file(tmp_path: Path, keys: dict[str, Any]) -> Path:
    path = tmp_path / "jwks.json"
    _write_jwks(path, (keys["rsa1"], "rsa1"), (keys["ec1"], "ec1"))
    return path


def _client(settings: JWTSettings, **kwargs: Any) -> TestClient:
    auth = KeyOrTokenAuth(jwt=settings, **kwargs)
    return TestClient(create_app(KITCHEN, auth=auth), raise_server_exceptions=False)


def _status(client: TestClient, token: str) -> int:
    return client.get("/InventoryItem", headers={"Authorization": f"Bearer {token}"}).status_code


def test_rs256_and_es256_tokens_from_a_jwks_file(jwks_file: Path, keys: dict[str, Any]) -> None:
    settings = JWTSettings(
        jwks=str(jwks_file), issuer=ISSUER, audience=(AUDIENCE,), algorithms=("RS256", "ES256")
    )
    with _client(settings) as client:
        token = _token(keys["rsa1"], "rsa1")
        created = client.post(
            "/InventoryItem",
            json={"name": "Flour", "quantityOnHand": 5, "parLevel": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        # the tenantId claim became the caller's tenant: another tenant's token does not see the row
        other = _token(keys["rsa1"], "rsa1", tenantId="kitchen-2")
        listed = client.get("/InventoryItem", headers={"Authorization": f"Bearer {other}"})
        assert listed.status_code == 200 and listed.json()["items"] == []
        mine = client.get("/InventoryItem", headers={"Authorization": f"Bearer {token}"})
        assert [row["name"] for row in mine.json()["items"]] == ["Flour"]
        assert _status(client, _token(keys["ec1"], "ec1", "ES256")) == 200
        refused = {
            "expired": _token(keys["rsa1"], "rsa1", iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
            "wrong audience": _token(keys["rsa1"], "rsa1", aud="someone-else"),
            "no audience": _token(keys["rsa1"], "rsa1", aud=None),
            "wrong issuer": _token(keys["rsa1"], "rsa1", iss="https://evil.example/"),
            "unknown key": _token(keys["rsa2"], "rsa2"),
            "signed by another key under a known kid": _token(keys["rsa2"], "rsa1"),
            "no exp": _token(keys["rsa1"], "rsa1", exp=None),
            "string exp": _token(keys["rsa1"], "rsa1", exp=str(int(time.time()) + 60)),
            "no subject": _token(keys["rsa1"], "rsa1", sub=None),
        }
        for reason, bad in refused.items():
            response = client.get("/InventoryItem", headers={"Authorization": f"Bearer {bad}"})
            assert response.status_code == 401, reason
            assert response.headers["content-type"].startswith("application/problem+json"), reason
            assert response.headers["www-authenticate"].startswith("Bearer"), reason


def test_key_rotation_by_kid(jwks_file: Path, keys: dict[str, Any]) -> None:
    settings = JWTSettings(jwks=str(jwks_file), issuer=ISSUER, audience=(AUDIENCE,))
    with _client(settings) as client:
        assert _status(client, _token(keys["rsa1"], "rsa1")) == 200
        assert _status(client, _token(keys["rsa2"], "rsa2")) == 401
        # the identity provider publishes a new key and retires the old one
        _write_jwks(jwks_file, (keys["rsa2"], "rsa2"))
        assert _status(client, _token(keys["rsa2"], "rsa2")) == 200
        assert _status(client, _token(keys["rsa1"], "rsa1")) == 401


@pytest.fixture
def jwks_server(keys: dict[str, Any]) -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []
    body = json.dumps({"keys": [_jwk(keys["rsa1"], "rsa1")]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", hits
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_url_is_fetched_off_the_loop_and_cached(
    jwks_server: tuple[str, list[int]], keys: dict[str, Any]
) -> None:
    url, hits = jwks_server
    with _client(JWTSettings(jwks=url, audience=(AUDIENCE,))) as client:
        assert _status(client, _token(keys["rsa1"], "rsa1")) == 200
        assert _status(client, _token(keys["rsa1"], "rsa1")) == 200
        # random kids must not turn into one JWKS request each
        for n in range(5):
            assert _status(client, _token(keys["rsa2"], f"random-{n}")) == 401
    assert len(hits) == 1


def test_hs256_with_a_secret_and_the_server_maximum_lifetime() -> None:
    now = 1_000_000.0
    token = sign_token(SECRET, "u1", role="chef", tenant_id="t1", now=now, ttl_seconds=60)
    assert verify_token(SECRET, token, now=now + 30) == {
        "user": {"id": "u1", "role": "chef"},
        "tenantId": "t1",
    }
    verifier = JWTVerifier(JWTSettings(secret=SECRET, max_lifetime=3600))
    too_long = sign_token(SECRET, "u1", now=now, ttl_seconds=10 * 365 * 86400)
    for bad, at in ((token, now + 120), (too_long, now), (token[:-2] + "xx", now)):
        with pytest.raises(ProblemError) as info:
            verifier.verify(bad, now=at)
        assert info.value.problem.status == 401
    # exp far away without iat: still refused
    forever = jwt.encode({"sub": "u1", "exp": 1e30}, SECRET, algorithm="HS256")
    with pytest.raises(ProblemError):
        verifier.verify(forever)


@pytest.mark.parametrize(
    "exp",
    ["9999999999", float("nan"), float("inf"), True, None, [1], {"a": 1}],
    ids=["string", "nan", "inf", "bool", "null", "list", "object"],
)
def test_an_invalid_exp_never_means_forever(exp: Any) -> None:
    """Issue 12 item 13: a token without a valid NumericDate exp is refused."""
    header = {"alg": "HS256", "typ": "JWT"}
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    # built by hand: json.dumps writes NaN/Infinity, which PyJWT's encoder refuses to
    signing_input = (
        b64(json.dumps(header).encode()) + "." + b64(json.dumps({"sub": "u", "exp": exp}).encode())
    )
    signature = b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(ProblemError) as info:
        verify_token(SECRET, f"{signing_input}.{signature}")
    assert info.value.problem.status == 401


def test_non_ascii_and_garbage_bearer_tokens_are_401_not_500() -> None:
    """Issue 12 item 5: a non-ASCII token was a 500 before authentication."""
    with TestClient(create_app(KITCHEN, secret=SECRET), raise_server_exceptions=False) as client:
        for raw in (b"Bearer \xe9.x", b"Bearer \xff\xfe.\x80", b"Bearer " + b"a" * 20000, b"Bearer a.b.c.d"):
            response = client.get("/InventoryItem", headers=[(b"authorization", raw)])
            assert response.status_code == 401, raw[:20]
            assert response.json()["code"] == "UNAUTHENTICATED"
        for query in ("access_token=%C3%A9.x", "access_token=%FF%FE", "access_token=%00x"):
            assert client.get(f"/InventoryItem?{query}").status_code in (400, 401), query
        assert _status(client, sign_token(SECRET, "maria", tenant_id="kitchen-1")) == 200


def test_algorithm_confusion_is_refused(jwks_file: Path, keys: dict[str, Any]) -> None:
    """An HS256 token 'signed' with the public key must not pass as RS256."""
    from cryptography.hazmat.primitives import serialization

    settings = JWTSettings(jwks=str(jwks_file))
    verifier = JWTVerifier(settings)
    pem = (
        keys["rsa1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    exp = int(time.time()) + 60
    signing_input = (
        b64(b'{"alg":"HS256","kid":"rsa1"}') + "." + b64(json.dumps({"sub": "x", "exp": exp}).encode())
    )
    forged = signing_input + "." + b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(ProblemError):
        verifier.verify(forged)
    unsigned = b64(b'{"alg":"none"}') + "." + b64(json.dumps({"sub": "x", "exp": exp}).encode()) + "."
    with pytest.raises(ProblemError):
        verifier.verify(unsigned)


def test_claim_mapping(jwks_file: Path, keys: dict[str, Any]) -> None:
    claims = ClaimMap.parse(
        ["user.id=email", "user.role=realm_access.roles", "tenantId=https://example.test/org"]
    )
    verifier = JWTVerifier(JWTSettings(jwks=str(jwks_file), claims=claims))
    token = _token(
        keys["rsa1"],
        "rsa1",
        email="maria@example.test",
        realm_access={"roles": ["manager", "chef"]},
        **{"https://example.test/org": "kitchen-9"},
    )
    assert verifier.verify(token) == {
        "user": {"id": "maria@example.test", "role": "manager"},
        "tenantId": "kitchen-9",
    }
    with pytest.raises(JWTConfigError):
        ClaimMap.parse(["user.name=sub"])


def test_configuration_errors_are_manifest_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    for settings in (
        JWTSettings(),
        JWTSettings(jwks=str(tmp_path / "bad.json")),
        JWTSettings(jwks=str(tmp_path / "missing.json")),
        JWTSettings(secret=SECRET, algorithms=("RS256",)),
        JWTSettings(secret=SECRET, algorithms=("none",)),
        JWTSettings(secret=SECRET, max_lifetime=0),
    ):
        with pytest.raises(JWTConfigError):
            JWTVerifier(settings)


def test_api_keys_still_work_beside_jwt(jwks_file: Path, keys: dict[str, Any]) -> None:
    settings = JWTSettings(jwks=str(jwks_file))
    api_keys = {"chef-key": {"user": {"id": "ann", "role": "chef"}, "tenantId": "kitchen-1"}}
    with _client(settings, api_keys=api_keys) as client:
        assert client.get("/InventoryItem", headers={"X-API-Key": "chef-key"}).status_code == 200
        assert _status(client, _token(keys["rsa1"], "rsa1", aud=None)) == 200
        assert client.get("/InventoryItem").status_code == 401


def test_serve_with_a_jwks_file(tmp_path: Path, jwks_file: Path, keys: dict[str, Any]) -> None:
    """``manifest serve --jwt-jwks FILE --jwt-audience A --jwt-claim ...`` end to end; bad JWT
    settings are one line and exit status 1."""
    import subprocess
    import sys

    import httpx
    from httpkit import ServeProcess

    args = ("--jwt-jwks", str(jwks_file), "--jwt-audience", AUDIENCE, "--jwt-claim", "tenantId=org")
    with ServeProcess(KITCHEN, f"sqlite:///{tmp_path / 'jwt.db'}", *args) as server:
        good = _token(keys["rsa1"], "rsa1", org="kitchen-1")
        assert (
            httpx.get(f"{server.url}/InventoryItem", headers={"Authorization": f"Bearer {good}"}).status_code
            == 200
        )
        wrong = _token(keys["rsa1"], "rsa1", aud="another-api")
        assert (
            httpx.get(f"{server.url}/InventoryItem", headers={"Authorization": f"Bearer {wrong}"}).status_code
            == 401
        )
    assert "auth API keys/tokens" in server.output()
    (tmp_path / "bad.json").write_text('{"keys": "nope"}')
    for extra in (
        ["--jwt-jwks", str(tmp_path / "bad.json")],
        ["--secret", SECRET, "--jwt-claim", "user.name=sub"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "manifest_lang", "serve", str(KITCHEN), "--db", "memory://", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
