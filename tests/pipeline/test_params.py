import pytest

from pipeline.params import ParamsError, load_params, validate_params
from pipeline.params_compose import compose
from tests.conftest import REPO


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params["dataset"] == "synthetic"
    assert isinstance(params["seed"], int)
    assert params["gaf"]["image_size"] >= 2


def test_defaults_fill_a_partial_file():
    params = validate_params({"frames": {"size": 32}})
    assert params["frames"]["size"] == 32
    assert params["frames"]["per_video"] == 16
    assert params["splits"]["protocols"] == ["cross_subject"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"sede": 1}, "unknown key sede"),
        ({"frames": {"sise": 3}}, "unknown key frames.sise"),
        ({"frames": {"size": "big"}}, "frames.size: expected int"),
        ({"frames": {"size": 2}}, "frames.size: 2 is below the minimum"),
        ({"gaf": {"method": "product"}}, "gaf.method: 'product' is not one of"),
        ({"dataset": "kinetics"}, "dataset: 'kinetics' is not one of"),
        ({"seed": True}, "seed: expected int, got a boolean"),
        ({"synthetic": {"video_size": 63}}, "synthetic.video_size: must be even"),
        ({"synthetic": {"views": [{"azimuth": 0, "dist": 2}]}}, "unknown key synthetic.views[0].dist"),
        ({"splits": {"protocols": ["cross_galaxy"]}}, "splits.protocols: 'cross_galaxy' is not a protocol"),
        ({"splits": {"val_fraction": 1.5}}, "splits.val_fraction: 1.5 is above the maximum"),
        ({"gaf": {"image_size": 16}}, "gaf.image_size: 16 is below the minimum 32"),
        ({"distill": {"layer_pairs": [["conv4", "layer9"]]}}, "distill.layer_pairs: student tap 'layer9'"),
        ({"student": {"backbone": "vgg"}}, "student.backbone: 'vgg' is not one of"),
        ({"splits": {"labeled_fraction": 0}}, "splits.labeled_fraction: 0.0 is below the minimum 0.001"),
        ({"splits": {"labeled_fraction": 0.25}, "distill": {"pairing": "class_mean"}},
         "distill.pairing: class_mean pairs by class, which unlabeled recordings do not have"),
        ({"distill": {"targets": "baseline"}}, "distill.targets: baseline gives logits only, which distill.method "
                                               "sakdn cannot use alone"),
        ({"distill": {"targets": "baseline", "method": "soft_target", "contrastive": {"weight": 0.1}}},
         "distill.targets: baseline gives logits only, which distill.method soft_target \\+ contrastive"),
        ({"distill": {"targets": "baseline", "method": "soft_target", "pairing": "shuffled"}},
         "distill.pairing: shuffled pairs teacher outputs, which distill.targets: baseline does not use"),
        ({"distill": {"targets": "sensors"}}, "distill.targets: 'sensors' is not one of"),
    ],
)
def test_bad_values_name_the_key(raw, message):
    with pytest.raises(ParamsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_params(raw)


def test_float_written_as_string_by_dvc_is_read_as_number():
    assert validate_params({"splits": {"val_fraction": "1e-1"}})["splits"]["val_fraction"] == 0.1


def test_load_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("gaf:\n  imagesize: 64\n")
    with pytest.raises(ParamsError, match=r"params.yaml: unknown key gaf.imagesize"):
        load_params(path)
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_a_file_without_the_keys_dvc_yaml_reads_is_an_error_naming_the_key(tmp_path):
    # dvc.yaml interpolates data.root and splits.protocols before any stage runs: an empty
    # file cannot be the default run there, so loading it must not pretend it is.
    path = tmp_path / "params.yaml"
    path.write_text("")
    with pytest.raises(ParamsError, match=r"params.yaml: data.root: missing; dvc.yaml reads it"):
        load_params(path)
    path.write_text("data:\n  root: data/synthetic\n")
    with pytest.raises(ParamsError, match=r"params.yaml: splits.protocols: missing"):
        load_params(path)
    path.write_text("data:\n  root: data/synthetic\nsplits:\n  protocols: [cross_subject]\n")
    assert load_params(path)["teacher"] == validate_params({})["teacher"]


def test_an_empty_sensor_list_is_an_error_not_every_sensor():
    with pytest.raises(ParamsError, match=r"teacher.sensors: \[\] names no sensor"):
        validate_params({"teacher": {"sensors": []}})
    assert validate_params({"teacher": {"sensors": None}})["teacher"]["sensors"] is None


def test_every_preset_composes_to_a_valid_params_file():
    presets = sorted((REPO / "presets").glob("*.yaml"))
    assert {p.stem for p in presets} >= {"utd_mhad_depth", "utd_mhad_rgb", "berkeley_mhad", "mmact"}
    for preset in presets:
        params = validate_params(compose(preset))
        assert params["dataset"] != "synthetic" and params["data"]["root"] != "data/synthetic", preset.name


# ------------------------------------------------------------------ one source of truth
import copy  # noqa: E402
import inspect  # noqa: E402
import re  # noqa: E402

from ruamel.yaml import YAML  # noqa: E402

from pipeline.params import SCHEMA, Field  # noqa: E402

PRESETS = sorted((REPO / "presets").glob("*.yaml"))


def schema_fields(schema: dict = SCHEMA, prefix: str = ""):
    """(key, Field) of every leaf of the schema, into list elements: ``synthetic.views[0].azimuth``."""
    for name, spec in schema.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(spec, dict):
            yield from schema_fields(spec, key)
            continue
        yield key, spec
        if isinstance(spec.item, dict):
            yield from schema_fields(spec.item, f"{key}[0]")
        elif isinstance(spec.item, Field):
            yield f"{key}[0]", spec.item


def read_yaml(path):
    return YAML(typ="safe", pure=True).load(path.read_text())


def set_path(params: dict, path: str, value) -> dict:
    """Set ``a.b[0].c`` in a nested params mapping that has it."""
    tokens = [int(t) if t.isdigit() else t for t in re.findall(r"[^.\[\]]+", path)]
    target = params
    for token in tokens[:-1]:
        target = target[token]
    target[tokens[-1]] = value
    return params


def float_keys() -> list[str]:
    keys = [key for key, field in schema_fields() if field.kind is float or
            (isinstance(field.kind, tuple) and float in field.kind)]
    assert "teacher.sp_weight" in keys and "synthetic.views[0].azimuth" in keys  # the walk reaches lists too
    return keys


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"),
                                          ("nan", "nan"), ("NaN", "nan"), (".nan", "nan"), ("inf", "inf"),
                                          (".inf", "inf"), ("-.inf", "-inf"), ("-Infinity", "-inf")])
