"""benchmarks/repro.py: the command that times `make repro-all`."""


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
