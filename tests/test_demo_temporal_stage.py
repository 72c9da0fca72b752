"""The demo's temporal stage (``abaw/recipes/temporal_stage.py``) with the quick recipe: outputs, scores, the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from abaw.cli import cli
from abaw.cli.render_demo import temporal_table
from abaw.data.embeddings import load_embeddings
from abaw.data.embeddings.cache import MANIFEST_NAME
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.recipes.demo import DemoResult, run_demo
from abaw.recipes.settings import DemoRecipe, TemporalRecipe
from abaw.recipes.state import RecipeRuntime


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """One quick demo with its temporal stage."""
    folder = tmp_path_factory.mktemp("demo-temporal")
    return run_demo(DemoRecipe.quick(), folder / "data", folder / "out", runtime=RecipeRuntime(workers=0))


@pytest.mark.slow
def test_temporal_stage_writes_its_run_and_validation_beside_the_other_stages(finished: DemoResult) -> None:
    stage = finished.temporal
    assert stage is not None and stage.base == finished.stages[-1].stage.paper_name
    assert stage.base_scores == finished.stages[-1].scores
    assert stage.run_dir == Path("runs") / "temporal" and finished.path(stage.run_dir / "best.pt").is_file()
    assert stage.checkpoint.parent == stage.run_dir and stage.predictions == Path("val") / "temporal"
    index = open_dataset(finished.data_dir)
    validation = sorted(entry.name for entry in index.split(Split.VALIDATION))
    assert sorted(path.stem for path in finished.path(stage.predictions).glob("*.txt")) == validation
    assert stage.features == (stage.embeddings, "audio")
    # Train and Validation were embedded with the base stage's checkpoint; the test entries were left out.
    base_checkpoint = finished.path(finished.stages[-1].checkpoint)
    embedded = load_embeddings(index, stage.embeddings, names=[*validation], checkpoint=base_checkpoint)
    assert embedded.dim > 0
    test_entry = next(entry.name for entry in index.split(Split.TEST))
    with pytest.raises(DataError, match="is missing"):
        load_embeddings(index, stage.embeddings, names=[test_entry])
    manifest = json.loads((embedded.folder / MANIFEST_NAME).read_text())
    assert manifest["variant"] == finished.stages[-1].stage.variant
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
    console = Console(width=200, record=True)
    console.print(temporal_table(finished))
    text = console.export_text()
    assert f"Temporal over {stage.embeddings} + audio" in text and f"{stage.base} (per frame)" in text
    assert f"{stage.gain:+.3f}" in text


def test_recipe_without_temporal_stage_draws_no_table(tmp_path: Path) -> None:
    recipe = DemoRecipe.quick()
    assert recipe.temporal == TemporalRecipe.quick() and recipe.to_dict()["temporal"]["epochs"] == 2
    assert DemoRecipe(temporal=None).to_dict()["temporal"] is None
    assert temporal_table(DemoResult(tmp_path, tmp_path, True, recipe)) is None
