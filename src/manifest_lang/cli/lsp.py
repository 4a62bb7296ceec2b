"""``manifest lsp``: the language server over stdio (needs the ``lsp`` extra)."""

from __future__ import annotations

import click


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk LSP over stdin/stdout (the default and only transport).")
def lsp_command(stdio: bool) -> None:
    """Run the Manifest language server (diagnostics, hover, completion, definitions, symbols,
    formatting) for an editor, over stdio."""
    try:
        from ..lsp.server import main
    except ImportError as exc:
        raise click.ClickException(
            f"manifest lsp needs the 'lsp' extra ({exc.name or exc}): pip install 'manifest-lang[lsp]'"
        ) from None
    main()
