"""Property-based, with schemathesis: the server matches its own /openapi.json.

The app authenticates with API keys (as ``manifest serve --api-keys`` does) and schemathesis runs
every phase (examples, coverage, fuzzing, then stateful sequences linking creates to reads and
commands) with every check: no 5xx, status codes, content types, response schemas and headers as
documented, schema-valid requests accepted (a 422 is a business rule refusing, also documented),
schema-violating ones rejected, 401 without a credential, 405 with an ``Allow`` header for a
method a path does not declare. ``GET /events`` is an endless stream, so it is checked apart.

Examples per operation: ``MANIFEST_SCHEMATHESIS_EXAMPLES`` (default 25; about a minute). A longer
run (docs/http.md, "Fuzzing the API")::

    MANIFEST_SCHEMATHESIS_EXAMPLES=500 .venv/bin/python -m pytest -q tests/http/test_schemathesis.py
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from httpkit import KITCHEN, MODELS, LiveServer
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from manifest_lang.http.app import create_app

KEY = "chef-key"
KEYS = {KEY: {"user": {"id": "chef-1", "role": "chef"}, "tenantId": "t-a"}}
AUTH = {"X-API-Key": KEY}
EXAMPLES = int(os.environ.get("MANIFEST_SCHEMATHESIS_EXAMPLES", "25"))

CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {name: {"enabled": True} for name in ("examples", "coverage", "fuzzing", "stateful")},
        "checks": {
            # a valid request may still be refused by the model (guard, constraint): 422, documented
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            },
        },
    }
)

app = create_app(KITCHEN, api_keys=KEYS)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG).exclude(path="/events")
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@schema.parametrize()
@SETTINGS
def test_every_operation_matches_the_document(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH)


def _validator() -> Any:
    def validate(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH)

    return validate


# The other test models (dates and times, read policies and masking, allocating commands), with
# fewer examples each: the same checks over other IR shapes.
for _name in ("pantry", "clinic", "desk"):
    _schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(MODELS / f"{_name}.manifest", api_keys=KEYS), config=CONFIG
    ).exclude(path="/events")
    _settings = settings(SETTINGS, max_examples=max(5, EXAMPLES // 3))
    globals()[f"test_{_name}_matches_the_document"] = _schema.parametrize()(_settings(_validator()))


class Sequences(schema.as_state_machine()):  # type: ignore[misc]
    """Each scenario runs on a fresh app (empty store, fresh rate limits), so a replayed scenario
    sees the same answers and Hypothesis can shrink it."""

    def setup(self) -> None:
        self.app = create_app(KITCHEN, api_keys=KEYS)

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
        return {"headers": AUTH, "app": self.app}


TestSequences = Sequences.TestCase
TestSequences.settings = settings(
    max_examples=max(5, EXAMPLES // 2),
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_the_document_lists_every_route() -> None:
    document = schema.raw_schema
    paths = document["paths"]
    for path in ("/events", "/trace/{correlationId}", "/healthz", "/docs", "/openapi.json"):
        assert "get" in paths[path], path
    trace = paths["/trace/{correlationId}"]["get"]["responses"]["200"]["content"]
    assert set(trace) == {"application/json", "text/html"}
    assert set(paths["/events"]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}
    assert document["security"] == [{"apiKey": []}, {"bearer": []}]  # keys configured: required
    anonymous = create_app(KITCHEN).routes  # built without keys: the document says "or nothing"
    assert anonymous


def test_the_event_stream_is_as_documented() -> None:
    with LiveServer(create_app(KITCHEN, api_keys=KEYS)) as server:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            anonymous = client.get("/events")
            assert anonymous.status_code == 401
            assert anonymous.headers["content-type"].startswith("application/problem+json")
            unknown = client.get("/events?entity=NoSuchEntity", headers=AUTH)
            assert unknown.status_code == 404 and unknown.json()["code"] == "UNKNOWN_ENTITY"
            with client.stream("GET", "/events?entity=InventoryItem", headers=AUTH) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
            refused = client.post("/events", headers=AUTH)
            assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/InventoryItem", "GET, HEAD, POST"),
        ("PUT", "/InventoryItem/some-id", "GET, HEAD"),
        ("GET", "/InventoryItem/commands/create", "POST"),
        ("GET", "/InventoryItem/x/commands/reserve", "POST"),
        ("GET", "/commands/ping", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("OPTIONS", "/Note", "GET, HEAD, POST"),
    ],
)
def test_an_undeclared_method_is_405_with_allow(method: str, path: str, allow: str) -> None:
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        answer = client.request(method, path, headers=AUTH)
    assert answer.status_code == 405 and answer.headers["allow"] == allow
    assert answer.json()["code"] == "METHOD_NOT_ALLOWED"
