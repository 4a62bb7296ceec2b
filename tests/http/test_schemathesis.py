"""Property-based: requests generated from our own /openapi.json never get a 5xx."""

from __future__ import annotations

import schemathesis
from httpkit import KITCHEN, who
from hypothesis import HealthCheck, settings

from manifest_lang.http.app import create_app

app = create_app(KITCHEN, auth="headers")
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers=who())
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or [""]
        assert str(content_type[0]).startswith("application/problem+json"), content_type
