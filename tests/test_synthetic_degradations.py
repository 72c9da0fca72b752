"""The generator's degradation record: the enumeration, the file format, its reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abaw.errors import DataError
from abaw.synthetic.degradations import (
    DEGRADATIONS_FOLDER,
    Degradation,
    DegradationRecord,
    degradations_path,
    read_degradations,
    write_degradations,
)


@pytest.mark.parametrize("kind", list(Degradation))
def test_every_degradation_round_trips_through_its_file(tmp_path: Path, kind: Degradation) -> None:
    others = [other for other in Degradation if other is not kind]
    record = DegradationRecord.from_rows([(), (kind,), (kind, others[0]), (others[1],), ()])
    path = write_degradations(tmp_path, "video8", record)
    assert path == degradations_path(tmp_path, "video8")
    assert path.read_text(encoding="utf-8").splitlines()[1] == kind.value
    back = read_degradations(tmp_path)
    assert back == {"video8": record}
    assert back["video8"].mask(kind).tolist() == [False, True, True, False, False]
    assert back["video8"].mask().tolist() == [False, True, True, True, False]
    assert back["video8"].share(kind) == pytest.approx(0.4)
    assert Degradation(kind.value) is kind
    assert kind.hides_face == (kind in (Degradation.OCCLUSION, Degradation.LOOKING_AWAY))


def test_names_on_a_line_are_written_in_a_fixed_order(tmp_path: Path) -> None:
    record = DegradationRecord.from_rows([(Degradation.JPEG, Degradation.MOTION_BLUR)])
    write_degradations(tmp_path, "118-30-640x480", record)
    assert degradations_path(tmp_path, "118-30-640x480").read_text(encoding="utf-8") == "motion_blur,jpeg\n"


def test_a_dataset_without_the_folder_has_no_records(tmp_path: Path) -> None:
    assert read_degradations(tmp_path) == {}
    assert read_degradations(tmp_path / "absent") == {}


def test_an_empty_record_has_no_share(tmp_path: Path) -> None:
    record = DegradationRecord.from_rows([])
    assert len(record) == 0 and record.share() == 0.0
    assert record.mask().dtype == np.bool_ and record.mask().shape == (0,)


def test_an_unknown_name_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / DEGRADATIONS_FOLDER
    folder.mkdir(parents=True)
    (folder / "video8.txt").write_text("\njpeg\njpeg,smudge\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_degradations(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'video8.txt'}:3: ")
    assert "'smudge'" in message and "motion_blur" in message
