"""The ``manifest`` command line.

Each subcommand lives beside the part of the system it drives and is imported only when it is
invoked, so ``manifest compile`` never pays for the HTTP stack and a missing optional extra
only affects the subcommand that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from . import __version__

#: subcommand name -> ("module:attribute" of its click command, one-line help for the listing).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("manifest_lang.compiler.cli:compile_command", "Compile a .manifest file to IR v1 JSON."),
    "validate": ("manifest_lang.compiler.cli:validate_command", "Check .manifest files; exit 1 on errors."),
    "lint": ("manifest_lang.compiler.cli:lint_command", "Report what the compiler silently drops."),
    "conformance": ("manifest_lang.runtime.cli:conformance_command", "Run a conformance directory."),
    "run": ("manifest_lang.runtime.cli:run_command", "Run a model interactively (JSON lines)."),
    "replay": ("manifest_lang.runtime.journal_cli:replay_command", "Replay and verify a command journal."),
    "relay": ("manifest_lang.outbox.cli:relay_command", "Publish outbox events to a broker."),
    "outbox": ("manifest_lang.outbox.cli:outbox_command", "Inspect the transactional outbox."),
    "serve": ("manifest_lang.http.cli:serve_command", "Serve a model as an HTTP API."),
    "trace": ("manifest_lang.http.cli:trace_command", "Print the causal tree of a correlation id."),
    "worker": (
        "manifest_lang.workflows.worker_cli:worker_command",
        "Run durable work (jobs, schedules, approvals).",
    ),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        try:
            module = importlib.import_module(module_name)
            command: Any = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            missing = getattr(exc, "name", None) or str(exc)
            raise click.ClickException(
                f"'manifest {cmd_name}' is not available: {missing} could not be loaded "
                "(is the matching extra installed? e.g. pip install 'manifest-lang[all]')"
            ) from None
        return command  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import every subcommand (and so every optional extra).
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUBCOMMANDS[name][1]) for name in sorted(SUBCOMMANDS)])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manifest")
def main() -> None:
    """Manifest: compile, check, run and serve business domain models."""
