"""`use` imports: a multi-file model compiles to one IR; each broken import is a pointed diagnostic."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from manifest_lang.cli import main
from manifest_lang.compiler.api import compile_file, compile_source
from manifest_lang.compiler.provenance import verify_ir_hash

ROOT = 'use "./models/order.manifest"\nuse "./models/customer.manifest"\n\nstore Order in memory\n'
ORDER = (
    'use "./customer.manifest"\n'
    "entity Order {\n"
    "  property required id: string\n"
    "  property total: number = 0\n"
    "  belongsTo customer: Customer\n"
    "  command add(amount: number) {\n"
    "    guard amount > 0\n"
    "    mutate total = total + amount\n"
    "    emit OrderChanged\n"
    "  }\n"
    "}\n"
    'event OrderChanged: "order.changed" {\n  total: number\n}\n'
)
CUSTOMER = (
    'entity Customer {\n  property required id: string\n  property name: string = ""\n'
    "  hasMany orders: Order\n}\nstore Customer in memory\n"
)


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return tmp_path / next(iter(files))


def three_files(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {"shop.manifest": ROOT, "models/order.manifest": ORDER, "models/customer.manifest": CUSTOMER},
    )


def test_three_file_model_compiles_to_one_ir(tmp_path: Path) -> None:
    result = compile_file(three_files(tmp_path))
    assert result.ok, [d.format() for d in result.diagnostics]
    ir = result.ir
    assert ir is not None
    # dependency order: customer (used by order), then order, then the root
    assert [e["name"] for e in ir["entities"]] == ["Customer", "Order"]
    assert [s["entity"] for s in ir["stores"]] == ["Customer", "Order"]
    assert [e["name"] for e in ir["events"]] == ["OrderChanged"]
    assert [s["path"] for s in ir["provenance"]["sources"]] == [
        "models/customer.manifest",
        "models/order.manifest",
        "shop.manifest",
    ]
    assert verify_ir_hash(ir)


def test_content_hash_covers_every_file(tmp_path: Path) -> None:
    root = three_files(tmp_path)
    before = compile_file(root).ir
    (tmp_path / "models" / "customer.manifest").write_text(CUSTOMER + "// a comment\n")
    after = compile_file(root).ir
    assert before is not None and after is not None
    assert before["provenance"]["contentHash"] != after["provenance"]["contentHash"]
    changed = [
        (a["path"], a["contentHash"] != b["contentHash"])
        for a, b in zip(before["provenance"]["sources"], after["provenance"]["sources"], strict=True)
    ]
    assert changed == [
        ("models/customer.manifest", True),
        ("models/order.manifest", False),
        ("shop.manifest", False),
    ]


def test_single_file_provenance_is_unchanged() -> None:
    ir = compile_source(CUSTOMER).ir
    assert ir is not None and "sources" not in ir["provenance"]


def test_compile_source_takes_a_loader_or_a_base_dir(tmp_path: Path) -> None:
    files = {"models/order.manifest": ORDER, "models/customer.manifest": CUSTOMER}
    by_map = compile_source(ROOT, filename="shop.manifest", loader=files)
    assert by_map.ok and [e["name"] for e in by_map.ir["entities"]] == ["Customer", "Order"]  # type: ignore[index]
    three_files(tmp_path)
    by_dir = compile_source(ROOT, filename="shop.manifest", base_dir=tmp_path)
    assert by_dir.ok
    assert by_dir.ir["provenance"]["contentHash"] == by_map.ir["provenance"]["contentHash"]  # type: ignore[index]


def test_without_a_loader_use_is_a_warning_not_silence() -> None:
    result = compile_source(ROOT)
    assert [(d.code, d.line, d.column) for d in result.diagnostics if d.code] == [
        ("USE_NOT_RESOLVED", 1, 1),
        ("USE_NOT_RESOLVED", 2, 1),
    ]


def test_missing_file_points_at_the_use(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "a.manifest": 'use "./b.manifest"\nentity A {\n  property id: string\n}\n',
            "b.manifest": '\n\n  use "./nope/c.manifest"\n',
        },
    )
    result = compile_file(root)
    assert result.ir is None
    [d] = result.errors
    assert (d.file, d.line, d.column, d.code) == ("b.manifest", 3, 3, "USE_NOT_FOUND")
    assert "nope/c.manifest" in d.message


def test_cycle_points_at_the_closing_use(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "a.manifest": 'use "./b.manifest"\n',
            "b.manifest": 'use "./sub/c.manifest"\n',
            "sub/c.manifest": '// back to the start\nuse "../a.manifest"\n',
        },
    )
    [d] = compile_file(root).errors
    assert (d.file, d.line, d.column, d.code) == ("sub/c.manifest", 2, 1, "USE_CYCLE")
    assert d.message == "Import cycle: a.manifest -> b.manifest -> sub/c.manifest -> a.manifest"


def test_diamond_imports_load_the_shared_file_once(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "a.manifest": 'use "./b.manifest"\nuse "./c.manifest"\n',
            "b.manifest": 'use "./d.manifest"\nentity B {\n  property id: string\n  belongsTo d: D\n}\n',
            "c.manifest": 'use "./d.manifest"\nentity C {\n  property id: string\n  belongsTo d: D\n}\n',
            "d.manifest": "entity D {\n  property id: string\n}\nstore D in memory\n",
        },
    )
    result = compile_file(root)
    assert result.ok and [e["name"] for e in result.ir["entities"]] == ["D", "B", "C"]  # type: ignore[index]


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "a.manifest": 'use "./b.manifest"\nuse "./c.manifest"\n',
            "b.manifest": "entity Thing {\n  property id: string\n}\n",
            "c.manifest": "\n\nentity Thing {\n  property id: string\n}\n",
        },
    )
    [d] = compile_file(root).errors
    assert (d.file, d.line, d.column, d.code) == ("a.manifest", 2, 1, "USE_DUPLICATE_NAME")
    assert d.message == "Entity 'Thing' is declared in both 'b.manifest' (line 1) and 'c.manifest' (line 3)"


def test_errors_in_imported_files_name_their_file(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "a.manifest": 'use "./b.manifest"\n\nentity A {\n  property id: string\n}\n',
            "b.manifest": "entity B {\n  property x string\n}\n",
        },
    )
    [d] = compile_file(root).errors
    assert (d.file, d.line, d.column) == ("b.manifest", 2, 20)
    # and the CLI renders the imported file's own line under its own name
    code, out = _cli("validate", str(root))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'b.manifest'}:2:20: error: Expected :, got string"
    assert lines[1].strip() == "property x string"


def test_pipeline_errors_in_imported_files_are_located(tmp_path: Path) -> None:
    # EMIT_ACTION_UNKNOWN_EVENT carries a position; in a multi-file model it names the file
    root = write(
        tmp_path,
        {
            "a.manifest": 'use "./b.manifest"\nentity A {\n  property id: string\n}\nstore A in memory\n',
            "b.manifest": "entity B {\n  property id: string\n  command go() {\n    publish Nope\n  }\n}\n",
        },
    )
    located = [d for d in compile_file(root).diagnostics if d.line is not None]
    assert located and all(d.file == "b.manifest" and d.line == 4 for d in located)


def _cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout + result.stderr


def test_cli_compile_validate_and_stdin_with_base_dir(tmp_path: Path) -> None:
    root = three_files(tmp_path)
    code, out = _cli("compile", str(root))
    assert code == 0 and [e["name"] for e in json.loads(out)["entities"]] == ["Customer", "Order"]
    assert _cli("validate", str(root))[0] == 0
    code, out = _cli("compile", "-", "--base-dir", str(tmp_path), input=ROOT)
    assert code == 0 and len(json.loads(out)["entities"]) == 2


def test_three_file_model_serves_and_runs(tmp_path: Path) -> None:
    from manifest_lang.http.app import create_app

    root = three_files(tmp_path)
    with TestClient(create_app(root, auth="headers")) as client:
        headers = {"X-User-Id": "u1"}
        created = client.post("/Order", json={"id": "o1", "total": 1}, headers=headers)
        assert created.status_code in (200, 201), created.text
        ran = client.post("/Order/o1/commands/add", json={"amount": 2}, headers=headers)
        assert ran.status_code == 200, ran.text
        assert client.get("/Order/o1", headers=headers).json()["total"] == 3
    script = tmp_path / "ops.jsonl"
    script.write_text('{"op": "create", "entity": "Order", "data": {"id": "o1"}}\n')
    code, out = _cli("run", str(root), "--script", str(script))
    assert code == 0 and json.loads(out.splitlines()[0])["ok"] is True


def test_a_failing_loader_is_a_diagnostic_not_a_crash() -> None:
    def loader(path: str) -> str:
        raise ValueError("database down")

    [d] = compile_source('use "./a.manifest"\n', filename="root.manifest", loader=loader).errors
    assert (d.code, d.file, d.line) == ("USE_UNREADABLE", "root.manifest", 1)
    assert "ValueError: database down" in d.message
    [d] = compile_source('use "./a.manifest"\n', loader=lambda path: None).errors  # type: ignore[arg-type,return-value]
    assert d.code == "USE_UNREADABLE"


def test_unreadable_and_binary_imports(tmp_path: Path) -> None:
    root = write(tmp_path, {"a.manifest": 'use "./b.manifest"\nuse "./dir.manifest"\n'})
    (tmp_path / "b.manifest").write_bytes(b"entity \x00 {")
    (tmp_path / "dir.manifest").mkdir()
    codes = [(d.code, d.line) for d in compile_file(root).errors]
    assert codes == [("USE_UNREADABLE", 1), ("USE_UNREADABLE", 2)]


def test_serve_and_run_name_the_broken_import(tmp_path: Path) -> None:
    root = write(
        tmp_path, {"root.manifest": 'use "./lib/a.manifest"\n', "lib/a.manifest": 'use "./gone.manifest"\n'}
    )
    for args in (["serve", str(root), "--db", "memory://"], ["run", str(root)]):
        result = CliRunner().invoke(main, args, input="")
        assert result.exit_code == 1, result.output
        assert "Cannot find './gone.manifest' (looked for 'lib/gone.manifest')" in result.stderr
        assert "lib/a.manifest:1:1" in result.stderr
