"""State and behaviour shared by every ``abaw`` subcommand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click
from rich.console import Console

from abaw.cli.lazy import LazyGroup
from abaw.cli.progress import rich_progress
from abaw.errors import AbawError
from abaw.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from abaw.recipes.state import RecipeRuntime

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

    def recipe_runtime(self, device: str, workers: int, command: str) -> RecipeRuntime:
        """How a recipe (``abaw demo``, ``abaw experiment``) computes and reports on this command line."""
        from abaw.cli.render_training import RichReporter
        from abaw.recipes.state import RecipeRuntime

        return RecipeRuntime(
            device,
            workers,
            RichReporter(self.errors, show_progress=not self.quiet),
            self.progress,
            lambda message: self.errors.print(f"[bold]{command}[/bold]: {message}", highlight=False),
        )


pass_cli_context = click.make_pass_decorator(CliContext, ensure=True)


def os_error_line(error: OSError) -> str:
    """An ``OSError`` as one line: ``path: reason``, or ``path -> other: reason`` for a rename.

    Example:
        >>> import errno
        >>> os_error_line(OSError(errno.ENOSPC, "No space left on device", "run/last.pt"))
        'run/last.pt: No space left on device'
    """
    reason = error.strerror or next(iter(str(error).splitlines()), "") or type(error).__name__
    if error.filename is None:
        return reason
    if error.filename2 is not None:
        return f"{error.filename} -> {error.filename2}: {reason}"
    return f"{error.filename}: {reason}"


class AbawGroup(LazyGroup):
    """A lazy command group (:class:`LazyGroup`) that turns :class:`AbawError` into one line and exit 2.

    As a last resort it does the same for ``OSError``.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AbawError as error:
            # Imported here: the error renderers name the commands that fix an error (they read feature settings).
            from abaw.cli.render_errors import error_line

            click.echo(f"error: {error_line(error)}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except OSError as error:
            # Reading and writing name their files through AbawError; this
            # catches what slipped through, still without a traceback.
            click.echo(f"error: {os_error_line(error)}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