def test_every_float_key_rejects_nan_and_infinity(value, shown):
    base = load_params(REPO / "params.yaml")
    for key in float_keys():
        raw = set_path(copy.deepcopy(base), key, value)
        with pytest.raises(ParamsError, match=re.escape(f"{key}: must be a finite number, got {shown}")):
            validate_params(raw)


def test_int_keys_reject_nan_too():
    base = load_params(REPO / "params.yaml")
    for key, field in schema_fields():
        if field.kind is int:
            with pytest.raises(ParamsError, match=re.escape(f"{key}:")):
                validate_params(set_path(copy.deepcopy(base), key, float("nan")))


def test_schema_defaults_are_the_repository_params():
    """An empty params.yaml means the documented default run, key for key."""
    defaults, documented = validate_params({}), load_params(REPO / "params.yaml")
    differing = [key for key, _ in schema_fields() if "[" not in key and
                 _get(defaults, key) != _get(documented, key)]
    assert differing == []
    assert defaults == documented


def _get(params: dict, key: str):
    for part in key.split("."):
        params = params[part]
    return params


def test_frame_spec_depth_defaults_are_the_schema_defaults():
    from pipeline.frames import FrameSpec

    fields = FrameSpec.__dataclass_fields__
    assert fields["depth_near"].default == SCHEMA["frames"]["depth"]["near"].default
    assert fields["depth_far"].default == SCHEMA["frames"]["depth"]["far"].default


