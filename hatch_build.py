"""Build hook: compiles ``src/manifest_lang/runtime/_untrack.c`` (see that file for why).

The result is the top-level module ``_manifest_untrack``. It is an optional accelerator, built
into editable installs and into the native wheel (``HATCH_BUILD_HOOK_ENABLE_MYPYC=true``, or
``MANIFEST_C_HELPER=1`` for a plain wheel with only the helper). A default ``python -m build``
makes the pure-Python ``py3-none-any`` wheel that installs everywhere. When the helper cannot be
compiled (no C compiler, no Python headers) the build says so and goes on, and the package works
the same, only its in-memory idempotency store then costs more garbage-collection time.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "_manifest_untrack"
SOURCE = "src/manifest_lang/runtime/_untrack.c"
_TRUE = {"1", "true", "yes", "on"}


def _wanted(version: str) -> bool:
    """Editable installs and native wheels get the helper; a default wheel stays pure Python."""
    if version == "editable":
        return True
    names = ("HATCH_BUILD_HOOK_ENABLE_MYPYC", "HATCH_BUILD_HOOKS_ENABLE", "MANIFEST_C_HELPER")
    return any(os.environ.get(name, "").lower() in _TRUE for name in names)


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or not _wanted(version):
            return
        self._work = Path(tempfile.mkdtemp(prefix="manifest-untrack-"))
        try:
            built = self._compile()
        except Exception as exc:  # noqa: BLE001 - any failure leaves a working pure-Python package
            self.app.display_warning(
                f"manifest-lang: the optional C helper {MODULE} was not built ({exc}); "
                "in-memory idempotency stores will cost more garbage-collection time"
            )
            return
        target = MODULE + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        if version == "editable":
            build_data["force_include_editable"][str(built)] = target
            return
        build_data["force_include"][str(built)] = target
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def _compile(self) -> Path:
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext

        extension = Extension(MODULE, [str(Path(self.root) / SOURCE)])
        command = build_ext(Distribution({"name": "manifest-lang-untrack", "ext_modules": [extension]}))
        command.build_lib = str(self._work / "lib")
        command.build_temp = str(self._work / "tmp")
        command.ensure_finalized()
        command.run()
        return Path(command.get_ext_fullpath(MODULE))

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
