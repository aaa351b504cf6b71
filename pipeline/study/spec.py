"""A study spec: what a study runs, read from a YAML file (``studies/<study>.yaml``).

The study's name is the file's stem; its results are ``<results>/<study>.json`` and friends.
Keys (relative paths are relative to the repository root, the folder holding dvc.yaml)::

    preset: presets/utd_mhad_depth.yaml  # required: the dataset's preset (or any params file)
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
    finals: all                          # or chosen: of the searched arms only the one chosen on
                                         # validation (and any whose cell a control uses) runs finals
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

Choices made on validation before the search (each is added to every later run's params and
recorded in the results' ``chosen_on_validation``)::

    teachers:                            # teacher candidates: name -> overrides; each trains the
      spamfm: []                         # teachers stage, the best fused validation accuracy wins
      no_spamfm: ['teacher.spamfm_layers=[]']   # (before any student trains)
    heads: [tsn, trn, tsm]               # student.head candidates: the schedule trains the reference
                                         # arm with each head at each epoch count; the best mean wins

A control that must share a searched arm's chosen setting is a fixed arm on top of it::

      self_training:
        cell_of: soft_target             # the overrides of soft_target's chosen cell, then these
        overrides: [distill.targets=baseline]   # (a final run of it links the same seed's baseline)

Any arm can also be compared, paired, with other arms (their spec names; at the fractions where
both run) beyond the reference and the controls::

      teacher_labels:
        compare_with: [self_training]    # teacher_labels minus self_training, 95 % interval, McNemar

The label-fraction study runs the one-split study above once per labelled fraction
(``splits.labeled_fraction``), each with its own work folder and seeds, and reports them together
(``pipeline/study/fractions.py``)::

    fractions:                           # labelled fraction -> its settings (seeds required
      0.1: {seeds: [0, 1, 2]}            # unless the top level has seeds)
      1.0: {seeds: [0, 1, 2], controls: [shuffled, class_mean], selection_seeds: [0], schedule: [24],
            finals: chosen}
    arms:
      label_smoothing: {overrides: [...], fractions: [1.0]}   # an arm run at these fractions only
    class_pairs:                         # pairs of classes the per-class figure compares, per arm
      - [right hand draw circle clockwise, right hand draw circle counter clockwise]
    cost:                                # any study: what --plan estimates time with (s, 1 process)
      clip_seconds: 0.025                # one training clip for one epoch
      training_clips: 324                # training clips at fraction 1 (after validation)
      validation_clips: 108              # scored after every epoch (a forward pass: a third of a clip)
      run_seconds: 10                    # a training run's start-up
      distill_factor: 1.05               # a distilled clip against a baseline clip
      experiment_seconds: 20             # a search run's DVC overhead (workspace copy, commit)
      evaluate_seconds: 16               # the evaluate stage
      teachers_seconds: 60               # the teachers stage and their outputs
      setup_seconds: 150                 # a project: preprocessing, teachers, their outputs, a baseline
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.io import read_yaml_file
from pipeline.params_compose import OverrideError, compose, with_overrides
from pipeline.study.errors import StudyError
from pipeline.study.spec_values import (
    class_pair_list, cost_model, fraction_list, head_list, integers, labelled_fraction, mapping_of, override_list,
    teacher_candidates, text,
)
from pipeline.project.dvc_yaml import REPO

STAGES = ("distill", "baseline")
TOP_KEYS = {"preset": True, "data_root": False, "split": True, "params": False, "seeds": False,
            "selection_seeds": False, "schedule": False, "search": False, "reference": False, "controls": False,
            "target_gain": False, "title": False, "description": False, "arms": True, "heads": False,
            "teachers": False, "fractions": False, "class_pairs": False, "cost": False, "finals": False}
FINALS = ("all", "chosen")
ARM_KEYS = ("stage", "overrides", "setting", "final", "base", "grid", "grid_name", "cells", "cell_of", "fractions",
            "compare_with")
SEARCH_KEYS = {"short_epochs": True, "reduction": False}
FRACTION_KEYS = ("seeds", "selection_seeds", "schedule", "controls", "finals")

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
    cell_of: str = ""  # a fixed arm on top of this searched arm's chosen cell
    fractions: list[float] | None = None  # the labelled fractions it runs at (None: every one)
    compare_with: list[str] = field(default_factory=list)  # other arms it is also compared with, paired

    @property
    def searched(self) -> bool:
        return bool(self.cells)


@dataclass
class Fraction:
    """One labelled fraction's settings; None: the spec's."""
    seeds: list[int]
    selection_seeds: list[int] | None = None
    schedule: list[int] | None = None
    controls: list[str] | None = None
    finals: str | None = None


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
    heads: list[str] = field(default_factory=list)
    teachers: dict[str, list[str]] = field(default_factory=dict)
    fractions: dict[float, Fraction] = field(default_factory=dict)
    class_pairs: list[tuple[str, str]] = field(default_factory=list)
    cost: dict | None = None
    labeled_fraction: float | None = None  # a fraction's own study: the fraction it runs at
    finals: str = "all"  # chosen: a searched arm runs finals only if chosen or a control's cell

    @property
    def searched_arms(self) -> dict[str, Arm]:
        return {name: arm for name, arm in self.arms.items() if arm.searched}

    @property
    def fixed_arms(self) -> dict[str, Arm]:
        return {name: arm for name, arm in self.arms.items() if not arm.searched}

    def base_params(self, data_root: Path | None = None) -> dict:
        """The preset with the spec's overrides, one split, and the data folder (``data_root``,
        else the spec's; the synthetic dataset needs none)."""
        preset = compose(self.preset)
        root = data_root or self.data_root
        extra = [f"data.root={Path(root).resolve()}"] if root is not None else []
        return with_overrides(preset, [*extra, f"splits.protocols=[{self.split}]", *self.params])

    def at_fraction(self, fraction: float) -> Spec:
        """The one-split study of one labelled fraction: the fraction in its params, its seeds,
        schedule and controls, the arms that run at it; named ``<study>_f<fraction>``."""
        settings = self.fractions[fraction]
        seeds = settings.seeds or self.seeds
        return replace(
            self, name=f"{self.name}_f{fraction_label(fraction)}",
            params=[*self.params, f"splits.labeled_fraction={fraction}"], seeds=seeds,
            selection_seeds=settings.selection_seeds or self.selection_seeds or seeds[:1],
            schedule=settings.schedule if settings.schedule is not None else self.schedule,
            controls=settings.controls if settings.controls is not None else self.controls,
            finals=settings.finals or self.finals,
            arms={name: arm for name, arm in self.arms.items() if arm.fractions is None or fraction in arm.fractions},
            description=f"{self.description.strip()} Labelled fraction {fraction:g}.".strip(),
            fractions={}, labeled_fraction=fraction)