def test_every_key_and_list_item_says_what_it_is():
    assert [key for key, field in schema_fields() if not field.help and not key.endswith("[0]")] == []


def test_train_workers_says_what_it_does():
    assert SCHEMA["train"]["workers"].help == "DataLoader worker processes (0 = load in the main process)"


# ------------------------------------------------------------------ presets
def dvc_params_keys() -> list[str]:
    """Every params key that a stage of dvc.yaml declares (read at run time: dvc.yaml changes)."""
    stages = read_yaml(REPO / "dvc.yaml")["stages"]
    keys = []
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for entry in body.get("params", []) or []:
            if isinstance(entry, str):
                keys.append(entry)
            elif isinstance(entry, dict):  # {params file: [keys]}
                for source, listed in entry.items():
                    assert source == "params.yaml", f"stage {name} reads params from {source}"
                    keys.extend(listed or [])
    assert keys, "dvc.yaml declares no params"
    return sorted(set(keys))


def has_key(mapping: dict, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(mapping, dict) or part not in mapping:
            return False
        mapping = mapping[part]
    return True


@pytest.mark.parametrize("path", [REPO / "params.yaml", *PRESETS], ids=["params.yaml", *[p.stem for p in PRESETS]])
def test_every_params_key_dvc_yaml_declares_is_there(path):
    raw = compose(path)
    missing = [key for key in dvc_params_keys() if not has_key(raw, key)]
    assert missing == [], f"{path.name} lacks keys dvc.yaml declares"


# ------------------------------------------------------------------ choices come from the registries
def test_dataset_choices_are_the_adapters(monkeypatch):
    from pipeline.datasets import ADAPTERS

    with pytest.raises(ParamsError, match=re.escape(f"dataset: 'kinetics' is not one of {', '.join(ADAPTERS)}")):
        validate_params({"dataset": "kinetics"})
    monkeypatch.setitem(ADAPTERS, "synthetic_copy", ADAPTERS["synthetic"])  # a new adapter is valid at once
    assert validate_params({"dataset": "synthetic_copy"})["dataset"] == "synthetic_copy"


def test_model_choices_are_the_model_modules_own_names():
    from pipeline.models import students, teachers

    assert SCHEMA["student"]["backbone"].choices is students.BACKBONES
    assert SCHEMA["student"]["head"].choices is students.HEADS
    assert SCHEMA["teacher"]["spamfm_layers"].item.choices is teachers.TAPS
    assert SCHEMA["teacher"]["spamfm_gate"].choices is teachers.GATES
    assert SCHEMA["teacher"]["spamfm_relation"].choices is teachers.RELATIONS
    assert tuple(SCHEMA["teacher"]["architecture"].choices) == tuple(teachers.VGG_LAYOUTS)


def test_params_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, pipeline.params; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_distill_methods_are_the_registered_distillation_losses(monkeypatch):
    from pipeline.losses import LOSSES, distill_methods

    methods = distill_methods()
    assert set(methods) == {"sakdn", "label_smoothing", "pseudo_label"} | {name for name, cls in LOSSES.items() if cls.method}
    assert {"soft_target", "logits", "fitnet", "at", "rkd", "sp", "cc", "dkd", "contrastive"} <= set(methods)
    assert not {"ce", "semantic", "gsdm"} & set(methods)  # terms, not methods
    with pytest.raises(ParamsError, match=re.escape(f"distill.method: 'ce' is not one of {', '.join(methods)}")):
        validate_params({"distill": {"method": "ce"}})

    class Dummy(LOSSES["logits"]):
        method = True

    monkeypatch.setitem(LOSSES, "dummy_kd", Dummy)  # a newly registered method is valid at once
    assert validate_params({"distill": {"method": "dummy_kd"}})["distill"]["method"] == "dummy_kd"


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "mobilenet_v2"])
def test_layer_pairs_are_checked_against_the_chosen_backbone(backbone):
    from pipeline.models.names import BACKBONE_TAPS, TEACHER_CONV_TAPS
    from pipeline.models.students import _build_trunk

    taps = BACKBONE_TAPS[backbone]
    assert tuple(_build_trunk(backbone).tap_names) == tuple(taps)  # the names are the trunk's
    student = {"backbone": backbone, "weights": None}
    for tap in taps:
        validate_params({"student": student, "distill": {"layer_pairs": [["conv4", tap]], "importance": "norm"}})
    # GSDM's channel importance (the default): closed form at the last stage, rerun at the others.
    validate_params({"student": student, "distill": {"layer_pairs": [["conv4", taps[-1]]]}})
    validate_params({"student": student, "distill": {"layer_pairs": [["conv4", taps[0]]]}})
    validate_params({"student": student, "distill": {"layer_pairs": [["conv4", taps[0]]], "method": "at"}})
    validate_params({"student": student, "beta": 0, "distill": {"layer_pairs": [["conv4", taps[0]]]}})
    foreign = next(t for b, ts in BACKBONE_TAPS.items() for t in ts if t not in taps)
    message = (f"distill.layer_pairs: student tap {foreign!r} is not a tap of student.backbone {backbone} "
               f"(its taps: {', '.join(taps)})")
    with pytest.raises(ParamsError, match=re.escape(message)):
        validate_params({"student": student, "distill": {"layer_pairs": [["conv4", foreign]]}})
    with pytest.raises(ParamsError, match=re.escape(f"distill.layer_pairs: teacher tap 'fc1' is not one of "
                                                    f"{', '.join(TEACHER_CONV_TAPS)}")):
        validate_params({"student": student, "distill": {"layer_pairs": [["fc1", taps[-1]]]}})


