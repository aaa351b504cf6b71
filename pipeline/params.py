"""Load and validate ``params.yaml``: the single source of truth for every stage.

The schema below lists every key the project understands; its defaults are the values of the
repository's ``params.yaml`` (a test checks both agree): a file needs only the keys dvc.yaml
reads itself (``DVC_YAML_KEYS``), every other key defaults to the documented run. Loading fails on an unknown key, a wrong type, a NaN or infinite number or an
out-of-range value, with an error that names the key (``frames.size``). Values are read with
ruamel (YAML 1.2) because ``dvc exp run -S`` may write floats such as ``1e-3`` that PyYAML's
YAML 1.1 resolver would read as strings.

The choices are not repeated here: they come from the code that implements them. Model names
(backbones, heads, feature taps) from ``pipeline.models.names`` (torch-free, as this module
must stay cheap to import); datasets from ``pipeline.datasets.ADAPTERS``, distillation
methods from the loss registry (``pipeline.losses.distill_methods()``) and the pairings from
the teacher-output cache that implements them, each imported when a file is validated, not
when this module is imported (they bring pandas and torch).
``distill.layer_pairs`` is checked against the chosen backbone's taps, and the head against
the backbone, at load rather than at the first training step.
"""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml import YAML

from pipeline.errors import ParamsError, yaml_problem
from pipeline.models.names import (
    BACKBONES, HEADS, SPAMFM_GATES, SPAMFM_RELATIONS, TEACHER_CONV_TAPS, TEACHER_TAPS, VGG_LAYOUTS,
)
from pipeline.params_rules import check_distill, check_student, check_teacher


@dataclass(frozen=True)
class Field:
    """One leaf of the schema."""

    kind: type | tuple[type, ...]
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple | Callable[[], tuple] | None = None  # or a function that reads them from a registry
    nullable: bool = False
    item: "Field | dict | None" = None  # element schema of a list
    check: Callable[[Any], str | None] | None = None  # extra rule: returns an error or None
    help: str = ""
    keywords: tuple[str, ...] = ()  # strings accepted as they are besides the kind ("auto")

    def options(self) -> tuple | None:
        """The valid values (a registry's are read now)."""
        return self.choices() if callable(self.choices) else self.choices


# Registries read at validation time (their modules import pandas and torch).
def _datasets() -> tuple[str, ...]:
    from pipeline.datasets import ADAPTERS

    return tuple(ADAPTERS)


def _requires() -> tuple[str, ...]:
    from pipeline.datasets import REQUIRE

    return tuple(REQUIRE)


def _distill_methods() -> tuple[str, ...]:
    from pipeline.losses import distill_methods

    return distill_methods()


def _readouts() -> tuple[str, ...]:
    from pipeline.losses.sakdn import READOUTS

    return tuple(READOUTS)


def _importances() -> tuple[str, ...]:
    from pipeline.losses.sakdn import IMPORTANCES

    return tuple(IMPORTANCES)


def _pairings() -> tuple[str, ...]:
    from pipeline.workflow.teacher_outputs import PAIRINGS

    return PAIRINGS


def _folds(value: int) -> str | None:
    return "must be 0 (off) or at least 2" if value == 1 else None


def _positive_even(value: int) -> str | None:
    return None if value % 2 == 0 else "must be even (video encoders need even sizes)"


# distill.targets: the teachers' outputs (the method) or a control's (docs/method.md §6c).
DISTILL_TARGETS = ("teachers", "teacher_labels", "baseline")
# distill.pseudo_label.labeller: who labels the unlabeled clips (docs/method.md §6d).
PSEUDO_LABELLERS = ("teachers", "baseline", "student")

VIEW_SCHEMA = {
    "azimuth": Field(float, 0.0, -360.0, 360.0, help="camera azimuth in degrees, 0 = in front"),
    "distance": Field(float, 4.0, 1.0, 50.0, help="camera distance in metres"),
}


def _layer_pairs(pairs: list) -> str | None:
    """Shape and teacher taps; the student taps depend on student.backbone (validate_params)."""
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(tap, str) for tap in pair)):
            return f"each pair must be [teacher_tap, student_tap], got {pair!r}"
        if pair[0] not in TEACHER_CONV_TAPS:
            return f"teacher tap {pair[0]!r} is not one of {', '.join(TEACHER_CONV_TAPS)}"
    return None


def _training(epochs: int, batch_size: int, lr: float) -> dict:
    return {
        "epochs": Field(int, epochs, 1, 10000),
        "batch_size": Field(int, batch_size, 2, 4096, help=">= 2: SPAMFM and the graph losses need batch-mates"),
        "lr": Field(float, lr, 1e-7, 10.0),
        "weight_decay": Field(float, 1e-4, 0.0, 1.0),
    }


