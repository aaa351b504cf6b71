"""Tiny smoke versions of the speed benchmarks in benchmarks/ (the real sizes are run by hand):
each must run end to end, and what it reports is checked against what the test sees itself
(an independent decode and timing, literal counts, hooks' counts), not against the
benchmark's own arithmetic."""
import json
import math
import time

import numpy as np
import pytest
from scipy.io import savemat

from tests.conftest import SHARED


def test_results_carry_the_command_commit_and_machine(tmp_path, capsys):
    from benchmarks import common

    output = tmp_path / "results" / "x.json"
    result = common.finish({"benchmark": "x", "speedup": 2.0}, "benchmarks.x", ["--steps", "3"], output,
                           printed=["benchmark", "command"])
    saved = json.loads(output.read_text())
    assert saved == result and saved["command"] == "python -m benchmarks.x --steps 3" and saved["speedup"] == 2.0
    assert len(saved["git"]["commit"]) == 40 and saved["machine"]["cores"] >= 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "benchmark": "x", "command": "python -m benchmarks.x --steps 3"}
    args = common.parser("benchmarks.x", "X: what it measures.\n\nMore.").parse_args([])
    assert args.output is None


def positive_and_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_frames_benchmark_agrees_with_an_independent_decord_loop(tmp_path):
    import decord
    import h5py

    from benchmarks import frames
    from pipeline.frames import resize_frames, uniform_indices

    folder = SHARED / "videos"  # the real ones when present
    real = sorted(p for p in folder.glob("*") if p.suffix in (".avi", ".mp4")) if folder.is_dir() else []
    workdir = tmp_path / "work"
    result = frames.main(["--repeat", "2", "--synthetic", "2", "--per-video", "4", "--size", "32",
                          "--videos", str(folder if real else tmp_path / "none"), "--workdir", str(workdir)])
    videos = [str(p) for p in real] * 2 + [str(workdir / f"clip{i:03d}.avi") for i in range(2)]
    assert result["real_videos"] == [p.name for p in real]
    assert result["videos"] == len(videos)

    # The same files, decoded and timed here with a plain decord loop of our own.
    start = time.perf_counter()
    decoded = []
    for video in videos:
        reader = decord.VideoReader(video, ctx=decord.cpu(0))
        batch = reader.get_batch(uniform_indices(len(reader), 4).tolist()).asnumpy()
        decoded.append(resize_frames(batch, 32, "center"))
    seconds = time.perf_counter() - start

    # The frames stage's output, kept in --workdir: every video, each equal to our decode.
    with h5py.File(workdir / "frames.h5", "r") as cache:
        ours = cache["frames"][()]
    assert ours.shape == (len(videos), 4, 32, 32, 3)
    assert result["frames_shape"] == list(ours.shape)
    for index, (cached, expected) in enumerate(zip(ours, decoded)):
        assert np.array_equal(cached, expected), videos[index]
    assert result["identical_frames"] is True and result["compared_videos"] == len(videos)

    for key in ("reference_seconds", "ours_seconds", "speedup", "reference_videos_per_s", "ours_videos_per_s"):
        assert positive_and_finite(result[key]), key
    # The reported reference time is that of a decord loop over these files (generous: shared CPUs).
    assert 0.2 * seconds <= result["reference_seconds"] <= 5 * seconds, (result["reference_seconds"], seconds)


SAKDN_TERMS = ["ce", "gsdm", "semantic", "soft_target"]


