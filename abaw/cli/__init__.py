"""The ``abaw`` command line: one module per subcommand, each thin.

Commands parse options and call the library. Every :class:`~abaw.errors.AbawError`
becomes one line on standard error and exit status 2, without a traceback.

Each subcommand's module is imported only when the command runs (or when
``abaw --help`` lists its short help): see :data:`COMMANDS`. No command module
imports torch or timm at module level; those that need them import them inside
the command's function.
"""

from __future__ import annotations

import click

from abaw import __version__
from abaw.cli.context import AbawGroup, CliContext

COMMANDS: dict[str, str] = {
    "benchmark": "abaw.cli.benchmark:benchmark_command",
    "data": "abaw.cli.data:data",
    "demo": "abaw.cli.demo:demo_command",
    "experiment": "abaw.cli.experiment:experiment_group",
    "features": "abaw.cli.features:features",
    "plot": "abaw.cli.plot:plot_command",
    "predict": "abaw.cli.predict:predict_command",
    "predict-test": "abaw.cli.predict:predict_test_command",
    "score": "abaw.cli.score:score",
    "smooth": "abaw.cli.smooth:smooth",
    "submission": "abaw.cli.submission:submission",
    "temporal": "abaw.cli.temporal:temporal",
    "train": "abaw.cli.train:train_command",
}
"""Each ``abaw`` subcommand: its name and where it lives, ``module:attribute``."""


@click.group(
    cls=AbawGroup,
    lazy_subcommands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="abaw")
@click.option("--quiet", "-q", is_flag=True, help="Hide progress bars.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """End-to-end toolkit for the ABAW valence-arousal challenge on Aff-Wild2."""
    ctx.obj = CliContext(quiet=quiet)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="abaw")
