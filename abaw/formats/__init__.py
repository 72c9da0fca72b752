"""The challenge's file formats: one home for reading, writing and checking submissions.

:mod:`abaw.formats.types` names the two formats, their headers and the
prediction types; :mod:`abaw.formats.containers` lists the files of a
folder, a zip or one file, with archive safety and bounded reads;
:mod:`abaw.formats.readers` parses prediction and sample files;
:mod:`abaw.formats.writers` writes either format (filling missing frames)
and zips it; :mod:`abaw.formats.check` checks a submission before upload,
listing every problem. Nothing here scores: :mod:`abaw.scoring` reads
through this package, never the other way round.
"""

from abaw.formats.check import SubmissionReport, check_submission
from abaw.formats.readers import read_predictions, read_sample_file
from abaw.formats.types import PER_VIDEO_HEADER, SINGLE_FILE_HEADER, PredictionSet, SubmissionFormat, VideoPrediction
from abaw.formats.writers import (
    SubmissionWarning,
    fill_missing_frames,
    write_per_video,
    write_single_file,
    zip_submission,
)

__all__ = [
    "PER_VIDEO_HEADER",
    "SINGLE_FILE_HEADER",
    "PredictionSet",
    "SubmissionFormat",
    "SubmissionReport",
    "SubmissionWarning",
    "VideoPrediction",
    "check_submission",
    "fill_missing_frames",
    "read_predictions",
    "read_sample_file",
    "write_per_video",
    "write_single_file",
    "zip_submission",
]
