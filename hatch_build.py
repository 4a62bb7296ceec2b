"""Build hook of the native build: compiles ``runtime/_untrack.c`` (see that file for why).

Off by default like the mypyc hook; ``scripts/install-native`` turns both on. The plain-Python
install never needs a C compiler: the engine works the same without the helper, only its
in-memory idempotency store then costs more garbage-collection time.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "manifest_lang.runtime._untrack"
SOURCE = "src/manifest_lang/runtime/_untrack.c"


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext

        self._work = Path(tempfile.mkdtemp(prefix="manifest-untrack-"))
        extension = Extension(EXTENSION, [str(Path(self.root) / SOURCE)])
        command = build_ext(Distribution({"name": "manifest-lang-untrack", "ext_modules": [extension]}))
        command.build_lib = str(self._work / "lib")
        command.build_temp = str(self._work / "tmp")
        command.ensure_finalized()
        command.run()
        built = Path(command.get_ext_fullpath(EXTENSION))
        build_data["force_include"][str(built)] = "manifest_lang/runtime/" + built.name
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
