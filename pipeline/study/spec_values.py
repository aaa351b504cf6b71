"""A study spec's values, checked: each a one-line ``StudyError`` naming the spec file and the key."""
from __future__ import annotations

from pathlib import Path

from pipeline.study.errors import StudyError

COST_KEYS = {"clip_seconds": True, "training_clips": True, "validation_clips": False, "run_seconds": False,
             "distill_factor": False, "experiment_seconds": False, "evaluate_seconds": False, "teachers_seconds": False,
             "setup_seconds": False}


def mapping_of(mapping, allowed, where: str, path: Path) -> dict:
    """``allowed``: key -> required (or a tuple of optional keys)."""
    if not isinstance(mapping, dict):
        raise StudyError(f"{path}: {where or 'the file'} must be a mapping of keys, got {type(mapping).__name__}")
    required = allowed if isinstance(allowed, dict) else dict.fromkeys(allowed, False)
    for key in mapping:
        if key not in required:
            raise StudyError(f"{path}: unknown key {where + '.' if where else ''}{key} "
                             f"(expected one of: {', '.join(required)})")
    for key, needed in required.items():
        if needed and key not in mapping:
            raise StudyError(f"{path}: missing key {where + '.' if where else ''}{key}")
    return mapping


def integers(value, key: str, path: Path, minimum: int = 0) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                            and v >= minimum for v in value):
        raise StudyError(f"{path}: {key} must be a non-empty list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        raise StudyError(f"{path}: {key} lists a value twice: {value!r}")
    return value


def override_list(value, key: str, path: Path) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise StudyError(f"{path}: {key} must be a list of key=value overrides, got {value!r}")
    return value


def text(value, key: str, path: Path) -> str:
    if not isinstance(value, str):
        raise StudyError(f"{path}: {key} must be text, got {value!r}")
    return value


def labelled_fraction(value, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise StudyError(f"{path}: {key} must be a labelled fraction in (0, 1], got {value!r}")
    return float(value)


def fraction_list(value, key: str, path: Path) -> list[float]:
    if not isinstance(value, list) or not value:
        raise StudyError(f"{path}: {key} must be a non-empty list of labelled fractions, got {value!r}")
    return [labelled_fraction(v, key, path) for v in value]


def teacher_candidates(raw, path: Path) -> dict[str, list[str]]:
    if not isinstance(raw, dict) or not raw:
        raise StudyError(f"{path}: teachers must map candidate names to overrides, got {raw!r}")
    return {str(name): override_list(overrides, f"teachers.{name}", path) for name, overrides in raw.items()}


def head_list(raw, path: Path) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(h, str) for h in raw) or len(set(raw)) < len(raw):
        raise StudyError(f"{path}: heads must be a non-empty list of distinct student heads, got {raw!r}")
    return raw


def class_pair_list(raw, path: Path) -> list[tuple[str, str]]:
    if not isinstance(raw, list) or not all(isinstance(pair, list) and len(pair) == 2
                                            and all(isinstance(c, str) for c in pair) for pair in raw):
        raise StudyError(f"{path}: class_pairs must be a list of [class, class] pairs, got {raw!r}")
    return [tuple(pair) for pair in raw]


def cost_model(raw, path: Path) -> dict:
    raw = mapping_of(raw, COST_KEYS, "cost", path)
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise StudyError(f"{path}: cost.{key} must be a number >= 0, got {value!r}")
    return dict(raw)
