"""Load and validate ``params.yaml``: the single source of truth for every stage.

The schema below lists every key the project understands. Loading fails on an unknown key,
a wrong type or an out-of-range value, with an error that names the key (``frames.size``).
Values are read with ruamel (YAML 1.2) because ``dvc exp run -S`` may write floats such as
``1e-3`` that PyYAML's YAML 1.1 resolver would read as strings.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml import YAML

DATASETS = ("synthetic", "utd_mhad", "berkeley_mhad", "mmact")


class ParamsError(ValueError):
    """A params.yaml problem; the message names the offending key."""


@dataclass(frozen=True)
class Field:
    """One leaf of the schema."""

    kind: type | tuple[type, ...]
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    item: "Field | dict | None" = None  # element schema of a list
    check: Callable[[Any], str | None] | None = None  # extra rule: returns an error or None
    help: str = ""


def _positive_even(value: int) -> str | None:
    return None if value % 2 == 0 else "must be even (video encoders need even sizes)"


VIEW_SCHEMA = {
    "azimuth": Field(float, 0.0, -360.0, 360.0, help="camera azimuth in degrees, 0 = in front"),
    "distance": Field(float, 4.0, 1.0, 50.0, help="camera distance in metres"),
}

SCHEMA: dict[str, Any] = {
    "seed": Field(int, 0, 0, 2**31 - 1, help="seed for every random draw"),
    "dataset": Field(str, "synthetic", choices=DATASETS, help="dataset adapter"),
    "data": {
        "root": Field(str, "data/synthetic", help="dataset folder in its native layout"),
        "vision": Field(str, "rgb", choices=("rgb", "depth"), help="video modality"),
        "require": Field(str, "all", choices=("all", "any"), help="keep samples lacking a modality?"),
    },
    "synthetic": {
        "num_subjects": Field(int, 8, 2, 100),
        "trials": Field(int, 2, 1, 20),
        "num_scenes": Field(int, 3, 1, 10),
        "num_sessions": Field(int, 2, 1, 10),
        "views": Field(list, [{"azimuth": 0.0, "distance": 4.0}, {"azimuth": 45.0, "distance": 4.0},
                              {"azimuth": 90.0, "distance": 7.0}], item=VIEW_SCHEMA),
        "classes": Field(list, None, nullable=True, item=Field(str)),
        "sample_rate": Field(float, 50.0, 10.0, 1000.0),
        "fps": Field(float, 15.0, 5.0, 60.0),
        "video_size": Field(int, 128, 32, 1024, check=_positive_even),
        "workers": Field(int, 2, 1, 64),
    },
    "splits": {
        "protocols": Field(list, ["cross_subject", "cross_view", "cross_scene", "cross_session"],
                           item=Field(str)),
        "val_fraction": Field(float, 0.2, 0.0, 0.9),
    },
    "frames": {
        "per_video": Field(int, 16, 1, 512),
        "size": Field(int, 64, 8, 1024),
        "crop": Field(str, "center", choices=("center", "none")),
        "workers": Field(int, 2, 1, 64),
        "on_error": Field(str, "raise", choices=("raise", "skip")),
        "depth": {
            "near": Field(float, 1000.0, 0.0, 100000.0, help="mm; nearer depth is clipped"),
            "far": Field(float, 4000.0, 1.0, 100000.0, help="mm; farther depth is clipped"),
            "subject_crop": Field(bool, True, help="crop to the bounding box of non-zero depth"),
            "margin": Field(float, 0.1, 0.0, 2.0, help="box margin, fraction of its size"),
        },
    },
    "gaf": {
        "image_size": Field(int, 64, 2, 1024),
        "method": Field(str, "summation", choices=("summation", "difference")),
        "batch_size": Field(int, 256, 1, 100000),
    },
    "embed": {
        "glove_path": Field(str, None, nullable=True),
        "combine": Field(str, "mean", choices=("mean", "sum")),
    },
}


def _coerce(value: Any, field: Field, key: str) -> Any:
    if value is None:
        if field.nullable:
            return None
        raise ParamsError(f"{key}: must not be empty")
    kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
    if float in kinds and isinstance(value, str):
        try:  # `dvc exp run -S` can leave floats as strings
            value = float(value)
        except ValueError:
            raise ParamsError(f"{key}: expected a number, got {value!r}") from None
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise ParamsError(f"{key}: expected {'/'.join(k.__name__ for k in kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise ParamsError(
            f"{key}: expected {'/'.join(k.__name__ for k in kinds)}, "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if field.low is not None and value < field.low:
            raise ParamsError(f"{key}: {value} is below the minimum {field.low}")
        if field.high is not None and value > field.high:
            raise ParamsError(f"{key}: {value} is above the maximum {field.high}")
    if field.choices is not None and value not in field.choices:
        raise ParamsError(f"{key}: {value!r} is not one of {', '.join(map(str, field.choices))}")
    if isinstance(value, list):
        if not value:
            raise ParamsError(f"{key}: must not be an empty list")
        if isinstance(field.item, dict):
            value = [_validate(v, field.item, f"{key}[{i}]") for i, v in enumerate(value)]
        elif field.item is not None:
            value = [_coerce(v, field.item, f"{key}[{i}]") for i, v in enumerate(value)]
    if field.check is not None:
        problem = field.check(value)
        if problem:
            raise ParamsError(f"{key}: {problem}")
    return value


def _validate(raw: Any, schema: dict, prefix: str) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix or 'params'}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ParamsError(
            f"unknown key {where}{unknown[0]} (valid keys{' of ' + prefix if prefix else ''}: "
            f"{', '.join(schema)})"
        )
    out = {}
    for name, spec in schema.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(spec, dict):
            out[name] = _validate(raw.get(name), spec, key)
        elif name in raw:
            out[name] = _coerce(raw[name], spec, key)
        elif spec.default is None and not spec.nullable:
            raise ParamsError(f"{key}: missing (required)")
        else:
            out[name] = copy.deepcopy(spec.default)
    return out


def validate_params(raw: dict) -> dict:
    """Validate a params mapping against the schema; return it with defaults filled in."""
    params = _validate(raw, SCHEMA, "")
    from pipeline.datasets.splits import check_protocols  # local: avoids an import cycle

    depth = params["frames"]["depth"]
    if depth["near"] >= depth["far"]:
        raise ParamsError(f"frames.depth.near: {depth['near']} must be below frames.depth.far ({depth['far']})")
    problem = check_protocols(params["dataset"], params["splits"]["protocols"])
    if problem:
        raise ParamsError(f"splits.protocols: {problem}")
    return params


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate params.yaml; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    yaml = YAML(typ="safe", pure=True)
    try:
        raw = yaml.load(path.read_text())
    except Exception as error:  # ruamel raises many error types; all mean bad YAML
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    try:
        return validate_params(raw or {})
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None
