"""The trace page in a real browser: ``manifest serve`` in a subprocess, headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
from httpkit import KITCHEN, ServeProcess, chromium_path

from manifest_lang.http.auth import sign_token

pytestmark = pytest.mark.browser
SECRET = "browser-test-secret"


def _dump_dom(chromium: str, url: str, profile: Path) -> str:
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_trace_page_renders_the_causal_tree(tmp_path: Path) -> None:
    chromium = chromium_path()
    token = sign_token(SECRET, "mgr-1", role="manager", tenant_id="t-a")
    auth = {"Authorization": f"Bearer {token}"}
    with ServeProcess(KITCHEN, f"sqlite:///{tmp_path / 'trace.db'}", "--secret", SECRET) as server:
        flow = {**auth, "X-Correlation-Id": "party-12"}
        created = httpx.post(
            f"{server.url}/InventoryItem",
            json={"name": "Cream", "quantityOnHand": 5, "parLevel": 4},
            headers={**flow, "X-Causation-Id": "menu-plan"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        item = created.json()["instance"]["id"]
        override = {"constraintCode": "enoughStock", "reason": "wedding", "authorizedBy": "mgr-1"}
        reserved = httpx.post(
            f"{server.url}/InventoryItem/{item}/commands/reserve",
            json={"input": {"quantity": 9, "eventId": "w1"}, "overrideRequests": [override]},
            headers={**flow, "X-Causation-Id": "ItemCreated"},
            timeout=10,
        )
        assert reserved.status_code == 200, reserved.text
        dom = _dump_dom(chromium, f"{server.url}/trace/party-12?access_token={token}", tmp_path / "profile")
        denied = _dump_dom(chromium, f"{server.url}/trace/party-12", tmp_path / "profile2")
    assert '<code id="correlation-id">party-12</code>' in dom
    assert re.search(r'id="command-count">2<', dom) and "<svg" in dom
    kinds = re.findall(r'<g class="node node-(\w+)"', dom)
    assert kinds == ["cause", "command", "event", "command", "override", "event", "warning"]
    assert "enoughStock by mgr-1: wedding" in dom
    assert "Reservation leaves stock below par" in dom
    assert "UNAUTHENTICATED" in denied  # no credential, no trace
