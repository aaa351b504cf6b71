"""A study spec: what a study runs, read from a YAML file (``studies/<study>.yaml``).

The study's name is the file's stem; its results are ``<results>/<study>.json`` and friends.
Keys (relative paths are relative to the repository root, the folder holding dvc.yaml)::

    preset: presets/utd_mhad_depth.yaml  # required: a complete params file (the dataset's)
    data_root: ../shared/data/utd_mhad   # the dataset folder (sets data.root; --root wins);
                                         # leave it out for the built-in synthetic dataset
    split: subject_specific              # required: one split protocol of the dataset
    params: [frames.size=64]             # overrides of the preset for every run (key=value)
    seeds: [0, 1, 2, 3, 4]               # required: student seeds of the final runs (paired:
                                         # seed s is the same initialisation and data order in every arm)
    selection_seeds: [0, 1]              # student seeds of the schedule and the search's second rung
    schedule: [12, 24]                   # student epochs compared on validation for the reference
                                         # arm; without it every run trains the preset's student.epochs
    search: {short_epochs: 6, reduction: 3}  # the settings search: rung 1 trains every cell
                                         # short_epochs on the first selection seed; the best
                                         # 1/reduction of each arm's cells (at least one) go on to
                                         # rung 2 (the full schedule, every selection seed)
    reference: baseline                  # the arm every other is compared with (default baseline)
    controls: [shuffled, class_mean]     # distill.pairing controls of the arm chosen on validation
    target_gain: 3                       # the verdict's target: points of test accuracy over the reference
    title: ...                           # the figures' title
    description: ...                     # the results table's first sentence
    arms:                                # required, in the order the finals run them after the
      baseline: {stage: baseline}        # reference, the chosen arm and its controls
      label_smoothing:                   # a fixed arm: its overrides, as they are
        overrides: [distill.method=label_smoothing]
        setting: fixed                   # how the table describes the setting (default: fixed)
      sakdn:                             # a searched arm: it has cells (or a grid)
        final: sakdn_best                # its name among the final arms (default: its own)
        base: [distill.method=sakdn]     # overrides every cell starts from
        grid: {alpha: [0.1, 1], beta: [0.1, 1]}   # the product of these values, as cells named
        grid_name: a{alpha}-b{beta}              # by this pattern ({key} -> the value)
        cells: {t-auto: [temperature=auto]}      # more cells: name -> overrides

An arm's ``stage`` is ``distill`` (default: a student distilled from the teachers) or
``baseline`` (the video network alone). Every override is checked against the params schema
when the spec is loaded: a typo is an error naming the spec, the arm and the key.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.study.errors import StudyError
from pipeline.study.overrides import OverrideError, with_overrides
from pipeline.study.workspace import REPO

STAGES = ("distill", "baseline")
TOP_KEYS = {"preset": True, "data_root": False, "split": True, "params": False, "seeds": True,
            "selection_seeds": False, "schedule": False, "search": False, "reference": False, "controls": False,
            "target_gain": False, "title": False, "description": False, "arms": True}
ARM_KEYS = ("stage", "overrides", "setting", "final", "base", "grid", "grid_name", "cells")
SEARCH_KEYS = {"short_epochs": True, "reduction": False}


@dataclass
class Arm:
    name: str
    stage: str = "distill"
    overrides: list[str] = field(default_factory=list)
    setting: str = "fixed"
    final: str = ""
    cells: dict[str, list[str]] = field(default_factory=dict)  # searched arms: name -> overrides (base included)
    grid: dict[str, list] = field(default_factory=dict)
    grid_name: str = ""
    grid_points: dict[str, tuple] = field(default_factory=dict)  # grid cell name -> its values, in grid order

    @property
    def searched(self) -> bool:
        return bool(self.cells)


@dataclass
class Spec:
    path: Path
    name: str
    preset: Path
    data_root: Path | None
    split: str
    params: list[str]
    seeds: list[int]
    selection_seeds: list[int]
    schedule: list[int]
    short_epochs: int | None
    reduction: int
    reference: str
    controls: list[str]
    target_gain: float | None
    title: str
    description: str
    arms: dict[str, Arm]

    @property
    def searched_arms(self) -> dict[str, Arm]:
        return {name: arm for name, arm in self.arms.items() if arm.searched}

    @property
    def fixed_arms(self) -> dict[str, Arm]:
        return {name: arm for name, arm in self.arms.items() if not arm.searched}

    def base_params(self, data_root: Path | None = None) -> dict:
        """The preset with the spec's overrides, one split, and the data folder (``data_root``,
        else the spec's; the synthetic dataset needs none)."""
        from ruamel.yaml import YAML

        preset = YAML(typ="safe", pure=True).load(self.preset.read_text())
        root = data_root or self.data_root
        extra = [f"data.root={Path(root).resolve()}"] if root is not None else []
        return with_overrides(preset, [*extra, f"splits.protocols=[{self.split}]", *self.params])