def test_train_step_benchmark_runs_what_each_configuration_names():
    from benchmarks import train_step

    result = train_step.main(["--segments", "2", "--size", "32", "--batch-size", "2", "--gaf-size", "32",
                              "--classes", "5", "--steps", "5", "--warmup", "1", "--device", "cpu",
                              "--importance", "norm", "--pair", "conv4", "stage4"])
    names = {"baseline", "sakdn_cached", "sakdn_uncached"}
    for key in ("median_step_seconds", "clips_per_second"):
        assert set(result[key]) == names
        assert all(positive_and_finite(value) for value in result[key].values()), key
    for key in ("distill_over_baseline", "uncached_over_baseline", "teacher_forward_seconds",
                "student_ablated_pass_seconds"):
        assert positive_and_finite(result[key]), key

    # 5 timed steps (over 2 interleaved rounds) + 1 warm-up, 2 clips each, for every configuration.
    assert result["timed_steps"] == dict.fromkeys(names, 5)
    assert result["steps_run"] == dict.fromkeys(names, 6)
    assert result["clips_trained"] == dict.fromkeys(names, 12)
    # Each configuration computed the loss it is named after.
    assert result["loss_terms"] == {"baseline": ["ce"], "sakdn_cached": SAKDN_TERMS, "sakdn_uncached": SAKDN_TERMS}
    # Cached: the teachers never run. Uncached: once per step, plus GSDM's black batch once (kept per batch size).
    assert result["teacher_forward_calls"] == {"baseline": 0, "sakdn_cached": 0, "sakdn_uncached": 6 + 1}
    # GSDM's ablated student pass: once per step; CE alone needs none.
    assert result["student_ablated_passes"] == {"baseline": 0, "sakdn_cached": 6, "sakdn_uncached": 6}

    # Identical weights, batch and dropout masks at the first step: the cached teacher outputs are
    # the teachers' outputs (same loss as running them), and the baseline's CE is the same CE.
    first = result["first_step_loss"]
    assert set(first["sakdn_cached"]) == set(SAKDN_TERMS)
    assert first["sakdn_cached"] == pytest.approx(first["sakdn_uncached"], rel=1e-5, abs=1e-7)
    assert first["baseline"] == pytest.approx({"ce": first["sakdn_cached"]["ce"]}, rel=1e-5)
    assert all(math.isfinite(value) for terms in first.values() for value in terms.values())
    assert all(first["sakdn_cached"][term] != 0 for term in SAKDN_TERMS)


def test_train_step_benchmark_with_channel_importance_caches_the_teachers_read_outs():
    from benchmarks import train_step

    result = train_step.main(["--segments", "2", "--size", "64", "--batch-size", "2", "--gaf-size", "32",
                              "--classes", "5", "--steps", "2", "--warmup", "1", "--device", "cpu"])
    assert result["config"]["gsdm_importance"] == "channel" and result["config"]["gsdm_pair"] == ["conv4", "stage5"]
    # No black-input passes; uncached runs the teachers once per step and once per branch for the read-outs.
    assert result["student_ablated_passes"] == {"baseline": 0, "sakdn_cached": 0, "sakdn_uncached": 0}
    assert result["teacher_forward_calls"]["sakdn_cached"] == 0
    assert result["teacher_forward_calls"]["sakdn_uncached"] == 3 * (2 + 1)
    first = result["first_step_loss"]
    assert first["sakdn_cached"] == pytest.approx(first["sakdn_uncached"], rel=1e-5, abs=1e-7)
    assert first["sakdn_cached"]["gsdm"] > 0


def test_cpu_speedups_measures_both_memory_formats_and_the_import_cost():
    from benchmarks import cpu_speedups

    result = cpu_speedups.main(["--steps", "1", "--repeats", "1", "--gaf-size", "32",
                                "--student", "--segments", "2", "--size", "32", "--batch-size", "2", "--gaf-size", "32"])
    for part in ("student", "teacher"):
        seconds, speedup = result[f"{part}_step_seconds" if part == "student" else "teacher_seconds"], result[f"{part}_speedup"]
        assert set(seconds) == {"contiguous", "channels_last"}
        for name, ratio in speedup.items():
            assert ratio == round(seconds["contiguous"][name] / seconds["channels_last"][name], 2)
    assert set(result["teacher_speedup"]) == {"train_step_seconds", "inference_seconds"}
    assert result["config"]["student"]["memory_format"] == "channels_last" and result["config"]["student"]["size"] == 32
    assert result["first_step_loss_largest_difference"] < 1e-3  # the layout changes speed, not results
    imports = result["stage_import_seconds"]
    assert imports["saved"] == round(imports["eager_torchvision_sklearn"] - imports["lazy"], 2)
    assert imports["lazy"] > 0


def test_train_step_paper_preset_gives_defaults_that_explicit_options_override():
    from benchmarks.train_step import parse_args

    args = parse_args(["--paper", "--batch-size", "2"])
    assert (args.backbone, args.segments, args.size, args.batch_size) == ("resnet50", 8, 224, 2)
    assert parse_args([]).backbone == "mobilenet_v2"


