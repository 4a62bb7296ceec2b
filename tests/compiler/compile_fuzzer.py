"""A mutational fuzzer of ``compile_source`` over the conformance fixtures and the examples.

Each input is a corpus model with one to four mutations stacked (token deletions, duplications,
swaps and replacements from the corpus's own vocabulary, spliced lines of another model,
truncations, raw characters, extreme numbers and hostile regular expressions). The contract
checked on every input:

- ``compile_source`` returns (never raises) and no diagnostic is an internal compiler error
  (nor "nests too deeply" for input that does not nest deeply); ``lint_source`` never raises;
- when it returns IR, the IR is plain JSON (``json.dumps(allow_nan=False)`` and ``orjson``
  accept it: no NaN/Infinity, no integer beyond 64 bits) and ``RuntimeEngine`` accepts it
  (which validates it against ``ir-v1.schema.json`` and compiles every expression).

A failure is reduced to a *kind* (exception type and the innermost frame of manifest_lang, or the
check that failed with digits masked), so a run reports each distinct bug once with its first
example. Used by ``test_compile_fuzz.py``; run it alone for a longer search::

    .venv/bin/python tests/compiler/compile_fuzzer.py --seconds 600 --seed 7 --out fuzz-findings
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from manifest_lang.compiler import api
from manifest_lang.compiler.lint import lint_source
from manifest_lang.errors import ManifestError
from manifest_lang.runtime.engine import RuntimeEngine

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MANIFEST_SHARED_DIR", REPO.parent / "shared"))
CORPUS_DIRS = (
    SHARED / "conformance" / "fixtures",
    REPO / "examples",
    REPO / "tests" / "compiler" / "data",
    REPO / "tests" / "compiler" / "seed",
    REPO / "tests" / "http" / "models",
)

_TOKEN = re.compile(
    r'"(?:\\.|[^"\\\n])*"?|`[^`]*`?|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)*|//[^\n]*|/\*.*?\*/|\s+|.',
    re.DOTALL,
)
_NUMBER = re.compile(r"\d")
_WORDS = (
    "entity command property computed derived guard constraint policy emit mutate when module store "
    "event saga webhook approval async external value tenant role schedule mixin policies realtime "
    "masked unmask publish persist read write delete execute retry rateLimit cron interval every step "
    "compensate on_failure on_timeout stage method count sum of create escalate cancel allow deny use "
    "enum extends unique key index fields references onDelete from context user self this true false "
    "null undefined and or not in is if else return matches partial redact email phone last4 ttl cache"
).split()
_PUNCT = "{ } ( ) [ ] : , . = == != < > <= >= => -> ? ?. ?? && || ! + - * / % @ # ; \\ ' \n".split(" ")
_NUMBERS = (
    "0",
    "00",
    "1.2.3",
    "9007199254740993",
    "18446744073709551616",
    "4294967296",
    "1" * 300,
    "9" * 400,
    "0." + "0" * 400 + "1",
    "1" * 25,
    "123456789012345678901",
)
_STRINGS = (
    '"^d{8901234564}$"',
    '"a{99999999999}"',
    '"(("',
    '"[z-a]"',
    '"(?P<x>"',
    '"\\"',
    '""',
    '"\ud800"',
    '"\udfff x"',
    '"\x00"',
    '"${x}"',
    '"{{x}}"',
    '"%s"',
    '"\u2028"',
    '"a\\nb"',
    '"(a+)+$"',
    '"\\p{L}"',
    '"(?<=a*)b"',
    '"x{2,1}"',
    '"*"',
)
_CHARS = (
    "\ud800",
    "\udfff",
    "\x00",
    "\u2028",
    "\ufeff",
    "é",
    "\U0001d4b3",
    "\t",
    "\r",
    "\x0b",
    "\x1b",
    "\\",
    '"',
    "`",
)
_SHALLOW = 50  # below this bracket depth a "nests too deeply" diagnostic is a compiler bug


def load_corpus() -> list[tuple[str, str]]:
    """(name, source) of every readable model in the corpus directories."""
    found: list[tuple[str, str]] = []
    for directory in CORPUS_DIRS:
        for path in sorted(directory.rglob("*.manifest")) if directory.is_dir() else []:
            try:
                found.append((str(path.relative_to(path.parents[1])), path.read_text("utf-8")))
            except (OSError, UnicodeDecodeError):
                continue
    return found


class Mutator:
    """Stacked random edits of corpus models, vocabulary taken from the corpus itself."""

    def __init__(self, corpus: list[tuple[str, str]], rng: random.Random) -> None:
        self.sources = [text for _, text in corpus]
        self.rng = rng
        vocabulary = {t for text in self.sources for t in _TOKEN.findall(text) if not t.isspace()}
        self.vocabulary = sorted(vocabulary) + _WORDS + _PUNCT
        self.operators: list[Callable[[list[str]], list[str]]] = [
            self.delete,
            self.duplicate,
            self.swap,
            self.replace,
            self.insert,
            self.splice,
            self.truncate,
            self.raw_char,
            self.number,
            self.string,
            self.delete_line,
            self.nest,
        ]

    def mutate(self) -> str:
        rng = self.rng
        tokens = _TOKEN.findall(rng.choice(self.sources))
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            if not tokens:
                break
            tokens = rng.choice(self.operators)(tokens)
        return "".join(tokens)

    def _span(self, tokens: list[str]) -> tuple[int, int]:
        start = self.rng.randrange(len(tokens))
        return start, min(len(tokens), start + self.rng.choice((1, 1, 1, 2, 3, 8)))

    def delete(self, tokens: list[str]) -> list[str]:
        start, end = self._span(tokens)
        return tokens[:start] + tokens[end:]

    def duplicate(self, tokens: list[str]) -> list[str]:
        start, end = self._span(tokens)
        return tokens[:end] + tokens[start:end] + tokens[end:]

    def swap(self, tokens: list[str]) -> list[str]:
        i, j = self.rng.randrange(len(tokens)), self.rng.randrange(len(tokens))
        tokens = list(tokens)
        tokens[i], tokens[j] = tokens[j], tokens[i]
        return tokens

    def replace(self, tokens: list[str]) -> list[str]:
        words = [i for i, t in enumerate(tokens) if not t.isspace()] or [0]
        i = self.rng.choice(words)
        return tokens[:i] + [self.rng.choice(self.vocabulary)] + tokens[i + 1 :]

    def insert(self, tokens: list[str]) -> list[str]:
        i = self.rng.randrange(len(tokens) + 1)
        return tokens[:i] + [" ", self.rng.choice(self.vocabulary), " "] + tokens[i:]

    def splice(self, tokens: list[str]) -> list[str]:
        other = self.rng.choice(self.sources).split("\n")
        start = self.rng.randrange(len(other))
        chunk = "\n".join(other[start : start + self.rng.choice((1, 2, 5, 12))])
        i = self.rng.randrange(len(tokens) + 1)
        return tokens[:i] + ["\n", chunk, "\n"] + tokens[i:]

    def truncate(self, tokens: list[str]) -> list[str]:
        return tokens[: self.rng.randrange(len(tokens) + 1)]

    def raw_char(self, tokens: list[str]) -> list[str]:
        i = self.rng.randrange(len(tokens) + 1)
        return tokens[:i] + [self.rng.choice(_CHARS)] + tokens[i:]

    def number(self, tokens: list[str]) -> list[str]:
        spots = [i for i, t in enumerate(tokens) if _NUMBER.match(t)]
        i = self.rng.choice(spots) if spots else self.rng.randrange(len(tokens))
        return tokens[:i] + [self.rng.choice(_NUMBERS)] + tokens[i + 1 :]

    def string(self, tokens: list[str]) -> list[str]:
        spots = [i for i, t in enumerate(tokens) if t[:1] == '"']
        i = self.rng.choice(spots) if spots else self.rng.randrange(len(tokens))
        return tokens[:i] + [self.rng.choice(_STRINGS)] + tokens[i + 1 :]

    def delete_line(self, tokens: list[str]) -> list[str]:
        lines = "".join(tokens).split("\n")
        del lines[self.rng.randrange(len(lines))]
        return _TOKEN.findall("\n".join(lines))

    def nest(self, tokens: list[str]) -> list[str]:
        spots = [i for i, t in enumerate(tokens) if t in ("(", "[", "!", "-")] or [0]
        i = self.rng.choice(spots)
        depth = self.rng.choice((3, 20, 40))
        return tokens[:i] + ["("] * depth + tokens[i : i + 3] + [")"] * depth + tokens[i + 3 :]


_OPERATOR = re.compile(r"[-+*/%!<>=&|?]+")


def _depth(source: str) -> int:
    """How deep ``source`` nests: brackets, or operators chained on one line (``x + x + ...``
    is a tree as deep as the chain is long)."""
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth = max(0, depth - 1)
    chain = max((len(_OPERATOR.findall(line)) + line.count("!") for line in source.split("\n")), default=0)
    return max(deepest, chain)


def _where(exc: BaseException) -> str:
    """The innermost frame of manifest_lang in ``exc``'s traceback (file:function)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "manifest_lang" in f.filename]
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.name}"


