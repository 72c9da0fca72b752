"""Progressive training: a chain of stages, each started from the previous stage's checkpoint.

The paper trains Disc, then AEG-CD from the Disc's best checkpoint, then
AEG-CD-SZ from the AEG-CD's. :func:`train_chain` runs such a chain into
``RUNS/<variant>/`` and continues an interrupted one: a finished stage is
skipped, a half-trained one resumed from its ``last.pt``.
:func:`train_stages` adds the output policy (``abaw train --stages``): the
chain is built in ``RUNS.partial`` and moved onto ``RUNS`` once complete
(:func:`abaw.outputs.staged_output`), and ``resume`` accepts only the recipe
the chain started with. Results name each stage's folder relative to the
chain's folder, and a stage's ``init`` names where the previous stage's
checkpoint is once the chain is complete, never its staging folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw.errors import AbawError, DataError
from abaw.fitting.records import MetricsLog
from abaw.outputs import OutputKind, Staging, staged_output
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.rundir import RunDir
from abaw.training.config import TrainConfig

if TYPE_CHECKING:
    from abaw.fitting.records import Reporter

# torch loads with the trainer, inside the functions below: the demo's recipe (and the CLI) import this module.

LogFn = Callable[[str], None]

PAPER_NAMES = {"disc": "Disc", "aeg-cd": "AEG-CD", "aeg-cd-sz": "AEG-CD-SZ"}
"""The paper's name of each progressive stage, as its Table II spells them."""

PAPER_CHAIN = tuple(PAPER_NAMES)
"""The paper's progressive chain: ``disc``, ``aeg-cd``, ``aeg-cd-sz``."""


@dataclass(frozen=True)
class Stage:
    """One stage of a progressive chain.

    Attributes:
        variant: Registered model variant; also the name of its run folder.
        epochs: Epochs to train.
        lr: Adam learning rate, or ``None`` for the chain's.
        n_critic: Discriminator iterations per generator iteration, or ``None`` for the chain's.
    """

    variant: str
    epochs: int
    lr: float | None = None
    n_critic: int | None = None

    @property
    def published_name(self) -> str:
        """The name of the stage's row in ``baselines/published_results.json`` (tiny variants share it).

        Example:
            >>> Stage("aeg-cd-tiny", 1).published_name
            'ALN AEG-CD'
        """
        base = self.variant.removesuffix("-tiny")
        return f"ALN {PAPER_NAMES.get(base, base)}"

    @property
    def paper_name(self) -> str:
        """The paper's name of the stage, e.g. ``AEG-CD-SZ`` (``AEG-CD-SZ-tiny`` for a tiny variant).

        Example:
            >>> Stage("aeg-cd-sz-tiny", 1).paper_name
            'AEG-CD-SZ-tiny'
        """
        base = self.variant.removesuffix("-tiny")
        name = PAPER_NAMES.get(base, self.variant)
        return f"{name}-tiny" if base != self.variant else name

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return self.__dict__.copy()


def parse_stages(variants: str, epochs: Sequence[int] | None, default_epochs: int) -> tuple[Stage, ...]:
    """The stages of ``--stages disc,aeg-cd,aeg-cd-sz`` with ``--epochs`` (one count per stage, or one for all).

    Raises:
        DataError: for an empty or repeated stage, an unknown variant, or
            epoch counts that do not match the stages.

    Example:
        >>> [(stage.variant, stage.epochs) for stage in parse_stages("disc, aeg-cd", [4, 2], 10)]
        [('disc', 4), ('aeg-cd', 2)]
    """
    names = [name.strip() for name in variants.split(",")]
    if not all(names):
        raise DataError(f"--stages: expected comma-separated variants such as disc,aeg-cd,aeg-cd-sz, got {variants!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"--stages: {', '.join(repeated)} given twice; each stage trains into its own folder")
    from abaw.training.prepare import variant_config

    for name in names:
        try:
            variant_config(name)
        except Exception as error:  # AbawError naming the known variants
            raise DataError(f"--stages: {error}") from None
    counts = list(epochs) if epochs else [default_epochs]
    if len(counts) == 1:
        counts *= len(names)
    return with_epochs(tuple(Stage(name, default_epochs) for name in names), counts)


def with_epochs(stages: tuple[Stage, ...], epochs: Sequence[int]) -> tuple[Stage, ...]:
    """``stages`` with one epoch count each.

    Raises:
        DataError: when the counts do not match the stages or one is below 1.

    Example:
        >>> [stage.epochs for stage in with_epochs((Stage("disc", 8), Stage("aeg-cd", 3)), [2, 1])]
        [2, 1]
    """
    if len(epochs) != len(stages) or any(count < 1 for count in epochs):
        raise DataError(f"give {len(stages)} epoch counts of at least 1 (one per stage), got {list(epochs)}")
    return tuple(replace(stage, epochs=count) for stage, count in zip(stages, epochs, strict=True))


@dataclass
class StageRun:
    """One trained stage of a chain.

    Attributes:
        stage: What was trained.
        run_dir: Its run folder (``config.yaml``, checkpoints, metrics), relative to the chain's folder.
        checkpoint: What the next stage starts from: ``best.pt``, else ``last.pt`` (final protocol);
            relative to the chain's folder.
        epochs: Epochs in its ``last.pt``.
        best_epoch: The best validation epoch (val protocol), else ``None``.
        best_ccc: The mean CCC of that epoch, else ``None``.
        train_seconds: Training time; for a stage a resumed chain found trained (whole or in part), the
            epochs' times from its metrics log.
    """

    stage: Stage
    run_dir: Path
    checkpoint: Path
    epochs: int
    best_epoch: int | None
    best_ccc: float | None
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "name": self.stage.paper_name,
            **self.stage.to_dict(),
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
            "epochs_trained": self.epochs,
            "best_epoch": self.best_epoch,
            "best_ccc_mean": self.best_ccc,
            "train_seconds": round(self.train_seconds, 1),
        }


