"""Writing and checking challenge submissions.

:mod:`abaw.submission.writers` writes the per-video (2020-2022) and
single-file (2023 on) formats and zips them; :mod:`abaw.submission.check`
checks a submission before upload, listing every problem.
"""

from abaw.scoring.predictions import SubmissionFormat, VideoPrediction
from abaw.submission.check import SubmissionReport, check_submission
from abaw.submission.writers import (
    SubmissionWarning,
    fill_missing_frames,
    write_per_video,
    write_single_file,
    zip_submission,
)

__all__ = [
    "SubmissionFormat",
    "SubmissionReport",
    "SubmissionWarning",
    "VideoPrediction",
    "check_submission",
    "fill_missing_frames",
    "write_per_video",
    "write_single_file",
    "zip_submission",
]
