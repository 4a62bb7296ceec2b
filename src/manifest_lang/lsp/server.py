"""``manifest lsp``: a language server over stdio (pygls), built on ``lsp/analysis.py``.

Features: diagnostics as you type (compiler and checker, published for the open file and the
files it ``use``s), hover (declarations with their types or formula, built-ins, types,
keywords), completion, go to definition (across ``use``d files), document symbols, formatting.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..compiler.api import compile_source
from ..compiler.diagnostics import Diagnostic
from ..compiler.formatter import format_source
from ..version import __version__
from . import analysis

_KINDS = {
    "entity": types.SymbolKind.Class,
    "property": types.SymbolKind.Field,
    "computed": types.SymbolKind.Property,
    "relationship": types.SymbolKind.Field,
    "command": types.SymbolKind.Method,
    "event": types.SymbolKind.Event,
    "enum": types.SymbolKind.Enum,
    "value": types.SymbolKind.Struct,
    "policy": types.SymbolKind.Key,
    "constraint": types.SymbolKind.Boolean,
    "saga": types.SymbolKind.Function,
    "role": types.SymbolKind.Object,
}
_COMPLETION_KINDS = {
    "entity": types.CompletionItemKind.Class,
    "property": types.CompletionItemKind.Field,
    "computed": types.CompletionItemKind.Property,
    "relationship": types.CompletionItemKind.Reference,
    "command": types.CompletionItemKind.Method,
    "event": types.CompletionItemKind.Event,
    "enum": types.CompletionItemKind.Enum,
    "function": types.CompletionItemKind.Function,
    "type": types.CompletionItemKind.TypeParameter,
    "keyword": types.CompletionItemKind.Keyword,
}

server = LanguageServer("manifest-lsp", __version__)


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _open_documents(ls: LanguageServer) -> dict[str, str]:
    return {_path(uri): doc.source for uri, doc in ls.workspace.text_documents.items()}


#: the last analysis of each document that compiled: completion and hover keep working on it
#: while the text being typed does not parse (``self.`` with nothing after it yet)
_last_good: dict[str, analysis.Analysis] = {}


def _analyse(ls: LanguageServer, uri: str) -> tuple[analysis.Analysis, str]:
    document = ls.workspace.get_text_document(uri)
    result = analysis.analyse(_path(uri), document.source, _open_documents(ls))
    if result.checked.compiled.ir is not None:
        _last_good[uri] = result
    return result, document.source


def _usable(ls: LanguageServer, uri: str) -> tuple[analysis.Analysis, str]:
    """The current analysis, or the last one that compiled when the current text does not."""
    result, text = _analyse(ls, uri)
    if result.checked.compiled.ir is None and uri in _last_good:
        return _last_good[uri], text
    return result, text


def _lsp_diagnostic(d: Diagnostic) -> types.Diagnostic:
    line = max(0, (d.line or 1) - 1)
    start = max(0, (d.column or 1) - 1)
    severity = types.DiagnosticSeverity.Error if d.severity == "error" else types.DiagnosticSeverity.Warning
    return types.Diagnostic(
        range=types.Range(types.Position(line, start), types.Position(line, start + 1)),
        message=d.message,
        severity=severity,
        code=d.code,
        source="manifest",
    )


#: per open document, the other files it published diagnostics for (cleared when they are fixed)
_published: dict[str, set[str]] = {}


def publish(ls: LanguageServer, uri: str) -> None:
    result, _ = _analyse(ls, uri)
    targets: dict[str, list[types.Diagnostic]] = {}
    for path, own in result.diagnostics_by_file().items():
        target = uri if path == result.path else (from_fs_path(path) or path)
        targets[target] = [_lsp_diagnostic(d) for d in own]
    for stale in _published.get(uri, set()) - set(targets):
        targets[stale] = []
    _published[uri] = {t for t, found in targets.items() if found and t != uri}
    for target, found in targets.items():
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=target, diagnostics=found))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: LanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: LanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover | None:
    result, text = _usable(ls, params.text_document.uri)
    found = analysis.hover(result, text, params.position.line, params.position.character)
    if found is None:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=found))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: LanguageServer, params: types.DefinitionParams) -> types.Location | None:
    result, text = _usable(ls, params.text_document.uri)
    found = analysis.definition(result, text, params.position.line, params.position.character)
    if found is None:
        return None
    return types.Location(uri=from_fs_path(found.path) or found.path, range=_range(found))


def _range(location: analysis.Location) -> types.Range:
    start = types.Position(location.line, location.character)
    return types.Range(start, types.Position(location.line, location.character + location.length))


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
def completion(ls: LanguageServer, params: types.CompletionParams) -> types.CompletionList:
    result, text = _usable(ls, params.text_document.uri)
    items = analysis.completions(result, text, params.position.line, params.position.character)
    return types.CompletionList(
        is_incomplete=False,
        items=[
            types.CompletionItem(
                label=item.label, kind=_COMPLETION_KINDS.get(item.kind), detail=item.detail or None
            )
            for item in items
        ],
    )


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: LanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    result, _ = _analyse(ls, params.text_document.uri)
    own = [s for s in result.symbols if s.location.path == result.path]
    return [_document_symbol(s) for s in own]


def _document_symbol(symbol: analysis.Symbol) -> types.DocumentSymbol:
    where = _range(symbol.location)
    return types.DocumentSymbol(
        name=symbol.name,
        kind=_KINDS.get(symbol.kind, types.SymbolKind.Variable),
        range=where,
        selection_range=where,
        detail=symbol.detail,
        children=[_document_symbol(c) for c in symbol.children] or None,
    )


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: LanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
    document = ls.workspace.get_text_document(params.text_document.uri)
    source = document.source
    formatted = format_source(source)
    if formatted == source or not _same_model(source, formatted):
        return []
    lines = source.split("\n")
    end = types.Position(len(lines), 0)
    return [types.TextEdit(range=types.Range(types.Position(0, 0), end), new_text=formatted)]


def _same_model(before: str, after: str) -> bool:
    """Formatting must never change the model (the suite checks it; this guards the edit)."""
    a, b = compile_source(before).ir, compile_source(after).ir
    if a is None or b is None:
        return a is b
    return {k: v for k, v in a.items() if k != "provenance"} == {
        k: v for k, v in b.items() if k != "provenance"
    }


def main() -> None:
    server.start_io()


if __name__ == "__main__":  # pragma: no cover - `manifest lsp` is the entry point
    main()


__all__ = ["server", "main"]
