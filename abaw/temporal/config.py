"""The settings of ``abaw temporal train``: stored in every checkpoint, so a run resumes and predicts from them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from abaw.choices import parse_enum
from abaw.data.layout import Split
from abaw.data.sequences import parse_feature_names
from abaw.data.source import DatasetSource
from abaw.errors import ConfigError
from abaw.fitting.settings import RunSettings
from abaw.model import ModelFamily, list_models, model_config
from abaw.model.temporal import LinearTemporalConfig, TemporalModelConfig


class TemporalProtocol(str, Enum):
    """What a temporal run trains on.

    ``val``: train on Train, keep the best Validation epoch. ``final``: train
    on Train+Validation for fixed epochs. ``kfold``: K models, each trained on
    the other folds of Train+Validation (folds by video) and scored on its own.
    ``heldout``: the same over Validation alone: a second stage fitted only on
    videos its per-frame embeddings never trained on, as they were trained on Train.
    """

    VAL = "val"
    FINAL = "final"
    KFOLD = "kfold"
    HELDOUT = "heldout"

    @property
    def train_splits(self) -> tuple[Split, ...]:
        """The splits the run draws its training entries from.

        Example:
            >>> [split.value for split in TemporalProtocol.HELDOUT.train_splits]
            ['val']
        """
        if self is TemporalProtocol.VAL:
            return (Split.TRAIN,)
        if self is TemporalProtocol.HELDOUT:
            return (Split.VALIDATION,)
        return (Split.TRAIN, Split.VALIDATION)

    @property
    def by_folds(self) -> bool:
        """Whether the run trains one model per fold of videos (kfold, heldout)."""
        return self in (TemporalProtocol.KFOLD, TemporalProtocol.HELDOUT)


class TemporalLoss(str, Enum):
    """``affect``: the toolkit's class-balanced RMSE - PCC - CCC; ``ccc``: 1 - CCC per dimension."""

    AFFECT = "affect"
    CCC = "ccc"


class TemporalFusion(str, Enum):
    """How the feature sources meet: ``joint``: one projection of every column; ``sources``: each source
    projected and normalised on its own, the projections averaged (see :class:`~abaw.model.temporal.SourceFusion`).
    """

    JOINT = "joint"
    SOURCES = "sources"


@dataclass
class TemporalConfig(RunSettings):
    """Every setting of a temporal run (see ``abaw temporal train --help``).

    Attributes:
        features: Feature sources, embedding caches and/or ``audio``.
        model: A registered temporal model (tcn, gru, transformer, ridge).
        protocol: val, final, kfold or heldout.
        folds: K of the kfold and heldout protocols.
        fold: The fold a member run holds out (set by the kfold and heldout protocols), else ``None``.
        window: Frames per training window (and per inference window).
        stride: Frames between training windows [default: window / 2].
        epochs, batch_size, lr, weight_decay: AdamW training.
        loss: affect or ccc.
        hidden, layers, dropout, kernel, heads, causal: The model's sizes (see :class:`TemporalModelConfig`).
        fusion: joint or sources (networks).
        source_dropout: sources fusion: the chance a source is left out of a training window.
        spans: ridge: half-widths of the windows averaged around each frame (see :class:`LinearTemporalConfig`).
        alphas: ridge: the regularisations tried for each source, chosen by ``folds`` folds over the training videos.
        max_rows: ridge: frames fitted on at most (every k-th annotated frame beyond).
        seed: Seeds initialisation, shuffling and dropout.
        device: auto, cpu or cuda.
        dataset: The dataset trained on.
    """

    features: tuple[str, ...] = ("audio",)
    model: str = "tcn"
    protocol: TemporalProtocol = TemporalProtocol.VAL
    folds: int = 5
    fold: int | None = None
    window: int = 256
    stride: int | None = None
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-2
    loss: TemporalLoss = TemporalLoss.AFFECT
    hidden: int = 128
    layers: int = 4
    dropout: float = 0.1
    kernel: int = 3
    heads: int = 4
    causal: bool = False
    fusion: TemporalFusion = TemporalFusion.JOINT
    source_dropout: float = 0.0
    spans: tuple[int, ...] = (7,)
    alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)
    max_rows: int = 200_000
    seed: int = 0
    device: str = "auto"
    dataset: DatasetSource | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dataset, dict):
            self.dataset = DatasetSource.from_dict(self.dataset) if self.dataset else None
        self.features = parse_feature_names(self.features)
        self.protocol = parse_enum(TemporalProtocol, self.protocol, "protocol")
        self.loss = parse_enum(TemporalLoss, self.loss, "loss")
        self.fusion = parse_enum(TemporalFusion, self.fusion, "fusion")
        known = list_models(family=ModelFamily.TEMPORAL)
        if self.model not in known:
            raise ConfigError(f"unknown temporal model {self.model!r}; known: {', '.join(known)}")
        self.spans = tuple(int(span) for span in self.spans)
        self.alphas = tuple(float(alpha) for alpha in self.alphas)
        if not self.alphas or any(not alpha > 0 for alpha in self.alphas):
            raise ConfigError(f"alphas must be positive numbers, got {list(self.alphas)}")
        for name in ("window", "epochs", "batch_size", "folds", "max_rows"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.protocol.by_folds and self.folds < 2:
            raise ConfigError(f"--folds must be at least 2, got {self.folds}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"stride must be at least 1, got {self.stride}")
        for name in ("lr",):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be 0 or more, got {self.weight_decay}")

    @property
    def train_stride(self) -> int:
        """Frames between training windows: ``stride``, else half a window."""
        return self.stride if self.stride is not None else max(1, self.window // 2)

    @property
    def closed_form(self) -> bool:
        """Whether the model is fitted in one step (ridge) rather than trained over epochs.

        Example:
            >>> TemporalConfig(model="ridge").closed_form, TemporalConfig().closed_form
            (True, False)
        """
        return isinstance(model_config(self.model), LinearTemporalConfig)

    def model_config(
        self, input_dim: int, visual_dim: int, sources: tuple[int, ...] = ()
    ) -> TemporalModelConfig | LinearTemporalConfig:
        """The model's config for inputs of ``input_dim`` columns, the first ``visual_dim`` visual.

        ``sources`` gives the sources' widths in column order (the ``sources`` fusion needs them).

        Each model takes the settings it has a field for (the networks their
        sizes, the ridge its spans).

        Raises:
            ConfigError: for sizes the model refuses.
        """
        settings = {
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "kernel": self.kernel,
            "heads": self.heads,
            "causal": self.causal,
            "spans": self.spans,
            "source_dropout": self.source_dropout,
            "sources": tuple(sources) if self.fusion is TemporalFusion.SOURCES else (),
        }
        fields = {item.name for item in dataclasses.fields(model_config(self.model))}
        taken = {name: value for name, value in settings.items() if name in fields}
        try:
            return model_config(self.model, input_dim=input_dim, visual_dim=visual_dim, **taken)
        except ValueError as error:
            raise ConfigError(f"model {self.model}: {error}") from None
