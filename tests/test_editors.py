"""editors/vscode: the extension's manifests are valid, and the grammar knows the language."""

from __future__ import annotations

import json
import re
from pathlib import Path

from manifest_lang.compiler.checker.builtins import BUILTIN_DOCS, BUILTIN_TYPES
from manifest_lang.lsp.analysis import KEYWORD_DOCS

VSCODE = Path(__file__).resolve().parents[1] / "editors" / "vscode"


def test_extension_manifest_starts_manifest_lsp() -> None:
    package = json.loads((VSCODE / "package.json").read_text())
    [language] = package["contributes"]["languages"]
    assert language["extensions"] == [".manifest"]
    settings = package["contributes"]["configuration"]["properties"]
    assert settings["manifest.server.command"]["default"] == "manifest"
    assert settings["manifest.server.args"]["default"] == ["lsp"]
    json.loads((VSCODE / "language-configuration.json").read_text())


def test_grammar_covers_keywords_types_and_builtins() -> None:
    grammar = json.loads((VSCODE / "syntaxes" / "manifest.tmLanguage.json").read_text())
    patterns = [
        p["match"] for section in grammar["repository"].values() for p in section["patterns"] if "match" in p
    ]
    for pattern in patterns:
        re.compile(pattern)  # the patterns use the common subset of Oniguruma and Python regexes
    text = " ".join(patterns)
    words = set(re.findall(r"[A-Za-z_]+", text))
    assert set(KEYWORD_DOCS) <= words
    assert set(BUILTIN_TYPES) <= words
    assert set(BUILTIN_DOCS) <= words
    sample = "entity Order {"
    assert any(re.search(p, sample) for p in patterns)
