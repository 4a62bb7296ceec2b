"""Inbound webhooks over real HTTP: Stripe-signed requests built as Stripe documents them
(``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``), a bare-HMAC (GitHub
style) one and an unsigned one; bad signatures and replays are 401, duplicates the first result,
the command runs in the configured tenant."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpkit import MODELS, LiveServer, ServeProcess, who

from manifest_lang.http.app import create_app

PAYMENTS = MODELS / "payments.manifest"
SECRET = "whsec_test_5f2a9c"


def stripe_header(body: bytes, secret: str = SECRET, at: int | None = None, extra: str = "") -> str:
    """Computed here from Stripe's documentation, not with the server's own module."""
    t = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}{extra}"


def stripe_event(order: str, amount: int, event_id: str = "evt_1") -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": f"pi_{event_id}", "amount": amount, "metadata": {"orderId": order}}},
    }
    return json.dumps(event).encode()


def config(tenant: str = "acme", **stripe: Any) -> dict[str, Any]:
    return {
        "webhooks": {
            "StripePayment": {
                "tenant": tenant,
                "secret": SECRET,
                "instance": "payload.data.object.metadata.orderId",
                **stripe,
            },
            "SlackInbound": {"tenant": tenant},
            "GitHubPush": {"tenant": tenant, "scheme": "hmac"},
        }
    }


@pytest.fixture
def server(store_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("GITHUB_HOOK_SECRET", "gh-secret")
    app = create_app(PAYMENTS, store=store_url, auth="headers", webhooks=config())
    with LiveServer(app) as live:
        make = httpx.post(f"{live.url}/Order", json={"id": "ord-1"}, headers=who(tenant="acme"))
        assert make.status_code == 201, make.text
        yield live


def post_stripe(url: str, body: bytes, signature: str | bytes, key: str | None = "evt_1") -> httpx.Response:
    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{url}/webhooks/stripe", content=body, headers=headers)


def order(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/Order/ord-1", headers=who(tenant="acme"))
    assert response.status_code == 200
    return dict(response.json())


def test_a_stripe_signed_delivery_runs_once_duplicates_get_the_first_result(server: LiveServer) -> None:
    body = stripe_event("ord-1", 2000)
    first = post_stripe(server.url, body, stripe_header(body))
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["success"] is True
    assert [e["name"] for e in result["emittedEvents"]] == ["OrderPaid"]
    row = order(server.url)
    assert (row["status"], row["amount"], row["externalId"], row["updates"]) == ("paid", 2000, "pi_evt_1", 1)
    # Stripe retries the same event with a fresh timestamp: answered from the first result
    again = post_stripe(server.url, body, stripe_header(body))
    assert again.status_code == 200 and again.json() == result
    assert order(server.url)["updates"] == 1


def test_bad_signatures_and_replays_are_401_and_change_nothing(server: LiveServer) -> None:
    body = stripe_event("ord-1", 2000)
    now = int(time.time())
    refused = {
        "wrong secret": post_stripe(server.url, body, stripe_header(body, secret="whsec_other")),
        "tampered body": post_stripe(server.url, body.replace(b"2000", b"9000"), stripe_header(body)),
        "replayed (old)": post_stripe(server.url, body, stripe_header(body, at=now - 301)),
        "from the future": post_stripe(server.url, body, stripe_header(body, at=now + 400)),
        "no v1": post_stripe(server.url, body, f"t={now},v0=abc"),
        "no timestamp": post_stripe(server.url, body, "v1=" + "0" * 64),
        "garbage": post_stripe(server.url, body, "\u00e9t\u00e9,t=,v1".encode("latin-1")),
        "missing": httpx.post(
            f"{server.url}/webhooks/stripe", content=body, headers={"Idempotency-Key": "k"}
        ),
    }
    for why, response in refused.items():
        assert response.status_code == 401, why
        assert response.headers["content-type"].startswith("application/problem+json"), why
        assert response.json()["code"] == "INVALID_SIGNATURE", why
    assert "tolerance" in refused["replayed (old)"].json()["detail"]
    assert order(server.url)["updates"] == 0


def test_signature_rotation_and_unknown_elements(server: LiveServer) -> None:
    body = stripe_event("ord-1", 1500, "evt_rot")
    t = int(time.time())
    old = hmac.new(b"whsec_old", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    # several v1 values (the old secret's first) and a v0 element: Stripe says ignore the rest
    header = f"t={t},v1={old},{stripe_header(body, at=t).split(',')[1]},v0=deadbeef"
    response = post_stripe(server.url, body, header, key="evt_rot")
    assert response.status_code == 200, response.text
    assert order(server.url)["amount"] == 1500


def test_malformed_json_and_missing_idempotency_key(server: LiveServer) -> None:
    bad = b'{"data": '
    malformed = post_stripe(server.url, bad, stripe_header(bad))
    assert malformed.status_code == 400 and malformed.json()["code"] == "MALFORMED_JSON"
    body = stripe_event("ord-1", 10)
    keyless = post_stripe(server.url, body, stripe_header(body), key=None)
    assert keyless.status_code == 400 and "Idempotency-Key" in keyless.json()["detail"]
    unknown = stripe_event("ord-404", 10, "evt_x")
    missing = post_stripe(server.url, unknown, stripe_header(unknown), key="evt_x")
    assert missing.status_code == 404 and missing.json()["code"] == "INSTANCE_NOT_FOUND"
    refused = stripe_event("ord-1", 0, "evt_zero")
    guard = post_stripe(server.url, refused, stripe_header(refused), key="evt_zero")
    assert guard.status_code == 422 and guard.json()["code"] == "GUARD_FAILED"


def test_unsigned_and_bare_hmac_webhooks(server: LiveServer) -> None:
    slack = httpx.post(f"{server.url}/webhooks/slack", json={"channel": "kitchen", "text": "hello"})
    assert slack.status_code == 200, slack.text
    [event] = slack.json()["emittedEvents"]
    assert (event["name"], event["causationId"]) == ("SlackNotification", "webhook:SlackInbound")
    push = json.dumps({"head_commit": {"message": "ship it"}}).encode()
    digest = hmac.new(b"gh-secret", push, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": "d-1"}
    ok = httpx.post(f"{server.url}/webhooks/github", content=push, headers=headers)
    assert ok.status_code == 200, ok.text
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    assert httpx.post(f"{server.url}/webhooks/github", content=push, headers=headers).status_code == 401


def test_the_command_runs_in_the_configured_tenant(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    app = create_app(PAYMENTS, auth="headers", webhooks=config(tenant="globex"))
    with TestClient(app) as client:
        assert client.post("/Order", json={"id": "ord-1"}, headers=who(tenant="acme")).status_code == 201
        body = stripe_event("ord-1", 700)
        response = client.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": stripe_header(body), "Idempotency-Key": "e"},
        )
        # acme's order is invisible to a webhook mapped to globex
        assert response.status_code == 404, response.text
        assert client.get("/Order/ord-1", headers=who(tenant="acme")).json()["updates"] == 0


def test_secret_from_the_environment_and_unconfigured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    monkeypatch.delenv("GITHUB_HOOK_SECRET", raising=False)
    # the declared "context.stripeWebhookSecret" is looked up as STRIPE_WEBHOOK_SECRET
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    cfg = {
        "webhooks": {"StripePayment": {"tenant": "acme", "instance": "payload.data.object.metadata.orderId"}}
    }
    with TestClient(create_app(PAYMENTS, auth="headers", webhooks=cfg)) as client:
        client.post("/Order", json={"id": "ord-1"}, headers=who(tenant="acme"))
        body = stripe_event("ord-1", 300)
        headers = {"Stripe-Signature": stripe_header(body), "Idempotency-Key": "evt-env"}
        assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
        push = b'{"head_commit": {"message": "x"}}'
        digest = hmac.new(b"anything", push, hashlib.sha256).hexdigest()
        unconfigured = client.post(
            "/webhooks/github",
            content=push,
            headers={"X-Hub-Signature-256": digest, "X-GitHub-Delivery": "1"},
        )
        assert unconfigured.status_code == 503 and unconfigured.json()["code"] == "WEBHOOK_NOT_CONFIGURED"


def test_a_configuration_naming_an_undeclared_webhook_is_refused() -> None:
    with pytest.raises(ValueError, match="undeclared webhooks: Nope"):
        create_app(PAYMENTS, webhooks={"webhooks": {"Nope": {"tenant": "x"}}})


def test_manifest_serve_with_a_webhooks_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "webhooks.toml"
    cfg.write_text(
        '[webhooks.StripePayment]\ntenant = "acme"\nsecret_env = "MY_STRIPE_SECRET"\n'
        'instance = "payload.data.object.metadata.orderId"\n'
    )
    monkeypatch.setenv("MY_STRIPE_SECRET", SECRET)
    monkeypatch.delenv("GITHUB_HOOK_SECRET", raising=False)
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    with ServeProcess(PAYMENTS, db, "--trust-headers", "--webhooks", str(cfg)) as served:
        assert (
            httpx.post(f"{served.url}/Order", json={"id": "ord-1"}, headers=who(tenant="acme")).status_code
            == 201
        )
        body = stripe_event("ord-1", 4200)
        response = post_stripe(served.url, body, stripe_header(body))
        assert response.status_code == 200, served.output()
        assert order(served.url)["amount"] == 4200
        assert post_stripe(served.url, body, stripe_header(body, secret="nope")).status_code == 401
        # GitHubPush's secret (env.GITHUB_HOOK_SECRET) is nowhere: said at start, 503 when called
        assert "webhook GitHubPush: no secret configured for 'env.GITHUB_HOOK_SECRET'" in served.output()
