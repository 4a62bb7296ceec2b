"""Shared fixtures: where the conformance data is, and access to the real servers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MANIFEST_SHARED_DIR", REPO.parent / "shared"))
CONFORMANCE_DIR = SHARED / "conformance"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str, port: int, host: str = "127.0.0.1") -> None:
    """Skip (naming the server) when it is down; under CI a missing server is a failure."""
    if _port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the server must be up)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not CONFORMANCE_DIR.is_dir():
        if IN_CI:
            pytest.fail(f"conformance data missing at {CONFORMANCE_DIR}")
        pytest.skip(f"conformance data missing at {CONFORMANCE_DIR}")
    return CONFORMANCE_DIR


@pytest.fixture
def postgres_dsn() -> str:
    require_server("PostgreSQL", 5432)
    return os.environ.get("MANIFEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", 6379)
    return os.environ.get("MANIFEST_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def nats_url() -> str:
    require_server("NATS", 4222)
    return os.environ.get("MANIFEST_TEST_NATS", "nats://127.0.0.1:4222")