def _masked(text: str) -> str:
    return re.sub(r"\d+", "N", text)[:120]


def check(source: str) -> str | None:
    """The kind of contract failure ``source`` triggers, or None when the compiler behaved."""
    try:
        result = api.compile_source(source)
    except Exception as exc:  # noqa: BLE001 - a raise is the finding
        return f"compile_source raises {type(exc).__name__} at {_where(exc)}"
    try:
        lint_source(source)  # ``manifest lint`` reads the same hostile files
    except Exception as exc:  # noqa: BLE001
        return f"lint_source raises {type(exc).__name__} at {_where(exc)}"
    for diagnostic in result.diagnostics:
        if diagnostic.message.startswith("Internal compiler error"):
            return _internal_kind(source)
        if "nests too deeply" in diagnostic.message and _depth(source) < _SHALLOW:
            return _internal_kind(source, "shallow RecursionError")
    if result.ir is None:
        return None
    try:
        json.dumps(result.ir, allow_nan=False)
        orjson.dumps(result.ir)
    except (TypeError, ValueError, OverflowError) as exc:
        return f"IR is not plain JSON: {_masked(str(exc))}"
    try:
        RuntimeEngine(result.ir, {})
    except ManifestError as exc:
        return f"RuntimeEngine rejects the IR: {type(exc).__name__}: {_masked(exc.message.split(': ')[0])}"
    except Exception as exc:  # noqa: BLE001
        return f"RuntimeEngine raises {type(exc).__name__} at {_where(exc)}"
    return None


