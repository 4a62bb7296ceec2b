"""The ``manifest`` command line.

Each subcommand is a module of this package (``cli/compile.py``, ``cli/serve.py``, ...), the top
layer of the architecture (docs/architecture.md). A subcommand's module is imported only when it is
invoked, so ``manifest compile`` never pays for the HTTP stack and a missing optional extra
only affects the subcommand that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from ..errors import MissingExtraError
from ..version import __version__

#: subcommand name -> ("module:attribute" of its click command, one-line help for the listing).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("manifest_lang.cli.compile:compile_command", "Compile a .manifest file to IR v1 JSON."),
    "validate": ("manifest_lang.cli.compile:validate_command", "Check .manifest files; exit 1 on errors."),
    "lint": ("manifest_lang.cli.compile:lint_command", "Report what the compiler silently drops."),
    "check": ("manifest_lang.cli.check:check_command", "Find typos the compiler accepts (exit 1 on errors)."),
    "fmt": ("manifest_lang.cli.fmt:fmt_command", "Format .manifest files (--check for CI)."),
    "init": (
        "manifest_lang.cli.init:init_command",
        "Start a project (a model, test, README; or --example).",
    ),
    "lsp": ("manifest_lang.cli.lsp:lsp_command", "Run the language server for editors (stdio)."),
    "conformance": ("manifest_lang.cli.conformance:conformance_command", "Run a conformance directory."),
    "run": ("manifest_lang.cli.run:run_command", "Run a model interactively (JSON lines)."),
    "replay": ("manifest_lang.cli.replay:replay_command", "Replay and verify a command journal."),
    "relay": ("manifest_lang.cli.outbox:relay_command", "Publish outbox events to a broker."),
    "outbox": ("manifest_lang.cli.outbox:outbox_command", "Inspect the transactional outbox."),
    "serve": ("manifest_lang.cli.serve:serve_command", "Serve a model as an HTTP API."),
    "trace": ("manifest_lang.cli.serve:trace_command", "Print the causal tree of a correlation id."),
    "worker": ("manifest_lang.cli.worker:worker_command", "Run durable work (jobs, schedules, approvals)."),
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
        except MissingExtraError as exc:
            raise click.ClickException(exc.message) from None
        except (ImportError, AttributeError) as exc:
            missing = getattr(exc, "name", None) or str(exc)
            raise click.ClickException(
                f"'manifest {cmd_name}' is not available: {missing} could not be loaded "
                "(is the matching extra installed? e.g. pip install 'manifest-lang[all]')"
            ) from None
        return command  # type: ignore[no-any-return]

    def invoke(self, ctx: click.Context) -> Any:
        # An optional extra missing deep inside a subcommand (a store URL, a broker, --otel) is
        # one line naming the extra, whichever subcommand reached it.
        try:
            return super().invoke(ctx)
        except MissingExtraError as exc:
            raise click.ClickException(exc.message) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing must not import every subcommand (and so every optional extra).
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUBCOMMANDS[name][1]) for name in sorted(SUBCOMMANDS)])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manifest")
def main() -> None:
    """Manifest: compile, check, run and serve business domain models."""
