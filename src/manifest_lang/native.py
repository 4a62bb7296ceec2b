"""Which build is running: plain Python, or the native one (the pipeline compiled by mypyc)."""

from __future__ import annotations

import importlib
from importlib.machinery import EXTENSION_SUFFIXES

#: the modules the native build compiles (pyproject.toml, ``hooks.mypyc.include``)
NATIVE_MODULES = (
    "manifest_lang.runtime.entry",
    "manifest_lang.runtime.commands",
    "manifest_lang.runtime.writerules",
    "manifest_lang.runtime.toplevel",
    "manifest_lang.runtime.execution",
    "manifest_lang.runtime.results",
    "manifest_lang.runtime.checks",
    "manifest_lang.runtime.instances",
    "manifest_lang.runtime.events",
    "manifest_lang.runtime.model",
    "manifest_lang.runtime.records",
    "manifest_lang.runtime.refusal",
    "manifest_lang.runtime.jsonvalues",
    "manifest_lang.runtime.inputs",
    "manifest_lang.expr.budget",
    "manifest_lang.expr.folding",
    "manifest_lang.expr.values",
    "manifest_lang.stores.memory",
)


def compiled_modules() -> list[str]:
    """The modules of ``NATIVE_MODULES`` that were loaded from compiled extensions."""
    out = []
    for name in NATIVE_MODULES:
        path = getattr(importlib.import_module(name), "__file__", "") or ""
        if path.endswith(tuple(EXTENSION_SUFFIXES)):
            out.append(name)
    return out


def build_name() -> str:
    """``native`` (all of them compiled), ``python`` (none) or ``mixed``."""
    compiled = len(compiled_modules())
    if compiled == len(NATIVE_MODULES):
        return "native"
    return "python" if compiled == 0 else "mixed"
