"""benchmarks/repro.py: the command that times `make repro-all`, and the summary over seeds."""


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


def test_accuracy_over_seeds_by_hand():
    from benchmarks.repro import over_seeds

    def metrics(teacher, baseline, student):
        return {"metrics/cross_subject.json": {"teachers": {"fused": {"accuracy": teacher}},
                                               "baseline": {"accuracy": baseline}, "student": {"accuracy": student}}}

    summary = over_seeds({"0": metrics(100.0, 50.0, 60.0), "1": metrics(90.0, 40.0, 60.0), "2": metrics(80.0, 60.0, 60.0)})
    rows = summary["metrics/cross_subject.json"]
    assert rows["teachers (fused)"] == {"runs": [100.0, 90.0, 80.0], "mean": 90.0, "sd": 10.0}
    assert rows["baseline"] == {"runs": [50.0, 40.0, 60.0], "mean": 50.0, "sd": 10.0}
    assert rows["student"]["sd"] == 0.0