SCHEMA: dict[str, Any] = {
    "seed": Field(int, 0, 0, 2**31 - 1, help="seed for every random draw"),
    "alpha": Field(float, 0.1, 0.0, 1000.0, help="weight of the soft-target loss L_ST"),
    "beta": Field(float, 1.0, 0.0, 1000.0, help="weight of L_GSDM"),
    "gamma": Field(float, 1.0, 0.0, 1000.0, help="weight of the student's semantic loss L_SP^S"),
    "temperature": Field(float, 4.0, 0.01, 100.0, keywords=("auto",),
                         help="soft-target temperature T; auto = fitted by NLL on teacher logits of recordings "
                              "the teacher did not train on (cross-fitted training ones with "
                              "teacher_outputs.folds, else validation)"),
    "dataset": Field(str, "synthetic", choices=_datasets, help="dataset adapter"),
    "data": {
        "root": Field(str, "data/synthetic", help="dataset folder in its native layout"),
        "vision": Field(str, "rgb", choices=("rgb", "depth"), help="video modality"),
        "require": Field(str, "all", choices=_requires, help="keep samples lacking a modality?"),
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
        # The first run's one protocol (`make repro-all` adds the synthetic data's other three).
        "protocols": Field(list, ["cross_subject"], item=Field(str)),
        "val_fraction": Field(float, 0.2, 0.0, 0.9),
        "labeled_fraction": Field(float, 1.0, 0.001, 1.0,
                                  help="of each class's training recordings (after validation) that keep their "
                                       "label; the rest are unlabeled: seen by the distilled student, never labelled"),
    },
    "frames": {
        "per_video": Field(int, 16, 1, 512),
        "size": Field(int, 96, 8, 1024),
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
        "image_size": Field(int, 32, 2, 1024),
        "method": Field(str, "summation", choices=("summation", "difference")),
        "batch_size": Field(int, 256, 1, 100000),
    },
    "embed": {
        "glove_path": Field(str, None, nullable=True),
        "combine": Field(str, "mean", choices=("mean", "sum")),
    },
    "teacher": {
        "sensors": Field(list, None, nullable=True, item=Field(str),
                         check=lambda sensors: "[] names no sensor (null: every sensor of the dataset)"
                         if sensors == [] else None,
                         help="null: every sensor of the dataset; or a subset, e.g. [acc] for a single-sensor teacher"),
        "architecture": Field(str, "vgg11", choices=tuple(VGG_LAYOUTS)),
        "width_mult": Field(float, 0.25, 0.01, 4.0),
        "spamfm_layers": Field(list, list(TEACHER_TAPS), nullable=True, item=Field(str, choices=TEACHER_TAPS),
                               help="[] or null: no SPAMFM (SKDN)"),
        "spamfm_reduction": Field(int, 4, 1, 1024),
        "spamfm_gate": Field(str, "sigmoid", choices=SPAMFM_GATES),
        "spamfm_relation": Field(str, "gram", choices=SPAMFM_RELATIONS,
                                 help="gram (the paper's G), softmax (centred cosine, sharpened), self (no batch)"),
        "spamfm_temperature": Field(float, 0.1, 1e-3, 100.0, help="softmax relation's temperature"),
        "sp_weight": Field(float, 1.0, 0.0, 1000.0, help="teacher semantic-preserving loss weight"),
        "time_crop": Field(float, 1.0, 0.1, 1.0, help="training augmentation: random time window of at least this "
                                                       "fraction of each recording (1 = off)"),
        "time_warp": Field(float, 0.0, 0.0, 0.9, help="training augmentation: random smooth time warp of this "
                                                       "strength (0 = off, < 1 keeps it monotone)"),
        "self_training": {
            "rounds": Field(int, 0, 0, 10,
                            help="semi-supervised teachers: rounds of labelling the unlabeled recordings with the "
                                 "teachers kept so far and training new ones on those too (0: labelled recordings only)"),
            "threshold": Field(float, 0.8, 0.0, 1.0,
                               help="the fused teachers' probability an unlabeled recording needs to join a round"),
        },
        **_training(30, 16, 1e-3),
    },
    "teacher_outputs": {
        "folds": Field(int, 0, 0, 20, check=_folds,
                       help="K >= 2: each training recording's teacher outputs come from one of K teachers "
                            "trained without it (cross-fitting); 0 = the full teacher's"),
    },
    "student": {
        "backbone": Field(str, "mobilenet_v2", choices=BACKBONES),
        "head": Field(str, "tsn", choices=HEADS, help="tsm: temporal shift of 1/8 of the channels each way in every "
                                                        "residual block; trn: num_segments >= 2"),
        "num_segments": Field(int, 4, 1, 64),
        "dropout": Field(float, 0.5, 0.0, 0.99),
        "weights": Field(str, "imagenet", nullable=True, help="null (scratch), imagenet (packaged), or a state-dict file"),
        "seed": Field(int, None, 0, 2**31 - 1, nullable=True,
                      help="the student's initialisation, data order and pairing draws; null = the top-level seed. "
                           "Set it to vary students over seeds while the teachers keep theirs (paired seeds)"),
        **_training(10, 8, 5e-4),
    },
    "distill": {
        "method": Field(str, "sakdn", choices=_distill_methods,
                        help="sakdn, or a KD method: the registered losses flagged method=True"),
        "layer_pairs": Field(list, [["conv4", "stage5"]], item=Field(list), check=_layer_pairs,
                             help="[teacher tap, student tap] pairs for gsdm, at, sp, fitnet; the student tap "
                                  "is one of student.backbone's"),
        "readout": Field(str, "soft", choices=_readouts, help="GSDM's semantic read-out"),
        "importance": Field(str, "channel", choices=_importances,
                            help="GSDM's importance: channel (Ablation-CAM per channel: one pass at the student's last "
                                 "stage with tsn/tsm, C/16 reruns of the later layers at other taps or with trn), or "
                                 "the authors' whole-input ablation with the norm or elementwise ratio"),
        "align": Field(str, "spatial", choices=("spatial", "temporal"),
                       help="GSDM compares maps pixel by pixel (spatial, the paper) or as time profiles: the "
                            "teacher's GAF map read at the clip positions of the student's sampled frames"),
        "pairing": Field(str, "recording", choices=_pairings,
                         help="whose teacher outputs a training video gets: recording (the method), or a control: "
                              "shuffled (another recording's), class_shuffled (another of its class), class_mean"),
        "targets": Field(str, "teachers", choices=DISTILL_TARGETS,
                         help="what the student is distilled from: teachers (their outputs: the method), or a "
                              "control: teacher_labels (the teachers' argmax as a one-hot distribution), baseline "
                              "(the frozen baseline student's outputs: self-training, video only)"),
        # Terms added to any objective with a weight > 0 (and a method of their own).
        "dkd": {
            "weight": Field(float, 0.0, 0.0, 1000.0, help="weight of DKD added to the objective (0 = off)"),
            "target_weight": Field(float, 1.0, 0.0, 1000.0, help="DKD's target-class term (Zhao et al.: alpha 1)"),
            "non_target_weight": Field(float, 8.0, 0.0, 1000.0,
                                       help="DKD's non-target-class term (Zhao et al.: beta 8)"),
        },
        "contrastive": {
            "weight": Field(float, 0.0, 0.0, 1000.0, help="weight of the paired InfoNCE added to the objective"),
            "dimension": Field(int, 128, 2, 4096, help="projection heads' output width"),
            "temperature": Field(float, 0.07, 1e-3, 10.0, help="InfoNCE temperature"),
        },
        "pseudo_label": {
            "labeller": Field(str, "teachers", choices=PSEUDO_LABELLERS,
                              help="who labels the unlabeled clips under distill.method pseudo_label: teachers (the "
                                   "fused sensor teachers), baseline (the frozen baseline student), or student (the "
                                   "student itself, from the clip as loaded: FixMatch, video only)"),
            "second_view": Field(bool, False,
                                 help="the student as a second view of the teachers' or baseline's labels: its label "
                                      "where the labeller is unsure and it is sure, none where both are sure and "
                                      "disagree (relabelled at every step)"),
            "threshold": Field(float, 0.0, 0.0, 1.0,
                               help="the labeller's confidence needed for a pseudo-label (0: every clip gets one)"),
            "coverage": Field(float, None, 0.001, 1.0, nullable=True,
                              help="instead of threshold: the share of the unlabeled recordings the labeller keeps, "
                                   "its most confident ones (the threshold is that quantile of its own confidences, "
                                   "which need no label; the student labeller: of each batch's); null: threshold"),
            "student_threshold": Field(float, 0.95, 0.0, 1.0,
                                       help="the student's confidence needed for its own label (labeller student, "
                                            "or second_view)"),
            "confidence": Field(str, "probability", choices=("probability", "margin"),
                                help="probability of the top class, or its margin over the runner-up"),
            "weight": Field(float, 1.0, 0.0, 1000.0,
                            help="weight of the pseudo-label term against the labelled clips' cross-entropy"),
            "class_balance": Field(str, "none", choices=("none", "inverse_frequency"),
                                   help="inverse_frequency: each pseudo-label weighted by 1 / its class's share of the "
                                        "pseudo-labels so far, so every class weighs the same"),
            "strong_augment": Field(bool, True,
                                    help="train the pseudo-label term on a strongly augmented clip (zoom, shift, "
                                         "rotation, brightness, contrast, an erased box; no flips)"),
        },
        "label_smoothing": {
            "epsilon": Field(float, 0.1, 0.0, 0.99, keywords=("auto",),
                             help="label mass spread over the other classes; auto = the teachers' mean "
                                  "non-target probability at the temperature"),
        },
        # Each KD method's own settings, under its name (read by its loss class's from_params).
        "at": {
            "p": Field(float, 2.0, 0.1, 16.0, help="attention map: mean over channels of |A|^p"),
        },
        "rkd": {
            "distance_weight": Field(float, 25.0, 0.0, 1000.0, help="weight of the distance-wise term"),
            "angle_weight": Field(float, 50.0, 0.0, 1000.0, help="weight of the angle-wise term"),
        },
        "cc": {
            "gamma": Field(float, 0.4, 0.0, 100.0, help="Gaussian RBF kernel exp(-gamma ||e_i - e_j||^2)"),
        },
    },
    "train": {
        "device": Field(str, "auto", choices=("auto", "cpu", "cuda")),
        "bf16": Field(bool, True, help="bfloat16 autocast on CUDA (ignored on CPU)"),
        "workers": Field(int, 0, 0, 64, help="DataLoader worker processes (0 = load in the main process)"),
        "cache_in_memory": Field(bool, "auto", keywords=("auto",),
                                 help="read the frame and GAF caches into memory (true), stream them from the "
                                      "file through the workers (false), or auto: in memory up to 4 GiB"),
        "threads": Field(int, 0, 0, 256, help="torch CPU threads; 0 = torch's default"),
    },
}


