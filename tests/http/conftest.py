"""Fixtures for the HTTP tests: in-process clients of the kitchen model."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from httpkit import KITCHEN
from starlette.testclient import TestClient

from manifest_lang.http.app import create_app


@pytest.fixture
def kitchen_client() -> Iterator[TestClient]:
    with TestClient(create_app(KITCHEN, auth="headers"), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(model: Any = KITCHEN, **kwargs: Any) -> TestClient:
        kwargs.setdefault("auth", "headers")
        client = TestClient(create_app(model, **kwargs), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """Each store in turn: None (memory), a fresh SQLite file, a fresh PostgreSQL schema."""
    if request.param == "memory":
        yield None
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'http.db'}"
    else:
        import psycopg

        dsn = request.getfixturevalue("postgres_dsn")
        schema = f"http_{uuid.uuid4().hex[:8]}"
        try:
            yield f"{dsn}?schema={schema}"
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