def test_a_resnet_tap_with_mobilenet_names_the_mobilenet_taps():
    with pytest.raises(ParamsError, match=r"distill.layer_pairs: student tap 'layer4' is not a tap of "
                                          r"student.backbone mobilenet_v2 \(its taps: stage1, stage2, stage3, "
                                          r"stage4, stage5\)"):
        validate_params({"student": {"backbone": "mobilenet_v2"}, "distill": {"layer_pairs": [["conv4", "layer4"]]}})


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "mobilenet_v2"])
@pytest.mark.parametrize("head", ["tsn", "trn", "tsm"])
@pytest.mark.parametrize("segments", [1, 2])
def test_params_reject_exactly_the_students_the_module_rejects(backbone, head, segments):
    from pipeline.models.names import BACKBONE_TAPS
    from pipeline.models.students import _check_arguments

    try:
        _check_arguments(backbone, head, 5, 8, segments, 0.5, 3, 0.125)
        module_error = None
    except ValueError as error:
        module_error = error
    raw = {"student": {"backbone": backbone, "head": head, "num_segments": segments, "weights": None},
           "distill": {"layer_pairs": [["conv4", BACKBONE_TAPS[backbone][-1]]], "importance": "norm"}}
    if module_error is None:
        validate_params(raw)
    else:
        with pytest.raises(ParamsError, match=r"^student\.(head|num_segments): "):
            validate_params(raw)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "mobilenet_v2"])
def test_tsm_is_accepted_with_every_backbone(backbone):
    raw = {"student": {"backbone": backbone, "head": "tsm", "weights": None},
           "distill": {"layer_pairs": [["conv4", "stage5" if backbone == "mobilenet_v2" else "layer4"]]}}
    assert validate_params(raw)["student"]["head"] == "tsm"


def test_tsm_with_a_backbone_without_a_shift_is_rejected_at_load_in_one_line(monkeypatch):
    import pipeline.params_rules

    # Every backbone has a shift now; a new backbone would be refused until its trunk inserts one.
    monkeypatch.setattr(pipeline.params_rules, "TSM_BACKBONES", ("resnet18", "resnet50"))
    with pytest.raises(ParamsError, match=r"^student.head: tsm has no temporal shift for student.backbone "
                                          r"mobilenet_v2 \(use one of resnet18, resnet50\)$"):
        validate_params({"student": {"backbone": "mobilenet_v2", "head": "tsm"}})