def fraction_label(fraction: float) -> str:
    """How a fraction is written in names and results keys: 0.1, 0.25, 1.0."""
    return str(float(fraction))


def _resolve(path: str) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO / path


def _arm(name: str, raw, path: Path) -> Arm:
    raw = mapping_of(raw if raw is not None else {}, ARM_KEYS, f"arms.{name}", path)
    where = f"arms.{name}"
    stage = raw.get("stage", "distill")
    if stage not in STAGES:
        raise StudyError(f"{path}: {where}.stage must be one of {', '.join(STAGES)}, got {stage!r}")
    arm = Arm(name, stage, override_list(raw.get("overrides"), f"{where}.overrides", path),
              text(raw.get("setting", "fixed"), f"{where}.setting", path))
    base = override_list(raw.get("base"), f"{where}.base", path)
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
        arm.cells[str(cell)] = [*base, *override_list(overrides, f"{where}.cells.{cell}", path)]
    if arm.searched:
        if stage != "distill":
            raise StudyError(f"{path}: {where} has cells: a searched arm is a distill arm, not {stage}")
        if arm.overrides or "setting" in raw:
            raise StudyError(f"{path}: {where} has cells: its overrides and setting come from the search, "
                             f"so it takes neither overrides nor setting (use base)")
    elif base or "final" in raw:
        raise StudyError(f"{path}: {where}.{'base' if base else 'final'} is for searched arms "
                         f"(arms with cells or a grid)")
    arm.final = text(raw.get("final", name), f"{where}.final", path)
    if "cell_of" in raw:
        arm.cell_of = text(raw["cell_of"], f"{where}.cell_of", path)
        if arm.searched or stage != "distill":
            raise StudyError(f"{path}: {where}.cell_of is for fixed distill arms (a control on top of a searched "
                             f"arm's chosen cell)")
    if "fractions" in raw:
        arm.fractions = fraction_list(raw["fractions"], f"{where}.fractions", path)
    others = raw.get("compare_with") or []
    if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
        raise StudyError(f"{path}: {where}.compare_with must be a list of arm names, got {others!r}")
    arm.compare_with = others
    return arm


