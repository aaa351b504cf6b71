"""A tiny smoke version of benchmarks/cpu_speedups.py."""


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
