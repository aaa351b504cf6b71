"""The study's expected errors: one line naming the file, key or command at fault."""
from __future__ import annotations

from pipeline.errors import PipelineError


class StudyError(PipelineError, ValueError):
    """A bad spec, a missing data folder, a run or experiment that failed."""


class RunsMissing(StudyError):
    """A run the study needs is not in its record, and the study was told to train nothing."""
