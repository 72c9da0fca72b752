"""In-the-wild degradations of the generated faces, and datasets of many short clips (many identities)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from abaw.cli import cli
from abaw.data.layout import Split
from abaw.data.names import video_stem
from abaw.errors import DataError
from abaw.synthetic import GeneratedDataset, GeneratorConfig, generate_dataset
from abaw.synthetic.audio import voice_track
from abaw.synthetic.degradations import Degradation, read_degradations
from abaw.synthetic.faces import draw_face
from abaw.synthetic.plan import DegradedRun, plan_videos
from abaw.synthetic.wild import degrade_capture, degrade_scene

SMALL = GeneratorConfig(videos=6, frames=40, seed=5)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedDataset, GeneratedDataset]:
    """The same small dataset with its default degradations and with none."""
    folder = tmp_path_factory.mktemp("wild")
    return (
        generate_dataset(folder / "wild", SMALL),
        generate_dataset(folder / "clean", replace(SMALL, degraded_share=0.0)),
    )


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32)


def _high_frequency(pixels: np.ndarray) -> float:
    grey = pixels.mean(axis=-1)
    return float(np.mean(np.diff(grey, axis=0) ** 2) + np.mean(np.diff(grey, axis=1) ** 2))


# --------------------------------------------------------------------------- the record and the images


def test_the_record_on_disk_is_the_one_returned(pair: tuple[GeneratedDataset, GeneratedDataset]) -> None:
    wild, clean = pair
    records = read_degradations(wild.root)
    assert set(records) == set(wild.entries)
    for name, entry in wild.entries.items():
        assert records[name] == entry.degradations
        assert len(records[name]) == entry.label_rows
        # Rows without a decoded frame (the organisers' extra label lines) are clean.
        assert not records[name].mask()[entry.frames :].any()
    manifest = json.loads(wild.manifest.read_text())
    assert all((wild.root / item["degradations"]).is_file() for item in manifest["entries"].values())
    assert not any(record.mask().any() for record in read_degradations(clean.root).values())


def test_a_clean_frame_is_its_clean_rendering_and_a_degraded_one_is_not(
    pair: tuple[GeneratedDataset, GeneratedDataset],
) -> None:
    wild, clean = pair
    degraded_seen = clean_seen = 0
    for name, entry in wild.entries.items():
        mask = entry.degradations.mask()
        for number in entry.image_numbers:
            ours = (entry.frames_dir / f"{number:05d}.jpg").read_bytes()
            theirs = (clean.entries[name].frames_dir / f"{number:05d}.jpg").read_bytes()
            if mask[number - 1]:
                degraded_seen += 1
                difference = np.abs(
                    _pixels(entry.frames_dir / f"{number:05d}.jpg")
                    - _pixels(clean.entries[name].frames_dir / f"{number:05d}.jpg")
                )
                assert difference.mean() > 1.0, (name, number, entry.degradations.rows[number - 1])
            else:
                clean_seen += 1
                assert ours == theirs, (name, number)
    assert degraded_seen > 30 and clean_seen > 100
    # The labels do not move when degradations are switched on.
    for name, entry in wild.entries.items():
        assert entry.labels_file.read_text() == clean.entries[name].labels_file.read_text()


def test_blurred_crops_lose_detail_and_dark_ones_light(pair: tuple[GeneratedDataset, GeneratedDataset]) -> None:
    wild, clean = pair
    checked: dict[Degradation, int] = {}
    for name, entry in wild.entries.items():
        for number in entry.image_numbers:
            kinds = entry.degradations.rows[number - 1]
            if len(kinds) != 1:
                continue
            (kind,) = kinds
            ours = _pixels(entry.frames_dir / f"{number:05d}.jpg")
            theirs = _pixels(clean.entries[name].frames_dir / f"{number:05d}.jpg")
            if kind in (Degradation.MOTION_BLUR, Degradation.LOW_RESOLUTION):
                assert _high_frequency(ours) < _high_frequency(theirs)
            elif kind is Degradation.UNDEREXPOSURE:
                assert ours.mean() < theirs.mean() - 10
            elif kind is Degradation.OVEREXPOSURE:
                assert ours.mean() > theirs.mean() + 10
            else:
                continue
            checked[kind] = checked.get(kind, 0) + 1
    assert len(checked) >= 3, checked


@pytest.mark.parametrize("kind", list(Degradation))
def test_every_degradation_changes_the_face_its_own_way(kind: Degradation) -> None:
    person = plan_videos(SMALL)[0].persons[0]
    face = draw_face(person.look, 0.4, 0.5, 3)
    clean = np.asarray(face, dtype=np.float32)
    changed = []
    for strength in (0.3, 1.0):
        run = DegradedRun(kinds=frozenset({kind}), start=0, stop=10, strength=strength, seed=11)
        image = degrade_capture(degrade_scene(face, person.look, 3, [run]), 3, [run])
        again = degrade_capture(degrade_scene(face, person.look, 3, [run]), 3, [run])
        pixels = np.asarray(image, dtype=np.float32)
        assert image.size == face.size and image.mode == "RGB"
        assert np.array_equal(pixels, np.asarray(again, dtype=np.float32)), "not deterministic"
        changed.append(float(np.abs(pixels - clean).mean()))
        if kind in (Degradation.MOTION_BLUR, Degradation.LOW_RESOLUTION):
            assert _high_frequency(pixels) < 0.8 * _high_frequency(clean)
        elif kind is Degradation.SENSOR_NOISE:
            assert _high_frequency(pixels) > 1.1 * _high_frequency(clean)
        elif kind is Degradation.UNDEREXPOSURE:
            assert pixels.mean() < clean.mean() - 15
        elif kind is Degradation.OVEREXPOSURE:
            assert pixels.mean() > clean.mean() + 15
    assert changed[0] > 0.5
    if kind is not Degradation.SENSOR_NOISE:  # noise adds as much wherever it is strong enough to see
        assert changed[0] < changed[1], "a stronger run should change the face more"


# --------------------------------------------------------------------------- where and how often


def _plan_shares(config: GeneratorConfig) -> tuple[dict[Split, float], dict[Degradation, float], list]:
    persons = [person for video in plan_videos(config) for person in video.persons]
    by_split: dict[Split, list[np.ndarray]] = {}
    for person in persons:
        by_split.setdefault(person.split, []).append(person.degradation_record().mask())
    shares = {split: float(np.concatenate(masks).mean()) for split, masks in by_split.items()}
    every = [person.degradation_record() for person in persons]
    rows = sum(len(record) for record in every)
    kinds = {kind: sum(int(record.mask(kind).sum()) for record in every) / rows for kind in Degradation}
    return shares, kinds, persons


@pytest.mark.parametrize("share", [0.3, 0.15])
def test_every_split_gets_about_the_configured_share_in_runs(share: float) -> None:
    config = replace(GeneratorConfig.many_identities(), degraded_share=share)
    shares, kinds, persons = _plan_shares(config)
    assert set(shares) == set(Split)
    for split, value in shares.items():
        assert abs(value - share) < 0.05, (split, value)
    assert all(value > 0 for value in kinds.values()), kinds
    for person in persons:
        for run in person.degraded_runs:
            assert 5 <= run.stop - run.start <= 40 and 0.25 <= run.strength <= 1.0
    # Some persons, not all, have a stretch where the face itself says less.
    hidden = [any(kind.hides_face for run in person.degraded_runs for kind in run.kinds) for person in persons]
    assert 0.2 < np.mean(hidden) < 0.8


def test_no_share_means_no_runs() -> None:
    shares, _, persons = _plan_shares(replace(SMALL, degraded_share=0.0))
    assert all(value == 0 for value in shares.values())
    assert all(person.degraded_runs == () for person in persons)


def test_the_plan_is_the_same_for_a_seed_and_differs_across_seeds() -> None:
    def runs(seed: int) -> list:
        return [p.degraded_runs for v in plan_videos(replace(SMALL, seed=seed)) for p in v.persons]

    assert runs(5) == runs(5)
    assert runs(5) != runs(6)


def test_the_voice_still_follows_arousal_where_the_face_is_hidden() -> None:
    # The soundtrack does not depend on the faces: degraded or hidden, the voice is the same.
    with_runs = plan_videos(SMALL)
    without = plan_videos(replace(SMALL, degraded_share=0.0))
    assert any(person.degraded_runs for video in with_runs for person in video.persons)
    for number, (ours, theirs) in enumerate(zip(with_runs, without, strict=True)):
        assert np.array_equal(voice_track(ours, SMALL.seed, number), voice_track(theirs, SMALL.seed, number))


def test_bad_share_is_one_line() -> None:
    with pytest.raises(DataError, match=r"degraded_share must be between 0 and 0\.8, got 0\.9"):
        GeneratorConfig(degraded_share=0.9)


# --------------------------------------------------------------------------- many identities


def test_many_identities_names_are_unique_aff_wild2_names() -> None:
    config = GeneratorConfig.many_identities()
    assert config.videos >= 40 and config.videos * config.frames <= 1800
    plan = plan_videos(replace(config, videos=80))
    names = [person.name for video in plan for person in video.persons]
    stems = [video.stem for video in plan]
    assert len(names) == 80 == len(set(names)) and len(stems) == len(set(stems))
    style = re.compile(r"^(\d+|video\d+|\d+-\d+-\d+x\d+)(_\d)?$")
    assert all(style.match(stem) for stem in stems), stems
    assert {video_stem(name) for name in names} == set(stems)
    assert {"video10_1_left", "video2_left", "video2", "video45_2_right"} <= set(names)
    # Looks vary beyond skin and hair.
    looks = [person.look for video in plan for person in video.persons]
    assert 0 < sum(look.glasses is not None for look in looks) < 80
    assert 0 < sum(look.beard for look in looks) < 80
    assert len({look.skin for look in looks}) > 60


@pytest.mark.slow
def test_a_many_identity_dataset_indexes_and_checks_cleanly(tmp_path: Path) -> None:
    config = replace(GeneratorConfig.many_identities(), frames=12)
    dataset = generate_dataset(tmp_path / "data", config)
    assert len(dataset.entries) == config.videos
    assert {split: len(dataset.names(split)) for split in Split} == {
        Split.TRAIN: 20,
        Split.VALIDATION: 10,
        Split.TEST: 10,
    }
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        ["-q", "data", "check", "--root", str(dataset.root), "--cache", str(tmp_path / "c"), "--json", str(report)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(report.read_text())
    assert payload["usable"] is True
    assert {entry["name"] for entry in payload["entries"]} == set(dataset.entries)
    usable = {split["split"]: split["usable_frames"] for split in payload["splits"]}
    assert usable["train"] > 0 and usable["val"] > 0
