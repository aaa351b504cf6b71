"""Helpers shared by the end-to-end tests."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import stage_command


def stage(copy: Path, split: str, method: str) -> list[str]:
    """The student stage's dvc.yaml command (baseline or distill) with the long.yaml params."""
    return stage_command(copy, method, split, "--no-progress", params="long.yaml")
