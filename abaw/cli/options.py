"""Options that several subcommands share, and the small helpers behind them."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from abaw.cli.context import CliContext
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.source import DatasetSource
from abaw.errors import ConfigError
from abaw.fileio import atomic_write_json, check_output_path
from abaw.outputs import check_output_file, refuse_dataset_overlap

T = TypeVar("T")


class OutputPath(click.Path):
    """A file or folder the command writes: refused inside the dataset before the dataset is opened."""


existing_dir = click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
existing_file = click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path)
existing_path = click.Path(exists=True, path_type=Path)
any_path = click.Path(path_type=Path)
output_path = OutputPath(path_type=Path)


DATASET_OPTION_NAMES = (
    "root",
    "annotations",
    "frames",
    "videos",
    "test_list",
    "frame_counts",
    "frame_count_rule",
    "cache",
)


def _dataset_options(command: Callable[..., Any], root_required: bool = True) -> Callable[..., Any]:
    """Add ``--root`` and the options that point at parts of a dataset explicitly."""
    options = [
        click.option("--root", required=root_required, type=existing_dir, help="Dataset root as distributed."),
        click.option("--annotations", type=existing_dir, help="Folder holding Train_Set/Validation_Set."),
        click.option("--frames", multiple=True, type=existing_dir, help="Face-crop folder (repeatable)."),
        click.option("--videos", type=existing_dir, help="Folder searched for .mp4/.avi videos."),
        click.option("--test-list", type=existing_file, help="Text file naming the test videos."),
        click.option(
            "--frame-counts",
            type=existing_file,
            help="Organisers' count file ('name count' per line) giving test frame counts "
            "[default: *total_number_of_frames*.txt found in ROOT].",
        ),
        click.option(
            "--frame-count-rule",
            metavar="RULE",
            help="Frame count of test entries without a count-file line, instead of the rule learned from the "
            "label files: N (header), P (packets) or D (decoded) plus 0, 1 or 2 (e.g. P+1), crops (highest crop "
            "number), or the larger of both (e.g. 'max(N+1,crops)').",
        ),
        click.option("--cache", type=any_path, help="Folder for derived data [default: ROOT/.abaw-cache]."),
    ]
    return add_options(command, options)


def add_options(command: Callable[..., Any], options: Sequence[Callable[..., Any]]) -> Callable[..., Any]:
    """``command`` with ``options`` (click decorators), shown in the order given."""
    for option in reversed(options):
        command = option(command)
    return command


def _json_target(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Check ``--json`` before any work; with ``-``, send the tables to standard error so stdout is only JSON."""
    if value is None:
        return None
    if str(value) == "-":
        cli = ctx.find_object(CliContext)
        if cli is not None:
            cli.console = cli.errors
    else:
        check_output_path(value)
    return value


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json FILE`` and ``--force`` (to replace an existing file)."""
    command = click.option("--force", is_flag=True, help="Replace existing outputs.")(command)
    return click.option(
        "--json",
        "json_path",
        type=output_path,
        callback=_json_target,
        help="Also write the results as JSON to this file ('-' for stdout; tables then go to stderr).",
    )(command)


def refuse_json_overwrite(path: Path | None, force: bool, dataset: DatasetSource | None = None) -> None:
    """Fail before any work when ``--json FILE`` exists without ``--force``, is a folder, or is in ``dataset``."""
    if path is not None and str(path) != "-":
        check_output_file(path, force, dataset.read_paths() if dataset else [])


def write_json(path: Path | None, payload: dict[str, Any], force: bool) -> None:
    """Write ``payload`` to ``path`` atomically, or to standard output for ``-``."""
    if path is None:
        return
    if str(path) == "-":
        click.echo(json.dumps(payload, indent=2))
        return
    check_output_file(path, force)
    atomic_write_json(path, payload, force=force)


def refuse_outputs_in_dataset(source: DatasetSource | None, values: dict[str, Any]) -> None:
    """Refuse, before the dataset is opened, every output option of the command that points into it.

    Args:
        source: The dataset options given, if any.
        values: The command's parameters by name.
    """
    sources = source.read_paths() if source else []
    for param in click.get_current_context().command.params:
        value = values.get(param.name or "")
        if isinstance(param.type, OutputPath) and value is not None and str(value) != "-":
            refuse_dataset_overlap(value, sources, option=param.opts[0])


def pop_dataset_source(kwargs: dict[str, Any]) -> DatasetSource | None:
    """Remove the dataset options from ``kwargs``; return them as a source, ``None`` when none was given.

    Raises:
        ConfigError: for dataset options without ``--root``.
    """
    given = {name: kwargs.pop(name) for name in DATASET_OPTION_NAMES}
    given = {name: value for name, value in given.items() if value is not None and value != ()}
    if not given:
        return None
    if "root" not in given:
        raise ConfigError(f"no dataset root given (pass --root with --{next(iter(given)).replace('_', '-')})")
    return DatasetSource(**given)


def with_dataset_source(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the dataset options, ``--root`` optional, passed unopened as ``dataset_source`` (or ``None``).

    For commands that store where the data is (training runs) rather than open it at once.
    """

    @functools.partial(_dataset_options, root_required=False)
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["dataset_source"] = pop_dataset_source(kwargs)
        refuse_outputs_in_dataset(kwargs["dataset_source"], kwargs)
        return command(*args, **kwargs)

    return wrapper


def with_dataset(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: add ``--root`` and the options pointing at parts of a dataset; pass its index as ``dataset``."""

    @_dataset_options
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cli_context = click.get_current_context().find_object(CliContext) or CliContext()
        source = pop_dataset_source(kwargs)
        assert source is not None  # --root is required here
        refuse_outputs_in_dataset(source, kwargs)
        kwargs["dataset"] = open_dataset(source, progress=cli_context.progress)
        return command(*args, **kwargs)

    return wrapper


def submission_format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--format per-video|single-file`` (the test submission's format) as ``submission_format``."""
    from abaw.formats.types import SubmissionFormat

    return click.option(
        "--format",
        "submission_format",
        type=click.Choice([item.value for item in SubmissionFormat]),
        default=SubmissionFormat.PER_VIDEO.value,
        show_default=True,
        help="Format of the test submission: per-video files (2020-2022) or one file (2023 on).",
    )(command)


def labelled_split_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``--split val|train`` (a split with labels, validation by default) as ``split``."""
    return click.option(
        "--split",
        type=click.Choice([Split.VALIDATION.value, Split.TRAIN.value]),
        default=Split.VALIDATION.value,
        show_default=True,
        help=help,
    )


def comma_separated(
    convert: Callable[[str], T], what: str, example: str
) -> Callable[[click.Context, click.Parameter, str | None], list[T] | None]:
    """A click callback reading ``A,B,C`` into a list, each item through ``convert``.

    Args:
        convert: Reads one item; raises ``ValueError`` for a bad one.
        what: Names the items in the error, e.g. ``integers``.
        example: A valid value, shown in the error.

    Example:
        >>> comma_separated(float, "numbers", "1,2.5")(None, None, "1,0.5")
        [1.0, 0.5]
    """

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> list[T] | None:
        if value is None:
            return None
        try:
            return [convert(item) for item in value.split(",")]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated {what} such as {example}, got {value!r}") from None

    return parse
