"""Build hook: compiles ``src/manifest_lang/runtime/_untrack.c`` (see that file for why).

The result is the top-level module ``_manifest_untrack``, in regular and editable wheels alike
(an editable install imports the package from ``src/``, where no compiled file is ever written).
It is optional: when it cannot be compiled (no C compiler, no Python headers) the build says so
and goes on, and the package works the same, only its in-memory idempotency store then costs
more garbage-collection time.
"""

from __future__ import annotations

import shutil
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "_manifest_untrack"
SOURCE = "src/manifest_lang/runtime/_untrack.c"


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
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
