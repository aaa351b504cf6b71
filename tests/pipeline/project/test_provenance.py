"""pipeline/project/provenance.py: where a results file comes from."""
from __future__ import annotations

from pipeline.project.provenance import command_line, describe_machine, describe_machines, git_commit, machine


def test_the_command_is_quoted_as_typed():
    assert command_line("pipeline.study", ["s.yaml", "--root", "/my data"]) == \
        "python -m pipeline.study s.yaml --root '/my data'"


def test_commit_and_machine():
    commit = git_commit()
    assert len(commit["commit"]) == 40 and isinstance(commit["dirty"], bool)
    found = machine()
    assert found["cores"] >= 1 and {"cpu", "gpu", "python", "torch"} <= set(found)
    assert describe_machine({"cpu": "c", "cores": 2, "gpu": None}) == "c, 2 cores, GPU: none"
    # Two hosts alike but for their kernel, and a GPU machine: each kind once, counted.
    alike = {"cpu": "c", "cores": 2, "gpu": None}
    machines = {"a": {**alike, "platform": "v1"}, "b": {**alike, "platform": "v2"}, "g": {**alike, "gpu": "H200"}}
    assert describe_machines(machines) == "c, 2 cores, GPU: none (2 machines); c, 2 cores, GPU: H200"
    assert describe_machines({}) == "none recorded"
