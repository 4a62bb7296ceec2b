"""The reference runtime: installed by the repo (``tools/reference``, ``npm ci`` on first use) and
run as ONE long-lived node process per fuzz run, one JSON line per case each way."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from manifest_lang.expr.values import loads_json

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
PACKAGE_DIR = REFERENCE_DIR / "node_modules" / "@angriff36" / "manifest"
DRIVER = Path(__file__).resolve().parent / "driver.mjs"


class ReferenceUnavailable(RuntimeError):
    """node or npm is missing, or ``npm ci`` failed: the reason is the message."""


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise ReferenceUnavailable("node is not installed: the reference runtime cannot run")
    return node


def ensure_installed() -> Path:
    """``npm ci`` into tools/reference/node_modules unless the pinned version is already there."""
    node_binary()
    pinned = json.loads((REFERENCE_DIR / "package.json").read_text())["dependencies"]["@angriff36/manifest"]
    installed = PACKAGE_DIR / "package.json"
    if installed.exists() and json.loads(installed.read_text()).get("version") == pinned:
        return PACKAGE_DIR
    npm = shutil.which("npm")
    if npm is None:
        raise ReferenceUnavailable("npm is not installed: cannot install the reference package")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=REFERENCE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 or not installed.exists():
        raise ReferenceUnavailable(f"npm ci in tools/reference failed: {proc.stderr.strip()[-500:]}")
    return PACKAGE_DIR


class Reference:
    """A node process running driver.mjs; ``run(case)`` answers one case."""

    def __init__(self) -> None:
        ensure_installed()
        self.proc = subprocess.Popen(
            [node_binary(), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )

    def run(self, case: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference process ended (exit code {self.proc.poll()})")
        # JavaScript writes 2**64 as 18446744073709552000: read numbers as the doubles they are.
        answer: dict[str, Any] = loads_json(line)
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
