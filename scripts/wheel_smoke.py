"""Smoke test of an installed wheel, run from a directory outside the source tree.

Uses only the installed package and the standard library: ``manifest-lang init --example``,
``manifest compile``, ``manifest run``, ``manifest serve`` and one authenticated request.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def sh(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def main() -> None:
    import manifest_lang

    here = Path.cwd().resolve()
    assert here in Path(manifest_lang.__file__).resolve().parents, manifest_lang.__file__
    print(f"manifest-lang {manifest_lang.__version__} from {Path(manifest_lang.__file__).parent}", flush=True)
    assert shutil.which("manifest", path=str(BIN)) and shutil.which("manifest-lang", path=str(BIN))

    sh(str(BIN / "manifest-lang"), "init", "app", "--example", "catering")
    model = "app/catering.manifest"
    ir = json.loads(sh(str(BIN / "manifest"), "compile", model))
    assert {e["name"] for e in ir["entities"]} >= {"InventoryItem", "PrepTask"}, "compile"
    context = json.dumps({"tenantId": "kitchen-1", "user": {"id": "maria", "role": "chef"}})
    ops = [
        {
            "op": "create",
            "entity": "InventoryItem",
            "data": {"id": "b", "tenantId": "kitchen-1", "name": "Butter", "quantityOnHand": 9},
        },
        {"op": "get", "entity": "InventoryItem", "id": "b"},
    ]
    lines = sh(
        str(BIN / "manifest"), "run", model, "--context", context, stdin="\n".join(map(json.dumps, ops))
    )
    results = [json.loads(line) for line in lines.splitlines()]
    assert all(r["ok"] for r in results) and results[1]["instance"]["quantityOnHand"] == 9, results
    print("compile + run: ok")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            str(BIN / "manifest"),
            "serve",
            model,
            "--api-keys",
            "app/keys.json",
            "--db",
            "sqlite:///app.db",
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        assert server.stderr is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([server.stderr], [], [], 1.0)
            line = server.stderr.readline() if ready else ""
            if "serving" in line:
                break
            if server.poll() is not None:
                raise SystemExit(f"manifest serve exited: {server.stderr.read()}")
        else:
            raise SystemExit("manifest serve did not start within 60 s")
        body = json.dumps({"id": "flour", "name": "Flour", "quantityOnHand": 4}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/InventoryItem",
            data=body,
            headers={"X-API-Key": "chef-key", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201, response.status
            assert json.loads(response.read())["id"] == "flour"
        print("serve + one request: ok")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