def _fractions(raw, has_seeds: bool, path: Path) -> dict[float, Fraction]:
    """The ``fractions`` mapping: fraction -> its seeds, selection seeds, schedule, controls."""
    if not isinstance(raw, dict) or not raw:
        raise StudyError(f"{path}: fractions must map labelled fractions to their settings, got {raw!r}")
    found = {}
    for value, body in raw.items():
        fraction = labelled_fraction(value, f"fractions.{value}", path)
        where = f"fractions.{value}"
        body = mapping_of(body if body is not None else {}, FRACTION_KEYS, where, path)
        if "seeds" not in body and not has_seeds:
            raise StudyError(f"{path}: missing key {where}.seeds (there are no top-level seeds)")
        if fraction in found:
            raise StudyError(f"{path}: {where} lists the fraction {fraction:g} twice")
        found[fraction] = Fraction(
            seeds=integers(body["seeds"], f"{where}.seeds", path) if "seeds" in body else [],
            selection_seeds=integers(body["selection_seeds"], f"{where}.selection_seeds", path)
            if "selection_seeds" in body else None,
            schedule=integers(body["schedule"], f"{where}.schedule", path, 1) if "schedule" in body else None,
            controls=[text(c, f"{where}.controls", path) for c in (body.get("controls") or [])]
            if "controls" in body else None,
            finals=_finals(body["finals"], f"{where}.finals", path) if "finals" in body else None)
    return dict(sorted(found.items()))


def _finals(value, where: str, path: Path) -> str:
    if value not in FINALS:
        raise StudyError(f"{path}: {where} must be one of {', '.join(FINALS)}, got {value!r}")
    return value


