"""The example models shipped in the wheel, and copying one out (``manifest init --example``).

A wheel carries them as package data under ``manifest_lang/examples/`` (pyproject's
``force-include``); a source checkout reads them from the repository's ``examples/`` folder, so
both give the same files.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from .errors import ManifestError

#: example name -> the files it is made of (the models and the API keys of its walk-through)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "catering": (
        "catering.manifest",
        "inventory.manifest",
        "preptask.manifest",
        "station.manifest",
        "keys.json",
    ),
}


class ExampleError(ManifestError):
    code = "EXAMPLE_ERROR"


def _source(name: str) -> Traversable:
    packaged = resources.files("manifest_lang").joinpath("examples", name)
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "examples" / name
    if checkout.is_dir():
        return checkout
    raise ExampleError(f"the example {name!r} is not installed with this package")


def example_files(name: str) -> dict[str, bytes]:
    """File name -> content of the example ``name``."""
    if name not in EXAMPLES:
        raise ExampleError(f"unknown example {name!r}; choose one of: {', '.join(sorted(EXAMPLES))}")
    source = _source(name)
    return {file: source.joinpath(file).read_bytes() for file in EXAMPLES[name]}


def copy_example(name: str, destination: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write the example's files into ``destination`` (created if needed); the paths written.

    Existing files are never replaced unless ``overwrite``: nothing is written then.
    """
    files = example_files(name)
    target = Path(destination)
    clashes = [f for f in files if (target / f).exists()]
    if clashes and not overwrite:
        raise ExampleError(f"{target}: {', '.join(clashes)} already exist(s); nothing written")
    try:
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for file, content in files.items():
            (target / file).write_bytes(content)
            written.append(target / file)
    except OSError as exc:
        raise ExampleError(f"cannot write the example into {target}: {exc.strerror or exc}") from None
    return written
