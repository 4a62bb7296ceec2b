"""A missing optional dependency is one line naming the extra to install, from the Python API and
the CLI. Each case blocks a module in a fresh interpreter (``sys.modules[name] = None`` makes its
import fail exactly as if it were not installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples" / "catering" / "catering.manifest"


def _run(blocked: list[str], code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


API_CASES = [
    ("psycopg", "from manifest_lang import PostgresStore", "postgres"),
    ("psycopg_pool", "from manifest_lang import PostgresStore", "postgres"),
    (
        "psycopg",
        "from manifest_lang import open_store; open_store('postgresql://u@127.0.0.1/db')",
        "postgres",
    ),
    ("redis", "from manifest_lang import RedisIdempotencyStore", "redis"),
    (
        "redis",
        "from manifest_lang.outbox.publishers import open_publisher; open_publisher('redis://h')",
        "redis",
    ),
    (
        "nats",
        "from manifest_lang.outbox.publishers import open_publisher; open_publisher('nats://h')",
        "nats",
    ),
    ("starlette", "from manifest_lang import create_app", "http"),
    ("fastapi", "from manifest_lang.http.fastapi_router import manifest_router", "fastapi"),
    (
        "opentelemetry.sdk",
        "from manifest_lang.http.operations import configure_tracing; configure_tracing()",
        "otel",
    ),
    (
        "opentelemetry.exporter",
        "from manifest_lang.http.operations import configure_tracing; configure_tracing('otlp')",
        "otel",
    ),
    ("anyio", "from manifest_lang import create_app", "http"),
    ("jsonschema", "from manifest_lang import create_app", "http"),
    ("jwt", "from manifest_lang.http.auth import sign_token; sign_token('k' * 32, 'u')", "http"),
    (
        "cryptography",
        "from manifest_lang.http.jwt_auth import *; JWTVerifier(JWTSettings(jwks='https://idp.invalid/k'))",
        "http",
    ),
    (
        "opentelemetry",
        "from manifest_lang.workflows.telemetry import OpenTelemetryHook; OpenTelemetryHook()",
        "otel",
    ),
]


@pytest.mark.parametrize(("blocked", "code", "extra"), API_CASES, ids=[f"{c[0]}-{c[2]}" for c in API_CASES])
def test_python_api_names_the_extra(blocked: str, code: str, extra: str, tmp_path: Path) -> None:
    checked = f"""
    from manifest_lang.errors import ManifestError, MissingExtraError
    try:
        {code}
    except MissingExtraError as exc:
        assert isinstance(exc, ManifestError) and isinstance(exc, ImportError)
        assert exc.extra == {extra!r}, exc.extra
        print(exc.message)
    else:
        raise SystemExit("no error")
    """
    result = _run([blocked], checked, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"pip install 'manifest-lang[{extra}]'" in result.stdout
    assert result.stdout.count("\n") == 1


# --no-check: the model checker's own note about the example's warnings is another line
CLI_CASES = [
    ("uvicorn", ["serve", str(MODEL), "--no-check"], "http"),
    ("starlette", ["serve", str(MODEL), "--no-check"], "http"),
    ("psycopg", ["serve", str(MODEL), "--no-check", "--db", "postgresql://u@127.0.0.1:1/db"], "postgres"),
    ("psycopg", ["outbox", "--db", "postgresql://u@127.0.0.1:1/db"], "postgres"),
    ("nats", ["relay", "--db", "sqlite:///relay.db", "--to", "nats://127.0.0.1:1", "--once"], "nats"),
]


@pytest.mark.parametrize(
    ("blocked", "args", "extra"), CLI_CASES, ids=[f"{c[0]}-{c[1][0]}" for c in CLI_CASES]
)
def test_cli_names_the_extra_in_one_line(blocked: str, args: list[str], extra: str, tmp_path: Path) -> None:
    code = f"""
    sys.argv = ["manifest", *{args!r}]
    from manifest_lang.cli import main
    main()
    """
    result = _run([blocked], code, tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pip install 'manifest-lang[{extra}]'" in lines[0]
