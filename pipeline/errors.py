"""The project's own error types. Stages turn these (and only these) into a one-line message
and exit code 1; any other exception is a bug and keeps its traceback.

Every subclass also derives from ``ValueError`` so callers that catch the broad type keep
working; the message always names the file or params key at fault.
"""
from __future__ import annotations


class PipelineError(Exception):
    """An expected problem with the user's input, settings or files; the message says which
    file or key and what is wrong."""


class InputError(PipelineError, ValueError):
    """A generic bad input that has no more specific type (a cache that does not match, a
    missing file a stage needs)."""


class TrainingError(PipelineError, ValueError):
    """Training cannot produce a correct model (a non-finite loss, an unusable checkpoint)."""


class ParamsError(PipelineError, ValueError):
    """A params.yaml problem; the message names the offending key."""


class DatasetError(PipelineError, ValueError):
    """A dataset folder that cannot be read; the message says what layout was expected."""


def yaml_problem(error: Exception) -> str:
    """A YAML parser's error in one line: what is wrong and where (ruamel's message spans several
    lines and opens with its context, e.g. "while constructing a mapping", not the problem)."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class ProjectError(PipelineError, ValueError):
    """A workspace's input that is missing, or a stage that failed when run in a workspace."""