def load_spec(path: str | Path) -> Spec:
    """Read and validate a study spec; every error is one line naming the file and the key."""
    path = Path(path)
    raw = read_yaml_file(path, "study spec", StudyError)
    raw = mapping_of(raw, TOP_KEYS, "", path)
    if "seeds" not in raw and "fractions" not in raw:
        raise StudyError(f"{path}: missing key seeds")
    fractions = _fractions(raw["fractions"], "seeds" in raw, path) if "fractions" in raw else {}
    seeds = integers(raw["seeds"], "seeds", path) if "seeds" in raw else []
    first_seeds = seeds or next(iter(fractions.values())).seeds
    preset = _resolve(text(raw["preset"], "preset", path))
    if not preset.is_file():
        raise StudyError(f"{path}: preset: {preset} is not a file")
    search = mapping_of(raw.get("search") or {}, SEARCH_KEYS, "search", path) if "search" in raw else None
    arms = raw["arms"]
    if not isinstance(arms, dict) or not arms:
        raise StudyError(f"{path}: arms must map arm names to their settings")
    spec = Spec(
        path=path, name=path.stem, preset=preset,
        data_root=_resolve(text(raw["data_root"], "data_root", path)) if raw.get("data_root") is not None else None,
        split=text(raw["split"], "split", path), params=override_list(raw.get("params"), "params", path),
        seeds=seeds, selection_seeds=integers(raw.get("selection_seeds", first_seeds[:1]), "selection_seeds", path),
        schedule=integers(raw["schedule"], "schedule", path, minimum=1) if "schedule" in raw else [],
        short_epochs=integers([search["short_epochs"]], "search.short_epochs", path, 1)[0] if search else None,
        reduction=integers([search.get("reduction", 3)], "search.reduction", path, 1)[0] if search else 3,
        reference=text(raw.get("reference", "baseline"), "reference", path),
        controls=[text(c, "controls", path) for c in (raw.get("controls") or [])],
        target_gain=raw.get("target_gain"), title=text(raw.get("title", ""), "title", path),
        description=text(raw.get("description", ""), "description", path),
        arms={str(name): _arm(str(name), body, path) for name, body in arms.items()},
        heads=head_list(raw["heads"], path) if "heads" in raw else [],
        teachers=teacher_candidates(raw["teachers"], path) if "teachers" in raw else {},
        fractions=fractions, class_pairs=class_pair_list(raw.get("class_pairs") or [], path),
        cost=cost_model(raw["cost"], path) if "cost" in raw else None,
        finals=_finals(raw.get("finals", "all"), "finals", path),
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
    check_arms_at_fractions(spec)
    check_class_pairs(spec)
    if spec.fractions:
        for fraction in spec.fractions:
            check_params(spec.at_fraction(fraction), f"fractions.{fraction_label(fraction)}: ")
    else:
        check_params(spec)
    return spec


def check_arms_at_fractions(spec: Spec) -> None:
    """Arms restricted to fractions name the spec's; a control runs where its searched arm does;
    the reference runs at every fraction."""
    path, everywhere = spec.path, list(spec.fractions)
    for arm in spec.arms.values():
        where = f"arms.{arm.name}"
        if arm.fractions is not None:
            if not spec.fractions:
                raise StudyError(f"{path}: {where}.fractions needs the top-level fractions key")
            unknown = [f for f in arm.fractions if f not in spec.fractions]
            if unknown:
                raise StudyError(f"{path}: {where}.fractions: {unknown[0]:g} is not one of the fractions "
                                 f"({', '.join(map(fraction_label, spec.fractions))})")
        if arm.cell_of:
            other = spec.arms.get(arm.cell_of)
            if other is None or not other.searched:
                raise StudyError(f"{path}: {where}.cell_of {arm.cell_of!r} must name a searched arm "
                                 f"({', '.join(spec.searched_arms) or 'none'})")
            missing = [f for f in (arm.fractions or everywhere) if other.fractions is not None
                       and f not in other.fractions]
            if missing:
                raise StudyError(f"{path}: {where} runs at fraction {missing[0]:g}, where {other.name} "
                                 f"(its cell_of) does not")
        for other in arm.compare_with:
            if other not in spec.arms or other == arm.name:
                raise StudyError(f"{path}: {where}.compare_with: {other!r} must name another arm "
                                 f"({', '.join(a for a in spec.arms if a != arm.name)})")
            theirs = spec.arms[other].fractions or everywhere
            if spec.fractions and not set(arm.fractions or everywhere) & set(theirs):
                raise StudyError(f"{path}: {where}.compare_with: {other} runs at no fraction where "
                                 f"{arm.name} does")
    if spec.arms[spec.reference].fractions not in (None, everywhere):
        raise StudyError(f"{path}: arms.{spec.reference}.fractions: the reference runs at every fraction")
    for fraction in spec.fractions:
        if spec.at_fraction(fraction).controls and not spec.at_fraction(fraction).searched_arms:
            raise StudyError(f"{path}: fractions.{fraction_label(fraction)}: controls are of the arm chosen on "
                             f"validation, and no arm is searched at this fraction")


def check_class_pairs(spec: Spec) -> None:
    """Class pairs name the dataset's classes (when its class list needs no data folder)."""
    if not spec.class_pairs:
        return
    from pipeline.datasets import class_names

    params = spec.base_params()
    try:
        classes = class_names(params["dataset"], params["data"]["root"])
    except Exception:  # a dataset whose classes are read from its data: checked when the runs are
        return
    for pair in spec.class_pairs:
        for name in pair:
            if name not in classes:
                raise StudyError(f"{spec.path}: class_pairs: {name!r} is not a class of {params['dataset']}")


def check_params(spec: Spec, at: str = "") -> None:
    """Every run's params against the schema: the preset with the spec's params, each arm's (or
    cell's) overrides, each control's pairing, each teacher and head candidate. A bad key or
    value names the arm (``at``: the fraction, for a fraction's study)."""
    from pipeline.params import ParamsError, validate_params
    from pipeline.params_rules import labels_with_baseline

    try:
        base = spec.base_params()
        validate_params(base)
    except (ParamsError, OverrideError) as error:
        raise StudyError(f"{spec.path}: {at}preset {spec.preset.name} with params: {error}") from None
    variants = {f"arms.{arm.name}": arm.overrides for arm in spec.fixed_arms.values() if not arm.cell_of}
    variants.update({f"arms.{arm.name} cell {cell}": overrides
                     for arm in spec.searched_arms.values() for cell, overrides in arm.cells.items()})
    variants.update({f"arms.{arm.name} on {arm.cell_of} cell {cell}": [*overrides, *arm.overrides]
                     for arm in spec.fixed_arms.values() if arm.cell_of
                     for cell, overrides in spec.arms[arm.cell_of].cells.items()})
    if spec.searched_arms:
        first = next(iter(spec.searched_arms.values()))
        cell = next(iter(first.cells.values()))
        variants.update({f"controls {pairing}": [*cell, f"distill.pairing={pairing}"] for pairing in spec.controls})
    variants.update({f"teachers.{name}": overrides for name, overrides in spec.teachers.items()})
    variants.update({f"heads {head}": [f"student.head={head}"] for head in spec.heads})
    for where, overrides in variants.items():
        try:
            params = validate_params(with_overrides(base, overrides))
        except (ParamsError, OverrideError) as error:
            raise StudyError(f"{spec.path}: {at}{where}: {error}") from None
        if labels_with_baseline(params) and spec.arms[spec.reference].stage != "baseline":
            raise StudyError(f"{spec.path}: {at}{where}: distill.targets baseline reads the reference's model, and "
                             f"the reference {spec.reference} is not a baseline arm")
