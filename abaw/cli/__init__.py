"""The ``abaw`` command line: one module per subcommand, each thin.

Commands parse options and call the library. Every :class:`~abaw.errors.AbawError`
becomes one line on standard error and exit status 2, without a traceback.
"""

from __future__ import annotations

import click

from abaw import __version__
from abaw.cli.benchmark import benchmark_command
from abaw.cli.context import AbawGroup, CliContext
from abaw.cli.data import data
from abaw.cli.demo import demo_command
from abaw.cli.experiment import experiment_group
from abaw.cli.features import features
from abaw.cli.plot import plot_command
from abaw.cli.predict import predict_command, predict_test_command
from abaw.cli.score import score
from abaw.cli.smooth import smooth
from abaw.cli.submission import submission
from abaw.cli.temporal import temporal
from abaw.cli.train import train_command


@click.group(cls=AbawGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="abaw")
@click.option("--quiet", "-q", is_flag=True, help="Hide progress bars.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """End-to-end toolkit for the ABAW valence-arousal challenge on Aff-Wild2."""
    ctx.obj = CliContext(quiet=quiet)


for command in (
    demo_command,
    data,
    features,
    train_command,
    temporal,
    predict_command,
    predict_test_command,
    plot_command,
    score,
    smooth,
    submission,
    benchmark_command,
    experiment_group,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="abaw")
