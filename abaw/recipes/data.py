"""The generated dataset a recipe runs on: reused when it was generated alike, generated otherwise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from abaw.errors import DataError, OutputExistsError
from abaw.messages import first_difference
from abaw.outputs import OutputKind, read_marker
from abaw.progress import ProgressFn, no_progress
from abaw.synthetic import GeneratorConfig, generate_dataset

LogFn = Callable[[str], None]


def prepare_dataset(
    data_dir: Path,
    config: GeneratorConfig,
    force: bool,
    progress: ProgressFn = no_progress,
    log: LogFn = lambda message: None,
) -> tuple[Path, bool]:
    """Reuse ``data_dir`` when it was generated with ``config``, else generate it; ``(root, reused)``.

    A folder that is not a generated dataset is never replaced, even with ``force``.

    Raises:
        OutputExistsError: ``data_dir`` was generated with other settings and ``force`` is false.
        DataError: ``data_dir`` exists and is not a generated dataset.
    """
    if data_dir.exists() and any(data_dir.iterdir()):
        marker = read_marker(data_dir)
        if marker is None or marker.get("kind") != OutputKind.DATASET.value:
            raise DataError("exists and is not a dataset made by abaw; choose another --data folder", path=data_dir)
        if marker.get("config") == config.to_dict():
            log(f"reusing the generated dataset in {data_dir}")
            return data_dir, True
        if not force:
            difference = first_difference(marker.get("config") or {}, config.to_dict())
            raise OutputExistsError(
                f"was generated with other settings ({difference}); pass --force to regenerate it", data_dir
            )
    log(f"generating the dataset in {data_dir}")
    generated = generate_dataset(data_dir, config, force=True, progress=progress)
    return generated.root, False
