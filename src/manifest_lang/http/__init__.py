"""HTTP API for Manifest models: ``create_app`` (ASGI), ``manifest serve`` and ``manifest trace``."""