# YAML's spellings of NaN and infinity (.nan, -.inf) as well as Python's (nan, -inf, Infinity).
_NON_FINITE = re.compile(r"[+-]?\.?(nan|inf|infinity)", re.IGNORECASE)


def _coerce(value: Any, field: Field, key: str) -> Any:
    if value is None:
        if field.nullable:
            return None
        raise ParamsError(f"{key}: must not be empty")
    if isinstance(value, str) and value.strip() in field.keywords:
        return value.strip()
    kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
    if float in kinds and isinstance(value, str):
        text = value.strip()
        if _NON_FINITE.fullmatch(text):
            text = text.replace(".", "")
        try:  # `dvc exp run -S` can leave floats as strings
            value = float(text)
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
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamsError(f"{key}: must be a finite number, got {value}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if field.low is not None and value < field.low:
            raise ParamsError(f"{key}: {value} is below the minimum {field.low}")
        if field.high is not None and value > field.high:
            raise ParamsError(f"{key}: {value} is above the maximum {field.high}")
    choices = field.options()
    if choices is not None and value not in choices:
        raise ParamsError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")
    if isinstance(value, list):
        if not value and not field.nullable:
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

    if params["gaf"]["image_size"] < 32:
        raise ParamsError(f"gaf.image_size: {params['gaf']['image_size']} is too small for the teacher's five "
                          "2x2 max-pools (at least 32)")
    depth = params["frames"]["depth"]
    if depth["near"] >= depth["far"]:
        raise ParamsError(f"frames.depth.near: {depth['near']} must be below frames.depth.far ({depth['far']})")
    problem = check_protocols(params["dataset"], params["splits"]["protocols"], params["splits"]["labeled_fraction"])
    if problem:
        raise ParamsError(f"splits.protocols: {problem}")
    check_teacher(params)
    check_student(params)
    check_distill(params)
    return params


# Keys dvc.yaml interpolates itself (a dependency, the per-split stages' foreach): DVC reads
# them before any stage runs, so a params file must give them; the schema's defaults cannot.
DVC_YAML_KEYS = ("data.root", "splits.protocols")


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate params.yaml; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    yaml = YAML(typ="safe", pure=True)
    try:
        raw = yaml.load(path.read_text())
    except Exception as error:  # ruamel raises many error types; all mean bad YAML
        raise ParamsError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
    try:
        params = validate_params(raw)
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None
    for key in DVC_YAML_KEYS:
        section = raw or {}
        for part in key.split("."):
            section = section.get(part) if isinstance(section, dict) else None
        if section is None:
            raise ParamsError(f"{path}: {key}: missing; dvc.yaml reads it before any stage runs, so the file must "
                              "give it (copy it from the repository's params.yaml)")
    return params
