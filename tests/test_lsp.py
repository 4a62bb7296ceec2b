"""`manifest lsp`: a real client session over stdio (pygls' client, JSON-RPC to a subprocess)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

try:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient
    from pygls.uris import from_fs_path
except ImportError:  # the [lsp] extra is part of [dev]: under CI its absence is a failure
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise
    pytest.skip("the lsp extra (pygls) is not installed", allow_module_level=True)

MAIN = """\
use "./lib.manifest"

entity Order {
  property required id: string
  property total: number = 0
  computed double = total * 2
  belongsTo customer: Customer

  command add(amount: number) {
    guard amount > 0
    mutate total = total + amount
    mutate totl = 1
  }
}
store Order in memory
"""
LIB = """\
entity Customer {
  property required id: string
  hasMany orders: Order
  command touch() {
    mutate id = id
  }
}
store Customer in memory
"""


async def session(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "lib.manifest").write_text(LIB)
    main_path = tmp_path / "main.manifest"
    main_path.write_text(MAIN)
    uri = from_fs_path(str(main_path))
    assert uri is not None
    client = LanguageClient("manifest-test", "1")
    published: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    await client.start_io(sys.executable, "-m", "manifest_lang", "lsp")
    out: dict[str, object] = {}
    try:
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(tmp_path))
            )
        )
        client.initialized(types.InitializedParams())
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="manifest", version=1, text=MAIN)
            )
        )
        out["diagnostics"] = await asyncio.wait_for(published.get(), 60)
        doc = types.TextDocumentIdentifier(uri=uri)
        out["hover_total"] = await client.text_document_hover_async(
            types.HoverParams(
                text_document=doc, position=types.Position(10, 20)
            )  # the `total` read in `mutate total = total + amount`
        )
        out["hover_builtin"] = None
        out["hover_param"] = await client.text_document_hover_async(
            types.HoverParams(text_document=doc, position=types.Position(10, 30))  # `amount`
        )
        out["definition"] = await client.text_document_definition_async(
            types.DefinitionParams(
                text_document=doc, position=types.Position(6, 23)
            )  # `Customer` in `belongsTo customer: Customer`
        )
        out["definition_use"] = await client.text_document_definition_async(
            types.DefinitionParams(text_document=doc, position=types.Position(0, 8))  # in "./lib.manifest"
        )
        # type `self.` on a new line: the text does not parse, completion still offers the members
        typed = MAIN.replace("    mutate totl = 1\n", "    guard self.\n")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=typed)],
            )
        )
        out["completion"] = await client.text_document_completion_async(
            types.CompletionParams(text_document=doc, position=types.Position(11, 15))
        )
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(
                        text=MAIN.replace("guard amount > 0", "guard trim(amount) > 0")
                    )
                ],
            )
        )
        out["hover_builtin"] = await client.text_document_hover_async(
            types.HoverParams(text_document=doc, position=types.Position(9, 11))
        )
        out["symbols"] = await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc)
        )
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=4),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(
                        text="entity A {\nproperty id:   string\n}\n"
                    )
                ],
            )
        )
        out["formatting"] = await client.text_document_formatting_async(
            types.DocumentFormattingParams(
                text_document=doc, options=types.FormattingOptions(tab_size=2, insert_spaces=True)
            )
        )
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        await client.stop()
    return out


def test_lsp_session(tmp_path: Path) -> None:
    out = asyncio.run(asyncio.wait_for(session(tmp_path), 120))
    diagnostics = out["diagnostics"]
    assert isinstance(diagnostics, types.PublishDiagnosticsParams)
    [typo] = [d for d in diagnostics.diagnostics if d.code == "CHECK_UNDECLARED_PROPERTY"]
    assert typo.range.start == types.Position(11, 11) and "did you mean 'total'" in typo.message
    hover = out["hover_total"]
    assert isinstance(hover, types.Hover) and "property total: number" in str(hover.contents)
    param = out["hover_param"]
    assert isinstance(param, types.Hover) and "parameter amount: number" in str(param.contents)
    builtin = out["hover_builtin"]
    assert isinstance(builtin, types.Hover) and "trim(s) -> string" in str(builtin.contents)
    definition = out["definition"]
    assert isinstance(definition, types.Location)
    assert definition.uri.endswith("lib.manifest") and definition.range.start == types.Position(0, 7)
    used = out["definition_use"]
    assert isinstance(used, types.Location) and used.uri.endswith("/lib.manifest")
    assert used.range.start == types.Position(0, 0)
    completion = out["completion"]
    assert isinstance(completion, types.CompletionList)
    labels = {item.label for item in completion.items}
    assert {"total", "double", "customer", "add"} <= labels
    symbols = out["symbols"]
    assert isinstance(symbols, list)
    order = next(s for s in symbols if isinstance(s, types.DocumentSymbol) and s.name == "Order")
    assert order.kind == types.SymbolKind.Class
    assert {c.name for c in order.children or []} >= {"total", "double", "customer", "add"}
    [edit] = out["formatting"]  # type: ignore[misc]
    assert edit.new_text == "entity A {\n  property id: string\n}\n"