def _resolve(path: str) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO / path


def _check_keys(mapping, allowed, where: str, path: Path) -> dict:
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


def _ints(value, key: str, path: Path, minimum: int = 0) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                            and v >= minimum for v in value):
        raise StudyError(f"{path}: {key} must be a non-empty list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        raise StudyError(f"{path}: {key} lists a value twice: {value!r}")
    return value


def _overrides(value, key: str, path: Path) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise StudyError(f"{path}: {key} must be a list of key=value overrides, got {value!r}")
    return value


def _text(value, key: str, path: Path) -> str:
    if not isinstance(value, str):
        raise StudyError(f"{path}: {key} must be text, got {value!r}")
    return value


def _arm(name: str, raw, path: Path) -> Arm:
    raw = _check_keys(raw if raw is not None else {}, ARM_KEYS, f"arms.{name}", path)
    where = f"arms.{name}"
    stage = raw.get("stage", "distill")
    if stage not in STAGES:
        raise StudyError(f"{path}: {where}.stage must be one of {', '.join(STAGES)}, got {stage!r}")
    arm = Arm(name, stage, _overrides(raw.get("overrides"), f"{where}.overrides", path),
              _text(raw.get("setting", "fixed"), f"{where}.setting", path))
    base = _overrides(raw.get("base"), f"{where}.base", path)
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise StudyError(f"{path}: {where}.grid must map params keys to non-empty lists of values, got {grid!r}")
    if grid:
        pattern = raw.get("grid_name") or "-".join(f"{key.rsplit('.', 1)[-1]}{{{key}}}" for key in grid)
        for values in itertools.product(*grid.values()):
            cell = pattern
            for key, value in zip(grid, values):
                cell = cell.replace(f"{{{key}}}", str(value))
            if cell in arm.cells:
                raise StudyError(f"{path}: {where}.grid_name {pattern!r} gives two cells the name {cell!r}")
            arm.cells[cell] = [*base, *(f"{key}={value}" for key, value in zip(grid, values))]
            arm.grid_points[cell] = tuple(values)
        arm.grid, arm.grid_name = grid, pattern
    elif "grid_name" in raw:
        raise StudyError(f"{path}: {where}.grid_name without {where}.grid")
    cells = raw.get("cells") or {}
    if not isinstance(cells, dict):
        raise StudyError(f"{path}: {where}.cells must map cell names to overrides, got {cells!r}")
    for cell, overrides in cells.items():
        if str(cell) in arm.cells:
            raise StudyError(f"{path}: {where}.cells.{cell} is also a grid cell")
        arm.cells[str(cell)] = [*base, *_overrides(overrides, f"{where}.cells.{cell}", path)]
    if arm.searched:
        if stage != "distill":
            raise StudyError(f"{path}: {where} has cells: a searched arm is a distill arm, not {stage}")
        if arm.overrides or "setting" in raw:
            raise StudyError(f"{path}: {where} has cells: its overrides and setting come from the search, "
                             f"so it takes neither overrides nor setting (use base)")
    elif base or "final" in raw:
        raise StudyError(f"{path}: {where}.{'base' if base else 'final'} is for searched arms "
                         f"(arms with cells or a grid)")
    arm.final = _text(raw.get("final", name), f"{where}.final", path)
    return arm


def load_spec(path: str | Path) -> Spec:
    """Read and validate a study spec; every error is one line naming the file and the key."""
    from ruamel.yaml import YAML

    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{path}: study spec not found")
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text())
    except Exception as error:  # ruamel raises many error types; all mean bad YAML
        raise StudyError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    raw = _check_keys(raw, TOP_KEYS, "", path)
    preset = _resolve(_text(raw["preset"], "preset", path))
    if not preset.is_file():
        raise StudyError(f"{path}: preset: {preset} is not a file")
    search = _check_keys(raw.get("search") or {}, SEARCH_KEYS, "search", path) if "search" in raw else None
    arms = raw["arms"]
    if not isinstance(arms, dict) or not arms:
        raise StudyError(f"{path}: arms must map arm names to their settings")
    spec = Spec(
        path=path, name=path.stem, preset=preset,
        data_root=_resolve(_text(raw["data_root"], "data_root", path)) if raw.get("data_root") is not None else None,
        split=_text(raw["split"], "split", path), params=_overrides(raw.get("params"), "params", path),
        seeds=_ints(raw["seeds"], "seeds", path),
        selection_seeds=_ints(raw.get("selection_seeds", [raw["seeds"][0]] if raw["seeds"] else []),
                              "selection_seeds", path),
        schedule=_ints(raw["schedule"], "schedule", path, minimum=1) if "schedule" in raw else [],
        short_epochs=_ints([search["short_epochs"]], "search.short_epochs", path, 1)[0] if search else None,
        reduction=_ints([search.get("reduction", 3)], "search.reduction", path, 1)[0] if search else 3,
        reference=_text(raw.get("reference", "baseline"), "reference", path),
        controls=[_text(c, "controls", path) for c in (raw.get("controls") or [])],
        target_gain=raw.get("target_gain"), title=_text(raw.get("title", ""), "title", path),
        description=_text(raw.get("description", ""), "description", path),
        arms={str(name): _arm(str(name), body, path) for name, body in arms.items()},
    )
    if spec.target_gain is not None and not isinstance(spec.target_gain, (int, float)):
        raise StudyError(f"{path}: target_gain must be a number, got {spec.target_gain!r}")
    if spec.reference not in spec.arms or spec.arms[spec.reference].searched:
        raise StudyError(f"{path}: reference {spec.reference!r} must name a fixed arm of arms "
                         f"({', '.join(spec.fixed_arms) or 'none'})")
    if spec.searched_arms and search is None:
        raise StudyError(f"{path}: arms {', '.join(spec.searched_arms)} have cells but there is no search key "
                         f"(search: {{short_epochs: N}})")
    finals = [arm.final for arm in spec.arms.values()]
    if len(set(finals)) != len(finals):
        shared = sorted(f for f in finals if finals.count(f) > 1)[0]
        raise StudyError(f"{path}: two arms share the final name {shared!r}")
    if spec.controls and not spec.searched_arms:
        raise StudyError(f"{path}: controls are of the arm chosen on validation, and no arm is searched")
    check_params(spec)
    return spec


def check_params(spec: Spec) -> None:
    """Every run's params against the schema: the preset with the spec's params, each arm's (or
    cell's) overrides, each control's pairing. A bad key or value names the arm."""
    from pipeline.params import ParamsError, validate_params

    base = spec.base_params()
    try:
        validate_params(base)
    except (ParamsError, OverrideError) as error:
        raise StudyError(f"{spec.path}: preset {spec.preset.name} with params: {error}") from None
    variants = {f"arms.{arm.name}": arm.overrides for arm in spec.fixed_arms.values()}
    variants.update({f"arms.{arm.name} cell {cell}": overrides
                     for arm in spec.searched_arms.values() for cell, overrides in arm.cells.items()})
    if spec.searched_arms:
        first = next(iter(spec.searched_arms.values()))
        cell = next(iter(first.cells.values()))
        variants.update({f"controls {pairing}": [*cell, f"distill.pairing={pairing}"] for pairing in spec.controls})
    for where, overrides in variants.items():
        try:
            validate_params(with_overrides(base, overrides))
        except (ParamsError, OverrideError) as error:
            raise StudyError(f"{spec.path}: {where}: {error}") from None
