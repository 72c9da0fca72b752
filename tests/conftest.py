"""Shared fixtures: one small generated dataset per test session, copied when a test changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from abaw.data.generate import GeneratedDataset, GeneratorConfig, generate_dataset


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """A generated dataset of 10 entries (all quirks present) that tests must not modify."""
    return generate_dataset(tmp_path_factory.mktemp("generated") / "data", GeneratorConfig(videos=10, frames=30))


@pytest.fixture
def dataset_copy(generated: GeneratedDataset, tmp_path: Path) -> Path:
    """A private copy of the generated dataset, for tests that damage it."""
    return Path(shutil.copytree(generated.root, tmp_path / "data", symlinks=True))