def _internal_kind(source: str, label: str = "internal compiler error") -> str:
    """Re-run the compile without the API's catch-all to see where it failed."""
    try:
        api._compile(source, "<source>", None, False, None)
    except BaseException as exc:  # noqa: BLE001
        return f"{label}: {type(exc).__name__} at {_where(exc)}"
    return f"{label} (not reproduced outside compile_source)"


@dataclass
class Report:
    inputs: int = 0
    seconds: float = 0.0
    #: kind -> the first input that showed it
    kinds: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.inputs} inputs in {self.seconds:.0f} s, {len(self.kinds)} kinds"]
        lines += [f"  {kind}\n    {example[:300]!r}" for kind, example in sorted(self.kinds.items())]
        return "\n".join(lines)


def run(seconds: float, seed: int, max_inputs: int | None = None) -> Report:
    """Fuzz for ``seconds`` (or ``max_inputs``) from ``seed``; every kind found with its first input."""
    corpus = load_corpus()
    mutator = Mutator(corpus, random.Random(seed))
    report = Report()
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline and (max_inputs is None or report.inputs < max_inputs):
        source = mutator.mutate()
        report.inputs += 1
        kind = check(source)
        if kind is not None and kind not in report.kinds:
            report.kinds[kind] = source
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write each kind's first input here")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    report = run(args.seconds, args.seed)
    print(report.summary())
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for number, (kind, source) in enumerate(sorted(report.kinds.items())):
            (args.out / f"kind-{number:02d}.manifest").write_text(
                f"// {kind}\n{source}", "utf-8", "surrogatepass"
            )
    return 1 if report.kinds else 0


if __name__ == "__main__":
    sys.exit(main())
