"""Fixtures for the HTTP tests: in-process clients of the kitchen model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
