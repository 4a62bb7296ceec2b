"""The import graph of ``src/`` (docs/architecture.md): no cycle anywhere, the pipeline below the
engine never imports it. The layer contracts themselves are checked by ``lint-imports`` (pyproject
``[tool.importlinter]``, run by CI); this test reads the same graph, imports inside functions and
``TYPE_CHECKING`` blocks included."""

from __future__ import annotations

import grimp

PACKAGE = "manifest_lang"


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, include_external_packages=False)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_there_is_no_import_cycle_anywhere_in_src() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = _graph()
    graph.add_import(importer="manifest_lang.runtime.model", imported="manifest_lang.runtime.engine")
    found = _cycles(graph)
    assert any({"manifest_lang.runtime.engine", "manifest_lang.runtime.model"} <= set(c) for c in found)


def test_no_module_of_the_runtime_imports_the_engine() -> None:
    graph = _graph()
    importers = graph.find_modules_that_directly_import(f"{PACKAGE}.runtime.engine")
    assert sorted(m for m in importers if m.startswith(f"{PACKAGE}.runtime.")) == []


def test_the_runtime_never_imports_the_compiler_or_the_parser() -> None:
    graph = _graph()
    for lower in ("compiler", "syntax"):
        runtime, other = f"{PACKAGE}.runtime", f"{PACKAGE}.{lower}"
        chain = graph.find_shortest_chain(importer=runtime, imported=other, as_packages=True)
        assert chain is None, chain
