"""Self-contained HTML pages: the causal tree of a workflow and the API docs listing.

No scripts, fonts or stylesheets are fetched: the pages must work on machines without internet
and behind strict content-security policies. The tree is an inline SVG laid out as an
indented outline (one row per node, elbow connectors to the parent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from ..workflows.trace import Trace, TraceNode

_ROW = 30
_INDENT = 26
_COLORS = {
    "cause": "#64748b",
    "command": "#2563eb",
    "event": "#059669",
    "override": "#d97706",
    "warning": "#ca8a04",
    "failure": "#dc2626",
}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#0f172a;
background:#f8fafc} h1{font-size:20px;margin:0 0 4px} .muted{color:#64748b}
code{background:#e2e8f0;padding:1px 4px;border-radius:3px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px;margin:16px 0;overflow-x:auto}
.legend span{display:inline-block;margin-right:12px} .dot{width:10px;height:10px;border-radius:50%;
display:inline-block;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
pre{margin:0;white-space:pre-wrap;font-size:12px}
.op{display:inline-block;min-width:54px;font-weight:600} .fields{margin:4px 0 0;padding-left:18px}
.get{color:#059669} .post{color:#2563eb}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _flatten(roots: list[TraceNode]) -> list[tuple[int, int | None, TraceNode]]:
    """(depth, parent row, node) in preorder."""
    rows: list[tuple[int, int | None, TraceNode]] = []

    def visit(node: TraceNode, depth: int, parent: int | None) -> None:
        index = len(rows)
        rows.append((depth, parent, node))
        for child in node.children:
            visit(child, depth + 1, index)

    for root in roots:
        visit(root, 0, None)
    return rows


def trace_svg(trace: Trace) -> str:
    rows = _flatten(trace.roots)
    width = max([760] + [d * _INDENT + 40 + 7 * len(n.label) for d, _, n in rows])
    height = max(_ROW, len(rows) * _ROW + 10)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="trace-tree" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="causal tree">'
    ]
    for i, (depth, parent, _) in enumerate(rows):
        if parent is None:
            continue
        px, py = rows[parent][0] * _INDENT + 12, parent * _ROW + 20
        x, y = depth * _INDENT + 12, i * _ROW + 20
        parts.append(
            f'<path d="M{px} {py + 6} V{y} H{x - 7}" fill="none" stroke="#cbd5e1" stroke-width="1.5"/>'
        )
    for i, (depth, _, node) in enumerate(rows):
        x, y = depth * _INDENT + 12, i * _ROW + 20
        color = _COLORS.get(node.kind, "#334155")
        parts.append(
            f'<g class="node node-{escape(node.kind)}" data-kind="{escape(node.kind)}">'
            f'<circle cx="{x}" cy="{y}" r="6" fill="{color}"/>'
            f'<text x="{x + 12}" y="{y + 4}" font-size="13" fill="#0f172a">'
            f'<tspan fill="{color}" font-weight="600">{escape(node.kind)}</tspan> '
            f"{escape(node.label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def trace_page(trace: Trace) -> str:
    summary = trace.to_dict()
    legend = "".join(
        f'<span><i class="dot" style="background:{c}"></i>{k}</span>' for k, c in _COLORS.items()
    )
    rows = "".join(
        f'<tr data-kind="{escape(n.kind)}"><td>{escape(n.kind)}</td><td>{escape(n.label)}</td>'
        f"<td><pre>{escape(json.dumps(n.detail, indent=1, default=str)[:4000])}</pre></td></tr>"
        for _, _, n in _flatten(trace.roots)
    )
    empty = "" if trace.roots else '<p id="empty">No commands or events recorded for this correlation id.</p>'
    evicted = (
        f', <span id="evicted-count">{trace.evicted}</span> older commands evicted' if trace.evicted else ""
    )
    body = (
        f'<h1>Workflow <code id="correlation-id">{escape(trace.correlation_id)}</code></h1>'
        f'<p class="muted"><span id="command-count">{summary["commands"]}</span> commands, '
        f'<span id="event-count">{summary["events"]}</span> events{evicted}</p>'
        f'<div class="legend">{legend}</div>{empty}'
        f'<div class="card">{trace_svg(trace)}</div>'
        f'<div class="card"><table id="trace-details"><tr><th>kind</th><th>node</th><th>detail</th></tr>'
        f"{rows}</table></div>"
    )
    return _page(f"Trace {trace.correlation_id}", body)


def _resolve(spec: Mapping[str, Any], schema: Any) -> Mapping[str, Any]:
    """Follow a local ``$ref``; for the command-body ``anyOf`` take the bare-input branch."""
    for _ in range(4):
        if not isinstance(schema, Mapping):
            return {}
        if "anyOf" in schema and schema["anyOf"]:
            schema = schema["anyOf"][0]
        elif "$ref" in schema:
            node: Any = spec
            for part in str(schema["$ref"]).lstrip("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, Mapping) else {}
            schema = node
        else:
            return schema
    return {}


def _type_text(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type_text(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"{_type_text(schema.get('items') or {})}[]"
    return " | ".join(kind) if isinstance(kind, list) else str(kind)


def _fields_html(spec: Mapping[str, Any], schema: Any) -> str:
    """``quantity: number *`` lines for an object body (``*`` = required)."""
    resolved = _resolve(spec, schema)
    required = set(resolved.get("required") or [])
    lines = [
        f"<li><code>{escape(name)}</code>: {escape(_type_text(prop))}"
        f"{' <b>*</b>' if name in required else ''}</li>"
        for name, prop in (resolved.get("properties") or {}).items()
    ]
    return f'<ul class="fields">{"".join(lines)}</ul>' if lines else ""


def docs_page(spec: Mapping[str, Any]) -> str:
    """Every operation of the OpenAPI document with its body fields, as one static page."""
    info = spec.get("info") or {}
    items = []
    for path, operations in (spec.get("paths") or {}).items():
        for method, op in operations.items():
            if not isinstance(op, Mapping):
                continue
            content = ((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
            items.append(
                f'<tr class="operation"><td><span class="op {method}">{method.upper()}</span>'
                f"<code>{escape(path)}</code></td>"
                f"<td>{escape(str(op.get('summary', '')))}"
                f"{_fields_html(spec, content.get('schema'))}</td></tr>"
            )
    body = (
        f"<h1>{escape(str(info.get('title', 'API')))}</h1>"
        f'<p class="muted">version {escape(str(info.get("version", "")))} · machine-readable: '
        '<a href="openapi.json">openapi.json</a> · live events: <code>GET /events</code> · '
        '<b>*</b> required · command bodies may also be <code>{"input": {...}, '
        '"overrideRequests": [...]}</code></p>'
        f'<div class="card"><table>{"".join(items)}</table></div>'
    )
    return _page(f"{info.get('title', 'API')} docs", body)
