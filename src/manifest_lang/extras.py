"""Optional dependencies and the extra that installs each one.

Every module that needs an optional library calls ``require_extra`` before importing it, so a
missing library is one line naming the extra to install (``MissingExtraError``, a
``ManifestError`` and an ``ImportError``), from the Python API and the CLI alike, instead of a
``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

#: extra -> what it is for (the first words of the message)
EXTRAS: dict[str, str] = {
    "http": "the HTTP API",
    "postgres": "PostgreSQL storage",
    "redis": "Redis",
    "nats": "NATS JetStream",
    "otel": "OpenTelemetry tracing",
    "metrics": "Prometheus metrics",
    "fastapi": "the FastAPI router",
}


def install_hint(extra: str) -> str:
    return f"pip install 'manifest-lang[{extra}]'"


def missing_extra(module: str, extra: str) -> MissingExtraError:
    feature = EXTRAS.get(extra, extra)
    return MissingExtraError(
        f"{feature} needs the optional module '{module}', which is not installed: {install_hint(extra)}",
        extra=extra,
        module=module,
    )


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # Only the module itself (or its own package) missing counts; a broken install inside it
        # (an ImportError from deeper down) is reported by the same line, naming what failed.
        raise missing_extra(module, extra) from exc