def test_imagenet_weights_only_where_a_file_exists_offline():
    from pipeline.models.weights import PACKAGED

    for backbone in ("resnet18", "resnet50"):
        assert backbone not in PACKAGED
        with pytest.raises(ParamsError, match=f"student.weights: imagenet has no offline file for student.backbone "
                                              f"{backbone} \\(only mobilenet_v2\\)"):
            validate_params({"student": {"backbone": backbone}, "distill": {"layer_pairs": [["conv5", "layer4"]]}})
        validate_params({"student": {"backbone": backbone, "weights": "/some/file.pth"},
                         "distill": {"layer_pairs": [["conv5", "layer4"]]}})


# ------------------------------------------------------------------ the losses' own keys
@pytest.mark.parametrize("raw, message", [
    ({"distill": {"rkd": {"distance_weight": -1.0}}}, "distill.rkd.distance_weight: -1.0 is below the minimum"),
    ({"distill": {"rkd": {"angle_weight": "lots"}}}, "distill.rkd.angle_weight: expected a number, got 'lots'"),
    ({"distill": {"rkd": {"beta": 1.0}}}, "unknown key distill.rkd.beta"),
    ({"distill": {"at": {"p": 0.0}}}, "distill.at.p: 0.0 is below the minimum"),
    ({"distill": {"cc": {"gamma": "nan"}}}, "distill.cc.gamma: must be a finite number, got nan"),
    ({"distill": {"kd": {"p": 1.0}}}, "unknown key distill.kd"),
])
def test_loss_keys_are_validated(raw, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        validate_params(raw)


def test_loss_keys_have_the_loss_signature_defaults():
    """A loss built without params uses the same numbers as the default run."""
    from pipeline.losses import LOSSES

    def default(name, argument):
        return inspect.signature(LOSSES[name]).parameters[argument].default

    distill = SCHEMA["distill"]
    assert default("at", "p") == distill["at"]["p"].default
    assert default("rkd", "distance_weight") == distill["rkd"]["distance_weight"].default
    assert default("rkd", "angle_weight") == distill["rkd"]["angle_weight"].default
    assert default("cc", "gamma") == distill["cc"]["gamma"].default
    assert default("soft_target", "temperature") == SCHEMA["temperature"].default
    assert default("gsdm", "readout") == distill["readout"].default
    assert default("gsdm", "importance") == distill["importance"].default
    for name in ("gsdm", "at", "sp", "fitnet"):  # layer pairs come from params, never a default
        assert default(name, "pairs") is inspect.Parameter.empty


def test_self_training_teachers_need_unlabeled_recordings():
    with pytest.raises(ParamsError, match=r"teacher\.self_training\.rounds: the teachers self-train"):
        validate_params({"teacher": {"self_training": {"rounds": 1}}})
    params = validate_params({"splits": {"labeled_fraction": 0.5}, "teacher": {"self_training": {"rounds": 2}}})
    assert params["teacher"]["self_training"] == {"rounds": 2, "threshold": 0.8, "coverage": None}


def test_labels_with_baseline_reads_either_control():
    from pipeline.params_rules import labels_with_baseline

    assert labels_with_baseline({"distill": {"method": "soft_target", "targets": "baseline"}})
    assert labels_with_baseline({"distill": {"method": "pseudo_label", "pseudo_label": {"labeller": "baseline"}}})
    assert not labels_with_baseline({"distill": {"method": "pseudo_label", "targets": "baseline",
                                                 "pseudo_label": {"labeller": "student"}}})
    assert not labels_with_baseline({})


def test_withheld_labels_with_a_protocol_that_splits_recordings_are_refused_at_load():
    # checked with the params, before DVC deletes the manifest stage's outputs to rerun it
    with pytest.raises(ParamsError, match=r"^splits\.protocols: 'cross_view' splits recordings by view, so "
                                          r"splits\.labeled_fraction 0\.5 would read a withheld label"):
        validate_params({"splits": {"labeled_fraction": 0.5, "protocols": ["cross_subject", "cross_view"]}})
    assert validate_params({"splits": {"protocols": ["cross_view"]}})["splits"]["labeled_fraction"] == 1.0
