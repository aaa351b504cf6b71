"""The params rules that tie several keys together, checked after each key's own (type, range,
choice) in ``pipeline.params.validate_params``: what the student modules would reject at build
time, and the distillation settings that cannot be built together. Each error names a key."""
from __future__ import annotations

from pipeline.errors import ParamsError
from pipeline.models.names import BACKBONE_TAPS, MULTI_FRAME_HEADS, TSM_BACKBONES

# Objectives that need nothing of the teachers but logits (what the baseline's outputs are).
LOGIT_METHODS = ("soft_target", "dkd", "logits")


def check_distill(params: dict) -> None:
    """Controls that cannot be built: class-wise pairings need every training label; the
    baseline's outputs are logits only, so only logit losses can use them."""
    distill = params["distill"]
    if params["splits"]["labeled_fraction"] < 1 and distill["pairing"] in ("class_shuffled", "class_mean"):
        raise ParamsError(f"distill.pairing: {distill['pairing']} pairs by class, which unlabeled recordings do not "
                          f"have (splits.labeled_fraction {params['splits']['labeled_fraction']:g}); use recording "
                          "or shuffled")
    if distill["method"] == "pseudo_label":
        check_pseudo_label(params)
    if distill["targets"] == "baseline":
        if distill["pairing"] != "recording":
            raise ParamsError(f"distill.pairing: {distill['pairing']} pairs teacher outputs, which distill.targets: "
                              "baseline does not use (it labels each clip with the baseline's own outputs)")
        extra = [name for name in ("dkd", "contrastive") if distill[name]["weight"] > 0 and name != distill["method"]]
        if distill["method"] not in LOGIT_METHODS or "contrastive" in extra:
            raise ParamsError(f"distill.targets: baseline gives logits only, which distill.method "
                              f"{distill['method']}{' + ' + ', '.join(extra) if extra else ''} cannot use alone "
                              f"(use one of {', '.join(LOGIT_METHODS)})")


def check_pseudo_label(params: dict) -> None:
    """What ``distill.method: pseudo_label`` cannot do: label clips when none is unlabeled,
    pair teacher outputs for a labeller that reads none, or take a second view of itself."""
    distill, settings = params["distill"], params["distill"]["pseudo_label"]
    if params["splits"]["labeled_fraction"] >= 1:
        raise ParamsError("distill.method: pseudo_label labels the unlabeled training clips, and "
                          "splits.labeled_fraction 1.0 leaves none (set it below 1)")
    if settings["labeller"] != "teachers" and distill["pairing"] != "recording":
        raise ParamsError(f"distill.pairing: {distill['pairing']} pairs teacher outputs, which "
                          f"distill.pseudo_label.labeller: {settings['labeller']} does not read")
    if settings["coverage"] is not None and settings["threshold"] > 0:
        raise ParamsError(f"distill.pseudo_label.coverage: {settings['coverage']:g} sets the threshold itself; "
                          f"leave distill.pseudo_label.threshold at 0 (it is {settings['threshold']:g})")
    if settings["labeller"] == "student" and settings["second_view"]:
        raise ParamsError("distill.pseudo_label.second_view: the student is already the labeller "
                          "(distill.pseudo_label.labeller: student)")
    extra = [name for name in ("dkd", "contrastive") if distill[name]["weight"] > 0]
    if extra:
        raise ParamsError(f"distill.{extra[0]}.weight: {distill[extra[0]]['weight']:g} adds a teacher term, which "
                          "distill.method pseudo_label does not take (it labels clips instead); set it to 0")
    if distill["targets"] != "teachers":
        raise ParamsError(f"distill.targets: {distill['targets']} is for the soft-target methods; "
                          "distill.method pseudo_label takes its labeller from distill.pseudo_label.labeller")


def labels_with_baseline(params: dict) -> bool:
    """Whether a distilled student with these params reads the frozen baseline student's model
    (its labeller: ``distill.targets: baseline``, or ``distill.pseudo_label.labeller:
    baseline`` under ``distill.method: pseudo_label``). Partial params read as the defaults."""
    distill = params.get("distill") or {}
    if distill.get("method") == "pseudo_label":
        return (distill.get("pseudo_label") or {}).get("labeller") == "baseline"
    return distill.get("targets") == "baseline"


def check_teacher(params: dict) -> None:
    """Semi-supervised teachers need unlabeled recordings to learn from."""
    if params["teacher"]["self_training"]["rounds"] > 0 and params["splits"]["labeled_fraction"] >= 1:
        raise ParamsError("teacher.self_training.rounds: the teachers self-train on unlabeled recordings, and "
                          "splits.labeled_fraction 1.0 leaves none (set rounds to 0, or the fraction below 1)")


def check_student(params: dict) -> None:
    """What the student modules would reject at build time (a head the backbone cannot take,
    ImageNet weights no file exists for offline), and layer pairs it has no tap for."""
    student = params["student"]
    backbone, head = student["backbone"], student["head"]
    if head == "tsm" and backbone not in TSM_BACKBONES:
        raise ParamsError(f"student.head: tsm has no temporal shift for student.backbone {backbone} "
                          f"(use one of {', '.join(TSM_BACKBONES)})")
    if head in MULTI_FRAME_HEADS and student["num_segments"] < 2:
        raise ParamsError(f"student.num_segments: the {head} head relates frames, so it needs at least 2, "
                          f"got {student['num_segments']}")
    if student["weights"] == "imagenet":
        from pipeline.models.weights import PACKAGED  # local: keeps the import of this module small

        if backbone not in PACKAGED:
            raise ParamsError(f"student.weights: imagenet has no offline file for student.backbone {backbone} (only "
                              f"{', '.join(PACKAGED)}); use null or the path of a torchvision state dict file")
    taps = BACKBONE_TAPS[backbone]
    for _, student_tap in params["distill"]["layer_pairs"]:
        if student_tap not in taps:
            raise ParamsError(f"distill.layer_pairs: student tap {student_tap!r} is not a tap of student.backbone "
                              f"{backbone} (its taps: {', '.join(taps)})")
