"""Valence and arousal of one video over time, labels against predictions (the paper's Fig. 3).

:func:`affect_series` turns an entry's labels and predictions into the
arrays that are drawn, so what a figure shows can be checked without
looking at pixels; :func:`plot_affect_over_time` draws and writes them.

Figures are built with matplotlib's object-oriented API on an explicit Agg
canvas rather than through ``pyplot``: nothing changes the process-wide
backend (a notebook importing the toolkit keeps its own), no display is
needed, and a figure is freed as soon as it goes out of scope, so none is
left open. :func:`save_figure` is shared with :mod:`abaw.plots.reconstruction`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from abaw.data.annotations import valid_rows
from abaw.fileio import atomic_output_file
from abaw.formats.types import VideoPrediction
from abaw.formats.writers import fill_missing_frames
from abaw.scoring.metrics import ccc

__all__ = ["AffectSeries", "affect_series", "new_figure", "plot_affect_over_time", "save_figure"]

DIMENSIONS = ("valence", "arousal")
LABEL_COLOUR = "black"
PREDICTION_COLOUR = "tab:orange"
NO_FACE_COLOUR = "#d9d9f0"
DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas, with constrained layout."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, force: bool = False) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically (the folder is created) and return the path.

    Raises:
        OutputExistsError: when ``path`` exists and ``force`` is false.
    """
    path = Path(path)
    with atomic_output_file(path, force=force) as tmp:
        # The temporary name ends in .tmp, so the format cannot be guessed from it.
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