def test_gaf_benchmark_checks_its_images_against_pyts(tmp_path, monkeypatch):
    """One test only: the benchmark imports pyts (~30 s)."""
    from benchmarks import gaf

    inertial = tmp_path / "utd" / "Inertial"
    inertial.mkdir(parents=True)
    rng = np.random.default_rng(1)
    # 4 recordings, 2 sensors (acc, gyro) each; two of equal length (pyts's grouped call),
    # one too short for S=64 (left out for both).
    for trial, length in enumerate((40, 70, 100, 100), start=1):
        signal = np.cumsum(rng.normal(size=(length, 6)), axis=0)
        savemat(inertial / f"a1_s1_t{trial}_inertial.mat", {"d_iner": signal})
    argv = ["--root", str(tmp_path / "utd"), "--sizes", "32", "64", "--repeats", "1"]

    result = gaf.main(argv)
    assert result["recordings"] == 4
    assert result["sizes"]["S32"]["signals"] == 8 and result["sizes"]["S32"]["images_shape"] == [8, 3, 32, 32]
    assert result["sizes"]["S64"]["signals"] == 6 and result["sizes"]["S64"]["images_shape"] == [6, 3, 64, 64]
    assert result["matches_pyts"] is True
    for size in result["sizes"].values():
        assert size["matches_pyts"] is True and size["max_abs_difference"] < 1e-5
        assert positive_and_finite(size["ours_seconds"]) and positive_and_finite(size["pyts_seconds"])
    assert positive_and_finite(result["speedup_vs_pyts"])

    # The flag can fail: a GAF with its sign flipped no longer matches pyts.
    correct = gaf.gaf_images
    monkeypatch.setattr(gaf, "gaf_images", lambda signals, size: -correct(signals, size))
    broken = gaf.main(argv)
    assert broken["matches_pyts"] is False
    assert not any(size["matches_pyts"] for size in broken["sizes"].values())


# ---------------------------------------------------------------------------- benchmarks.scale
def test_scale_linear_fit_by_hand():
    from benchmarks.scale import linear_fit

    fit = linear_fit([100, 200, 400], [12.0, 22.0, 42.0])  # 0.1 s per video + 2 s
    assert fit["seconds_per_video"] == pytest.approx(0.1) and fit["intercept_seconds"] == pytest.approx(2.0)
    assert fit["r2"] == pytest.approx(1.0) and fit["mmact_36k_minutes"] == pytest.approx((3600 + 2) / 60, abs=0.1)


def test_scale_measures_a_childs_peak_memory(tmp_path):
    import sys

    from benchmarks.scale import measured

    allocate = "import time, numpy; a = numpy.ones(300 * 2**20 // 8); print(a.sum() > 0); time.sleep(0.5)"
    ballast = b"\x01" * (1500 * 2**20)  # resident: this process is larger than the child
    seconds, peak_mb, stdout = measured([sys.executable, "-c", allocate], tmp_path, tmp_path / "log")
    assert stdout.strip() == "True" and seconds > 0
    assert 300 <= peak_mb < 1000  # the child's own peak, not this process's size at the fork
    del ballast
    with pytest.raises(SystemExit, match="failed"):
        measured([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, tmp_path / "log")


def test_repro_all_protocols_command_is_the_makefiles_and_extends_the_default_protocols():
    """`make repro-all` (timed by `benchmarks.repro --then-all-protocols`) sets every synthetic
    protocol, the default run's among them, and each is one the params validator accepts."""
    from benchmarks.repro import all_protocols_command
    from pipeline.params import load_params, validate_params
    from tests.conftest import REPO

    command = all_protocols_command(REPO)
    assert command[:4] == ["dvc", "exp", "run", "-S"]
    assert command[4] == "splits.protocols=[cross_subject,cross_view,cross_scene,cross_session]"
    protocols = command[4].split("=", 1)[1].strip("[]").split(",")
    validate_params({"splits": {"protocols": protocols}})
    assert set(load_params(REPO / "params.yaml")["splits"]["protocols"]) < set(protocols)
