"""Shared fixtures: a generated and a foreign dataset per test session, copied when a test changes one."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from abaw.synthetic import GeneratedDataset, GeneratorConfig, generate_dataset
from tests.foreign import ForeignDataset, build_foreign_dataset


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """A generated dataset of 10 entries (all quirks present) that tests must not modify."""
    return generate_dataset(tmp_path_factory.mktemp("generated") / "data", GeneratorConfig(videos=10, frames=30))


@pytest.fixture
def dataset_copy(generated: GeneratedDataset, tmp_path: Path) -> Path:
    """A private copy of the generated dataset, for tests that damage it."""
    return Path(shutil.copytree(generated.root, tmp_path / "data", symlinks=True))


@pytest.fixture(scope="session")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> ForeignDataset:
    """A dataset written without the toolkit's generator (see ``tests/foreign.py``) that tests must not modify."""
    return build_foreign_dataset(tmp_path_factory.mktemp("foreign") / "data")


@pytest.fixture
def foreign_copy(foreign: ForeignDataset, tmp_path: Path) -> Path:
    """A private copy of the foreign dataset, for tests that damage it."""
    return Path(shutil.copytree(foreign.root, tmp_path / "foreign", symlinks=True))


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a real, full filesystem (a 64 KiB tmpfs, filled): writes there fail with ENOSPC.

    Skipped where the test cannot mount one (not root, or no mount permission).
    """
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with open(folder / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
