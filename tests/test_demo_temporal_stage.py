"""The demo's temporal stage (``abaw/recipes/temporal_stage.py``) with the quick recipe: outputs, scores, the table."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from abaw.cli import cli
from abaw.cli.render_demo import stages_table
from abaw.data.embeddings import load_embeddings
from abaw.data.embeddings.cache import MANIFEST_NAME
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.prediction.ensemble import load_ensemble
from abaw.prediction.smoothing import apply_smoothing
from abaw.recipes.demo import Candidate, DemoResult, choose_submission, run_demo
from abaw.recipes.settings import DemoRecipe, TemporalRecipe
from abaw.recipes.state import RecipeRuntime
from abaw.runtime.evaluation import complete_predictions


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """One quick demo with its temporal stage."""
    folder = tmp_path_factory.mktemp("demo-temporal")
    return run_demo(DemoRecipe.quick(), folder / "data", folder / "out", runtime=RecipeRuntime(workers=0))


@pytest.mark.slow
def test_temporal_stage_writes_its_run_and_validation_beside_the_other_stages(finished: DemoResult) -> None:
    stage = finished.temporal
    best = max(finished.stages, key=lambda result: result.scores.ccc_mean)
    assert stage is not None and stage.base == best.stage.paper_name  # the best per-frame stage's embeddings
    assert stage.base_scores == best.scores
    assert stage.run_dir == Path("runs") / "temporal" and stage.predictions == Path("val") / "temporal"
    # Fitted by video folds over Validation (the recipe's heldout protocol): the run folder is the folds' ensemble.
    assert stage.protocol == "heldout" and stage.checkpoint == stage.run_dir and stage.best_epoch is None
    assert (finished.path(stage.run_dir) / "summary.json").is_file()
    assert finished.path(stage.run_dir / "fold-1" / "best.pt").is_file()
    index = open_dataset(finished.data_dir)
    validation = sorted(entry.name for entry in index.split(Split.VALIDATION))
    assert sorted(path.stem for path in finished.path(stage.predictions).glob("*.txt")) == validation
    for name in validation:  # Validation is scored on the folds' out-of-fold predictions, never in-sample ones
        written = finished.path(stage.predictions / f"{name}.txt").read_text()
        assert written == finished.path(stage.run_dir / "oof" / f"{name}.txt").read_text()
    assert stage.features == (stage.embeddings, "audio")
    # Validation and Test were embedded with the base stage's checkpoint (the temporal model may submit); Train,
    # which the heldout protocol does not read, was not.
    base_checkpoint = finished.path(best.checkpoint)
    read = sorted(entry.name for split in (Split.VALIDATION, Split.TEST) for entry in index.split(split))
    embedded = load_embeddings(index, stage.embeddings, names=read, checkpoint=base_checkpoint)
    assert embedded.dim > 0 and sorted(embedded.names) == read
    cached = {path.stem for path in embedded.folder.glob("*.npz")}
    assert cached == set(read) and not cached & {entry.name for entry in index.split(Split.TRAIN)}
    manifest = json.loads((embedded.folder / MANIFEST_NAME).read_text())
    assert manifest["variant"] == best.stage.variant
    assert manifest["checkpoint"] == str(base_checkpoint), (
        "the cache names the checkpoint where it is, never its staging"
    )
    assert {"embed", "temporal"} <= set(finished.seconds)


@pytest.mark.slow
def test_temporal_scores_are_what_abaw_score_reads_and_smoothing_never_loses(finished: DemoResult) -> None:
    stored = json.loads((finished.out_dir / "results.json").read_text(encoding="utf-8"))["temporal"]
    code = CliRunner().invoke(
        cli,
        ["-q", "score", str(finished.out_dir / stored["predictions"]), "--root", str(finished.data_dir), "--json", "-"],
    )
    assert code.exit_code == 0, code.stderr
    scored = json.loads(code.stdout)
    assert scored["ccc_mean"] == pytest.approx(stored["val"]["ccc_mean"], abs=1e-5)
    stage = finished.temporal
    assert stage is not None
    assert stored["gain_over_base"] == pytest.approx(stage.scores.ccc_mean - stage.base_scores.ccc_mean)
    for plan, scores in ((stage.smoothing, stage.scores), (stage.base_smoothing, stage.base_scores)):
        assert plan.valence.ccc_before == pytest.approx(scores.ccc_valence, abs=1e-6)
        assert plan.arousal.ccc_before == pytest.approx(scores.ccc_arousal, abs=1e-6)
        assert plan.ccc_after >= scores.ccc_mean - 1e-9
    console = Console(width=250, record=True)
    console.print(stages_table(finished))
    rows = [line.split("│")[1:-1] for line in console.export_text().splitlines() if line.startswith("│")]
    names = [cells[0].strip() for cells in rows]
    assert names[: len(finished.stages)] == [f"{result.stage.paper_name} (per frame)" for result in finished.stages]
    assert names[len(finished.stages)] == f"Temporal over {stage.embeddings} + audio"
    # Each stage is compared with the best of the stages before it, not only with the one it builds on.
    before = max(result.scores.ccc_mean for result in finished.stages)
    assert rows[len(finished.stages)][4].strip().startswith(f"{stage.scores.ccc_mean - before:+.3f}")
    assert names[-1] == f"submitted: {finished.submitted.name}"


@pytest.mark.slow
def test_the_submission_comes_from_the_candidate_that_scored_best_on_validation(finished: DemoResult) -> None:
    stored = json.loads((finished.out_dir / "results.json").read_text(encoding="utf-8"))
    scores = [candidate["ccc_mean"] for candidate in stored["candidates"]]
    assert stored["submitted"] == stored["candidates"][scores.index(max(scores))]
    names = [candidate["name"] for candidate in stored["candidates"]]
    assert "Temporal" in names and "Temporal, smoothed" in names and f"Temporal + {finished.temporal.base}" in names
    assert all(f"{result.stage.paper_name}, smoothed" in names for result in finished.stages)
    # The zip holds the chosen model's test predictions (smoothed when it is).
    index = open_dataset(finished.data_dir)
    chosen = finished.submitted
    predictions = load_ensemble([finished.path(path) for path in chosen.checkpoints], "cpu").predict(
        index, Split.TEST, workers=0
    )
    counts = index.frame_counts(Split.TEST)
    if chosen.smoothing is not None:
        predictions = apply_smoothing(predictions, counts, chosen.smoothing)
    name = sorted(counts)[0]
    with zipfile.ZipFile(finished.out_dir / "submission.zip") as archive:
        member = next(item for item in archive.namelist() if item.endswith(f"{name}.txt"))
        written = np.loadtxt(archive.open(member), delimiter=",", skiprows=1)
    expected = complete_predictions(predictions, {name: counts[name]})[name].values
    np.testing.assert_allclose(written, np.clip(expected, -1, 1), atol=1e-3)


def test_the_best_candidate_is_chosen_and_the_first_of_equals(tmp_path: Path) -> None:
    recipe = DemoRecipe.quick()
    assert recipe.temporal == TemporalRecipe.quick() and recipe.to_dict()["temporal"]["epochs"] == 2
    assert DemoRecipe(temporal=None).to_dict()["temporal"] is None
    assert stages_table(DemoResult(tmp_path, tmp_path, True, recipe)) is None
    first, second = Candidate("Disc", (Path("a"),), 0.5), Candidate("Disc, smoothed", (Path("a"),), 0.5)
    assert choose_submission([first, second, Candidate("AEG-CD", (Path("b"),), 0.4)]) is first