@dataclass(frozen=True)
class AffectSeries:
    """What an affect figure draws, one row per video frame ``1..len(frames)``.

    Attributes:
        frames: ``int64`` 1-based frame numbers.
        fps: The video's frame rate, ``None`` when unknown.
        true: ``float64`` ``(n, 2)`` valence and arousal labels; NaN where a
            frame is not annotated (a ``-5`` label line) or has no label line.
        predicted: ``float64`` ``(n, 2)`` predictions clipped to [-1, 1], every
            video frame filled from the nearest predicted frame as in a
            submission; NaN for label lines past the video's last frame.
        has_face: Whether each frame has a face image (other frames' predictions are filled in).
        ccc: Per-video CCC of valence and arousal over the annotated frames of
            the video, as ``abaw score`` would compute for this video alone;
            ``None`` when no frame is annotated.
    """

    frames: np.ndarray
    fps: float | None
    true: np.ndarray
    predicted: np.ndarray
    has_face: np.ndarray
    ccc: tuple[float, float] | None

    @property
    def seconds(self) -> np.ndarray | None:
        """Start time of each frame, ``(frame - 1) / fps``; ``None`` when the fps is unknown."""
        return None if self.fps is None else (self.frames - 1) / self.fps

    @property
    def x(self) -> np.ndarray:
        """The horizontal positions: seconds, or frame numbers when the fps is unknown."""
        seconds = self.seconds
        return self.frames.astype(np.float64) if seconds is None else seconds

    @property
    def x_step(self) -> float:
        """The width of one frame on the horizontal axis."""
        return 1.0 if self.fps is None else 1.0 / self.fps

    @property
    def x_label(self) -> str:
        """The horizontal axis' label."""
        return "frame (fps unknown)" if self.fps is None else "time (s)"

    @property
    def filled(self) -> np.ndarray:
        """Video frames without a face image, whose prediction is copied from the nearest face frame."""
        return ~self.has_face & np.isfinite(self.predicted[:, 0])

    @property
    def filled_runs(self) -> list[tuple[int, int]]:
        """``(first, last)`` 1-based frame ranges of :attr:`filled` frames.

        Example:
            >>> series = affect_series([[0.1, 0.1]] * 6, VideoPrediction([1, 2, 5], [[0.0, 0.0]] * 3), None)
            >>> series.filled_runs
            [(3, 4), (6, 6)]
        """
        missing = np.concatenate(([False], self.filled, [False])).astype(np.int8)
        edges = np.flatnonzero(np.diff(missing))
        return [(int(start) + 1, int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]


def affect_series(
    true_values: np.ndarray,
    predictions: VideoPrediction | np.ndarray,
    fps: float | None,
    *,
    face_frames: np.ndarray | None = None,
    frame_count: int | None = None,
) -> AffectSeries:
    """Line up an entry's labels and predictions frame by frame.

    Args:
        true_values: ``(rows, 2)`` labels as in an annotation file, ``-5`` where not annotated.
        predictions: Predicted frames of the video (a :class:`VideoPrediction`,
            e.g. face frames only), or a ``(k, 2)`` array for frames ``1..k``
            as a per-video prediction file holds them.
        fps: The video's frame rate; ``None`` puts frame numbers on the time axis.
        face_frames: 1-based frames that have a face image; default the predicted frames.
        frame_count: Frames of the video; default the larger of the label lines
            and the last predicted frame. Label lines past it are drawn but
            not scored, as ``abaw score`` does.

    Returns:
        The series to draw, with the per-video CCC.

    Raises:
        PredictionError: for a predicted frame past ``frame_count``.

    Example:
        >>> labels = np.array([[0.5, 0.1], [-5, -5], [0.1, 0.3]])
        >>> series = affect_series(labels, VideoPrediction([1, 3], [[0.4, 0.1], [0.2, 0.3]]), fps=2.0)
        >>> series.true[:, 0].tolist()
        [0.5, nan, 0.1]
        >>> series.predicted[:, 0].tolist(), series.has_face.tolist(), series.seconds.tolist()
        ([0.4, 0.4, 0.2], [True, False, True], [0.0, 0.5, 1.0])
    """
    labels = np.asarray(true_values, dtype=np.float64).reshape(-1, 2)
    if not isinstance(predictions, VideoPrediction):
        predictions = VideoPrediction.consecutive(np.asarray(predictions, dtype=np.float64).reshape(-1, 2))
    last_predicted = int(predictions.frames[-1]) if len(predictions) else 0
    video_frames = max(len(labels), last_predicted) if frame_count is None else int(frame_count)
    n = max(len(labels), video_frames)
    frames = np.arange(1, n + 1, dtype=np.int64)

    true = np.full((n, 2), np.nan)
    annotated = np.zeros(n, dtype=bool)
    annotated[: len(labels)] = valid_rows(labels)
    true[: len(labels)][annotated[: len(labels)]] = labels[annotated[: len(labels)]]

    predicted = np.full((n, 2), np.nan)
    filled = fill_missing_frames(video_frames, predictions.frames, predictions.values, source=predictions.source)
    predicted[:video_frames] = np.clip(filled, -1.0, 1.0)

    shown_faces = predictions.frames if face_frames is None else np.asarray(face_frames)
    has_face = np.isin(frames, shown_faces)

    scored = annotated.copy()
    scored[video_frames:] = False
    scores = None
    if scored.any():
        scores = (
            ccc(predicted[scored, 0], true[scored, 0]),
            ccc(predicted[scored, 1], true[scored, 1]),
        )
    rate = float(fps) if fps else None
    return AffectSeries(frames, rate, true, predicted, has_face, scores)


def _title(entry_name: str, series: AffectSeries) -> str:
    if series.ccc is None:
        return f"{entry_name}: no annotated frame, no CCC"
    return f"{entry_name}    CCC valence {series.ccc[0]:.3f}, arousal {series.ccc[1]:.3f}"


def plot_affect_over_time(
    entry_name: str,
    true_values: np.ndarray,
    predictions: VideoPrediction | np.ndarray,
    fps: float | None,
    path: str | os.PathLike,
    *,
    face_frames: np.ndarray | None = None,
    frame_count: int | None = None,
    force: bool = False,
) -> AffectSeries:
    """Draw valence and arousal of one video over time and write the PNG.

    Two stacked panels share the time axis; each shows the labels (gaps
    where not annotated) and the prediction, with frames that have no face
    image shaded: their predictions are copied from the nearest face frame.
    The title gives the per-video CCC.

    Args:
        entry_name: Named in the title.
        true_values, predictions, fps, face_frames, frame_count: See :func:`affect_series`.
        path: The PNG to write (its folder is created).
        force: Replace an existing file.

    Returns:
        The series drawn.

    Raises:
        OutputExistsError: when ``path`` exists and ``force`` is false.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "affect_video1.png"
        >>> series = plot_affect_over_time("video1", [[0.1, 0.2], [-5, -5], [0.3, 0.1]],
        ...                                [[0.2, 0.2], [0.2, 0.1], [0.3, 0.0]], fps=30.0, path=out)
        >>> out.is_file(), len(series.frames)
        (True, 3)
    """
    series = affect_series(true_values, predictions, fps, face_frames=face_frames, frame_count=frame_count)
    figure = new_figure(11.0, 5.5)
    axes = figure.subplots(2, 1, sharex=True)
    x, step = series.x, series.x_step
    # One frame of a long video is narrower than a pixel: widen short runs to stay visible, centred on them.
    least = (len(x) * step) / 500.0
    runs = []
    for first, last in series.filled_runs:
        width = (last - first + 1) * step
        runs.append((x[first - 1] - step / 2 - max(0.0, least - width) / 2, max(width, least)))
    for k, (ax, dimension) in enumerate(zip(axes, DIMENSIONS, strict=True)):
        if runs:
            ax.broken_barh(runs, (-1.05, 2.1), facecolors=NO_FACE_COLOUR, edgecolors="none", zorder=0)
        ax.axhline(0.0, color="0.75", linewidth=0.6, zorder=1)
        (label_line,) = ax.plot(x, series.true[:, k], color=LABEL_COLOUR, linewidth=1.3, zorder=3)
        (prediction_line,) = ax.plot(x, series.predicted[:, k], color=PREDICTION_COLOUR, linewidth=1.3, zorder=2)
        # A little room beyond [-1, 1] keeps lines at the bounds from merging into the frame.
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks([-1.0, -0.5, 0.0, 0.5, 1.0])
        ax.set_ylabel(dimension)
        ax.grid(axis="y", color="0.9", linewidth=0.5)
        if len(x):
            ax.set_xlim(x[0] - step / 2, x[-1] + step / 2)
    axes[-1].set_xlabel(series.x_label)
    label_line.set_label("label (gaps: not annotated)")
    prediction_line.set_label("prediction")
    handles = [label_line, prediction_line]
    if runs:
        handles.append(Patch(facecolor=NO_FACE_COLOUR, label="no face image (prediction from nearest face frame)"))
    figure.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize="small")
    figure.suptitle(_title(entry_name, series))
    save_figure(figure, path, force=force)
    return series
