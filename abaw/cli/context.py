"""State and behaviour shared by every ``abaw`` subcommand."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from rich.console import Console

from abaw.errors import AbawError
from abaw.progress import ProgressFn, no_progress, rich_progress

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


PIPE_WIDTH = 160
"""Columns of tables written to a pipe or file, where rich would otherwise assume 80."""


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = max(console.width, PIPE_WIDTH)
    return console


@dataclass
class CliContext:
    """What subcommands share: where to print and how to show progress.

    Attributes:
        console: Results (tables) go here, on standard output.
        errors: Progress bars and warnings go here, on standard error.
        quiet: No progress bars.
    """

    console: Console = field(default_factory=lambda: _console(stderr=False))
    errors: Console = field(default_factory=lambda: _console(stderr=True))
    quiet: bool = False

    @property
    def progress(self) -> ProgressFn:
        """A progress bar on standard error, or nothing with ``--quiet``."""
        return no_progress if self.quiet else rich_progress(self.errors)

    def warn(self, message: str) -> None:
        """Print a warning line on standard error."""
        self.errors.print(f"warning: {message}", markup=False, highlight=False)


pass_cli_context = click.make_pass_decorator(CliContext, ensure=True)


class AbawGroup(click.Group):
    """A command group that turns :class:`AbawError` into one line and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AbawError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
