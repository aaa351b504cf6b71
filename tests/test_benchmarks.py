"""Tiny smoke versions of the benchmarks in benchmarks/ (the real sizes are run by hand):
each must run end to end and report what its full version reports."""
import json

import numpy as np
import pytest
from scipy.io import savemat

from tests.conftest import SHARED


def test_frames_benchmark_matches_a_plain_decord_loop(tmp_path):
    from benchmarks import frames

    videos = SHARED / "videos" if (SHARED / "videos").is_dir() else tmp_path / "none"  # real ones when present
    result = frames.main(["--repeat", "1", "--synthetic", "2", "--per-video", "4", "--size", "32",
                          "--videos", str(videos)])
    assert result["identical_frames"] is True  # same files, same indices, same frames
    assert result["videos"] == 2 + len(result["real_videos"])
    assert result["speedup"] == pytest.approx(result["reference_seconds"] / result["ours_seconds"], rel=0.02, abs=0.01)


def test_train_step_benchmark_reports_each_configuration():
    from benchmarks import train_step

    result = train_step.main(["--segments", "2", "--size", "32", "--batch-size", "2", "--gaf-size", "32",
                              "--classes", "5", "--steps", "2", "--warmup", "1", "--device", "cpu"])
    steps = result["median_step_seconds"]
    assert set(steps) == {"baseline", "sakdn_cached", "sakdn_uncached"}
    assert all(value > 0 for value in steps.values())
    assert result["distill_over_baseline"] == pytest.approx(steps["sakdn_cached"] / steps["baseline"], abs=0.01)
    assert result["clips_per_second"]["baseline"] == pytest.approx(2 / steps["baseline"], rel=0.05, abs=0.1)


def test_train_step_paper_preset_gives_defaults_that_explicit_options_override():
    from benchmarks.train_step import parse_args

    args = parse_args(["--paper", "--batch-size", "2"])
    assert (args.backbone, args.segments, args.size, args.batch_size) == ("resnet50", 8, 224, 2)
    assert parse_args([]).backbone == "mobilenet_v2"


@pytest.fixture
def small_utd_tree(tmp_path):
    """UTD-MHAD's native layout: 3 actions x 2 subjects x 4 trials, inertial and depth."""
    rng = np.random.default_rng(0)
    root = tmp_path / "utd"
    for folder in ("Inertial", "Depth"):
        (root / folder).mkdir(parents=True)
    for action in (1, 2, 3):
        for subject in (1, 2):
            for trial in (1, 2, 3, 4):
                name = f"a{action}_s{subject}_t{trial}"
                time = np.linspace(0, 2 * np.pi, 100)[:, None]
                signal = np.sin(action * time + rng.normal(0, 0.1, (1, 6))) + rng.normal(0, 0.05, (100, 6))
                savemat(root / "Inertial" / f"{name}_inertial.mat", {"d_iner": signal})
                depth = np.zeros((240, 320, 6), dtype=np.uint16)
                depth[60:200, 100 + 20 * action: 140 + 20 * action] = 2500
                savemat(root / "Depth" / f"{name}_depth.mat", {"d_depth": depth})
    return root


@pytest.mark.slow
def test_utd_mhad_benchmark_end_to_end_and_resume(small_utd_tree, tmp_path):
    from benchmarks import utd_mhad

    output = tmp_path / "results" / "utd.json"
    argv = ["--root", str(small_utd_tree), "--workdir", str(tmp_path / "work"), "--output", str(output),
            "--teachers", "fused", "--students", "baseline", "sakdn", "--seeds", "0", "--main-rows", "baseline",
            "-S", "frames.per_video=4", "-S", "frames.size=32", "-S", "gaf.image_size=32",
            "-S", "teacher.epochs=1", "-S", "teacher.batch_size=4", "-S", "student.epochs=1",
            "-S", "student.batch_size=4", "-S", "student.num_segments=2", "-S", "student.weights=null"]
    result = utd_mhad.main(argv)
    saved = json.loads(output.read_text())
    assert saved["teachers"] == result["teachers"]
    assert 0 <= saved["teachers"]["fused"]["accuracy"] <= 100
    for name in ("baseline", "sakdn"):
        assert set(saved["students"][name]["accuracy"]) == {"mean", "std", "runs"}
        assert len(saved["students"][name]["accuracy"]["runs"]) == 1
    assert len(saved["git"]["commit"]) == 40 and saved["command"].startswith("python -m benchmarks.utd_mhad")
    assert set(saved["stage_seconds"]["preprocessing"]) == {"manifest", "frames", "gaf", "embed"}
    table = output.with_suffix(".md").read_text()
    assert "| SAKDN (" in table and "98.6" in table  # the paper's number next to ours
    assert 0 <= saved["students"]["sakdn"]["validation_accuracy"]["mean"] <= 100  # what selection may look at
    # A second invocation finds every finished run and reruns nothing.
    log = tmp_path / "work" / "stages.log"
    before = log.read_text()
    again = utd_mhad.main(argv)
    assert log.read_text() == before
    assert again["students"] == result["students"]