@dataclass
class StagesResult:
    """What :func:`train_stages` trained and where.

    Attributes:
        out_dir: The chain's folder, one run folder per stage.
        stages: Each stage, in training order (paths relative to ``out_dir``).
    """

    out_dir: Path
    stages: list[StageRun] = field(default_factory=list)

    def path(self, relative: Path) -> Path:
        """Where a path a stage names lies: ``out_dir / relative``."""
        return self.out_dir / relative

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (for ``--json``)."""
        return {"out_dir": str(self.out_dir), "stages": [stage.to_dict() for stage in self.stages]}


def stage_config(base: TrainConfig, stage: Stage, init: Path | None) -> TrainConfig:
    """The settings of ``stage``: ``base`` with the stage's variant, epochs and overrides, started from ``init``.

    The first stage (``init`` is ``None``) keeps ``base.init``.
    """
    return base.replace(
        variant=stage.variant,
        epochs=stage.epochs,
        lr=stage.lr,
        n_critic=stage.n_critic,
        init=None if init is None else str(init),
    )


def _epoch_seconds(run: RunDir, epochs: int) -> float:
    """The training time of the first ``epochs`` (at least 1) epochs as the metrics log recorded them."""
    return float(sum(float(row.get("seconds", 0.0)) for row in MetricsLog(run.path, resume_epoch=epochs).rows))


def _finished_epochs(run_dir: Path) -> int:
    """Epochs in the ``last.pt`` of ``run_dir`` (or of its unfinished replacement), 0 when there is none."""
    from abaw.runtime.checkpoint import load_checkpoint

    last = RunDir(run_dir).resumed().last
    return int(load_checkpoint(last).get("epoch", 0)) if last.is_file() else 0


def train_stage(
    stage: Stage,
    config: TrainConfig,
    run_dir: Path,
    *,
    init_weights: Path | None = None,
    strict: bool = False,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
    log: LogFn = lambda message: None,
) -> StageRun:
    """Train one stage in ``run_dir``: from scratch, the rest of a half-trained run, or nothing when it is done.

    Args:
        stage: What to train.
        config: Its settings (see :func:`stage_config`).
        run_dir: Its run folder.
        init_weights: Where ``config.init``'s weights are read when they are not at that path yet.
        strict: Refuse any entry with an error instead of skipping it.
        reporter: Shows the training progress.
        progress: Progress bar for indexing and validation.
        log: Receives one line when the stage was trained before.

    Returns:
        The trained stage, its paths relative to ``run_dir``'s parent.
    """
    from abaw.runtime.checkpoint import load_checkpoint
    from abaw.training.trainer import resume_config, train

    done = _finished_epochs(run_dir)
    started = time.perf_counter()
    if done >= stage.epochs:
        log(f"{stage.paper_name}: {done} epochs already trained in {run_dir}")
    elif done:
        log(f"{stage.paper_name}: resuming after epoch {done}")
        resumed = resume_config(run_dir, device=config.device, workers=config.workers)
        train(resumed, run_dir, resume=True, strict=strict, reporter=reporter, progress=progress)
    else:
        train(
            config, run_dir, force=True, strict=strict, reporter=reporter, progress=progress, init_weights=init_weights
        )
    run = RunDir(run_dir)
    seconds = _epoch_seconds(run, stage.epochs) if done else time.perf_counter() - started
    last = load_checkpoint(run.last)
    best = last.get("best") or {}
    best_ccc = best.get("ccc_mean")
    return StageRun(
        stage,
        Path(run_dir.name),
        (run.best_or_last() or run.last).relative_to(run_dir.parent),
        int(last.get("epoch", 0)),
        best.get("epoch"),
        None if best_ccc is None else float(best_ccc),
        seconds,
    )


def train_chain(
    stages: Sequence[Stage],
    runs_dir: Path,
    base: TrainConfig,
    *,
    final_dir: Path | None = None,
    init_weights: Path | None = None,
    strict: bool = False,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
    log: LogFn = lambda message: None,
) -> list[StageRun]:
    """Train ``stages`` in order into ``runs_dir/<variant>``, each from the previous stage's checkpoint.

    A stage whose ``last.pt`` holds its epochs is skipped, a half-trained one
    resumed; so calling this again on an interrupted chain continues it. The
    caller owns ``runs_dir`` (:func:`train_stages` adds the output policy).

    Args:
        stages: The chain, in order.
        runs_dir: Folder of the stages' run folders.
        base: Settings shared by the stages (data, batch, seed, device...);
            ``base.init`` starts the first stage.
        final_dir: Where ``runs_dir`` will be once the output holding it is
            complete (a stage's ``init`` records it); ``runs_dir`` by default.
        init_weights: Where ``base.init``'s weights are read when they are not at that path yet.
        strict: Refuse any entry with an error instead of skipping it.
        reporter: Shows each stage's training progress.
        progress: Progress bar for indexing and validation.
        log: Receives one line per stage.

    Returns:
        Each stage's run, in training order, its paths relative to ``runs_dir``.

    Raises:
        AbawError: for bad data, settings or checkpoints (one line each).
    """
    final_dir = runs_dir if final_dir is None else final_dir
    runs: list[StageRun] = []
    for number, stage in enumerate(stages, start=1):
        log(f"stage {number}/{len(stages)}: {stage.paper_name} ({stage.variant}), {stage.epochs} epochs")
        previous = runs[-1].checkpoint if runs else None
        config = stage_config(base, stage, None if previous is None else final_dir / previous)
        weights = init_weights if previous is None else runs_dir / previous
        run = train_stage(
            stage,
            config,
            runs_dir / stage.variant,
            init_weights=weights,
            strict=strict,
            reporter=reporter,
            progress=progress,
            log=log,
        )
        runs.append(run)
    return runs


def stages_recipe(stages: Sequence[Stage], base: TrainConfig) -> dict[str, Any]:
    """What decides a chain's result, for ``recipe.json``: the stages and every setting but device and workers."""
    settings = {key: value for key, value in base.to_dict().items() if key not in ("device", "workers")}
    return {"stages": [stage.to_dict() for stage in stages], "config": settings}


def train_stages(
    stages: Sequence[Stage],
    out_dir: str | os.PathLike,
    base: TrainConfig,
    *,
    force: bool = False,
    resume: bool = False,
    strict: bool = False,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
    log: LogFn = lambda message: None,
) -> StagesResult:
    """Train a progressive chain into ``out_dir/<variant>`` (``abaw train --stages``), resumable as a whole.

    The chain is built in ``OUT.partial`` (holding ``recipe.json``) and moved
    onto ``out_dir`` once every stage is trained, so an earlier chain in
    ``out_dir`` stays as it was until then.

    Args:
        stages: The chain, in order (see :func:`parse_stages`).
        out_dir: The chain's folder.
        base: Settings shared by the stages; ``base.init`` starts the first.
        force: Replace an earlier chain (once the new one is complete), or
            start an interrupted one over.
        resume: Continue the interrupted chain: finished stages are kept, a
            half-trained one resumed; only the same stages and settings are accepted.
        strict: Refuse any entry with an error instead of skipping it.
        reporter: Shows each stage's training progress.
        progress: Progress bar for indexing and validation.
        log: Receives one line per stage.

    Returns:
        The chain's folder and each stage's run, its paths relative to that folder.

    Raises:
        AbawError: for bad settings, existing outputs or bad data (one line
            each), and under ``torchrun`` (every rank would write the chain's folder).
    """
    if (os.environ.get("WORLD_SIZE") or "1") != "1":
        raise AbawError("--stages runs in one process; under torchrun, train each stage alone with --init")
    with staged_output(
        out_dir,
        OutputKind.TRAIN_STAGES,
        staging=Staging.RESUMABLE,
        force=force,
        resume=resume,
        protect=base.require_dataset().read_paths(),
        recipe=stages_recipe(stages, base),
        what="chain of stages",
    ) as stage:
        runs = train_chain(
            stages,
            stage.path,
            base,
            final_dir=stage.target,
            strict=strict,
            reporter=reporter,
            progress=progress,
            log=log,
        )
    return StagesResult(stage.target, runs)
