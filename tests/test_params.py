import pytest

from pipeline.params import ParamsError, load_params, validate_params
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
    assert params["splits"]["protocols"] == ["cross_subject", "cross_view", "cross_scene", "cross_session"]


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
        ({"gaf": {"image_size": 16}}, "gaf.image_size: 16 is too small for the teacher"),
        ({"distill": {"layer_pairs": [["conv4", "layer9"]]}}, "distill.layer_pairs: student tap 'layer9'"),
        ({"student": {"backbone": "vgg"}}, "student.backbone: 'vgg' is not one of"),
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


def test_every_preset_is_valid():
    presets = sorted((REPO / "presets").glob("*.yaml"))
    assert {p.stem for p in presets} >= {"utd_mhad_depth", "utd_mhad_rgb", "berkeley_mhad", "mmact"}
    for preset in presets:
        params = load_params(preset)
        assert params["dataset"] != "synthetic" and params["data"]["root"] != "data/synthetic", preset.name
