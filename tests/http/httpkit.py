"""Helpers shared by the HTTP tests: caller headers, live servers, the browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

MODELS = Path(__file__).parent / "models"
KITCHEN = MODELS / "kitchen.manifest"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def who(user: str = "chef-1", role: str = "chef", tenant: str | None = "t-a") -> dict[str, str]:
    """Headers for ``auth="headers"`` apps."""
    headers = {"X-User-Id": user, "X-User-Role": role}
    if tenant is not None:
        headers["X-Tenant-Id"] = tenant
    return headers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving an app in a background thread on a free loopback port."""

    def __init__(self, app: Any, http: Any = "auto") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", http=http
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until_up(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_until_up(url: str, timeout: float = 20.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up")


class ServeProcess:
    """``manifest serve`` in a subprocess (the real CLI, real uvicorn)."""

    def __init__(self, model: Path, db: str | None, *extra: str, cwd: Path | None = None) -> None:
        """``db=None`` leaves ``--db`` out (the CLI's default, ``./manifest.db`` in ``cwd``)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        db_args = ["--db", db] if db is not None else []
        self.args = [sys.executable, "-m", "manifest_lang", "serve", str(model), *db_args]
        self.args += ["--port", str(self.port), *extra]
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServeProcess:
        # A file, not a pipe: nobody reads while the server runs, and a full pipe would block it.
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            self.args, stdout=self.log, stderr=subprocess.STDOUT, text=True, cwd=self.cwd
        )
        try:
            wait_until_up(self.url, proc=self.proc)
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def output(self) -> str:
        """What the server printed, once its startup line is there: the announcement comes from a
        thread that waits for the port, so a fast client can get its answers before it is printed."""
        deadline = time.monotonic() + 10.0
        while True:
            self.log.seek(0)
            text = self.log.read()
            if "manifest: serving" in text or time.monotonic() > deadline:
                return text
            if self.proc is not None and self.proc.poll() is not None:
                return text
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if IN_CI:
        pytest.fail("chromium is not installed (CI=true: it must be)")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")
