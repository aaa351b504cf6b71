"""pipeline/study/project.py: the parts of the study's DVC project that need no DVC run (the
smoke study in tests/e2e/test_fraction_study.py runs the rest)."""
from __future__ import annotations

import shutil

from pipeline.study.project import Project, cell_name, code_version
from tests.conftest import REPO


def test_experiment_names_are_git_ref_safe():
    assert cell_name("r1-sakdn-a0.1-b1-e6-s0") == "r1-sakdn-a0p1-b1-e6-s0"
    assert cell_name("r2-soft_target-t4-e24-s1") == "r2-soft-target-t4-e24-s1"


def test_the_code_version_follows_the_stages_code(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "stages", root / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    assert code_version(root=root) == code_version()
    before = code_version(("embed",), root)
    (root / "pipeline" / "frames.py").write_text("# changed\n")  # not a dep of embed
    assert code_version(("embed",), root) == before and code_version(root=root) != code_version()
    (root / "pipeline" / "embeddings.py").write_text("# changed\n")
    assert code_version(("embed",), root) != before


def test_updating_the_code_keeps_a_project_of_this_code_and_clones_a_missing_one(tmp_path):
    root = tmp_path / "project"
    assert Project(root, {}, "s", tmp_path / "log").same_code()  # without --update-code: keep
    assert not Project(root, {}, "s", tmp_path / "log", update_code=True).same_code()  # none yet
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "stages", root / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    assert Project(root, {}, "s", tmp_path / "log", update_code=True).same_code()
    (root / "pipeline" / "frames.py").write_text("# changed\n")
    assert not Project(root, {}, "s", tmp_path / "log", update_code=True).same_code()


def test_the_project_is_made_only_when_used(tmp_path):
    project = Project(tmp_path / "project", {"student": {}}, "s", tmp_path / "log")
    assert not project.ready and not (tmp_path / "project").exists()


def test_an_experiments_validation_is_its_students_summary(tmp_path):
    project = Project(tmp_path / "project", {}, "s", tmp_path / "log")
    experiment = {"metrics": {"dvclive/s/student/metrics.json": {"best_val_accuracy": 81.5, "best_epoch": 7}}}
    assert project.validation(experiment, "student") == {"validation_accuracy": 81.5, "best_epoch": 7}
    import pytest

    from pipeline.study.errors import StudyError

    with pytest.raises(StudyError, match="no best_val_accuracy for baseline"):
        project.validation(experiment, "baseline")


def test_a_student_skipped_for_want_of_video_stops_the_study_with_one_line(tmp_path):
    import pytest

    from pipeline.study.errors import StudyError

    project = Project(tmp_path / "project", {}, "s", tmp_path / "log")
    experiment = {"metrics": {"dvclive/s/student/metrics.json": {"skipped": "no video: the manifest has sensor "
                                                                           "files only"}}}
    with pytest.raises(StudyError, match=r"the student was not trained \(no video: the manifest has sensor files "
                                         r"only\); a study compares video students and needs videos"):
        project.validation(experiment, "student")


def test_an_experiment_runs_its_stage_alone_when_nothing_upstream_would_change(tmp_path):
    from pipeline.params import validate_params
    from pipeline.params_compose import with_overrides
    from ruamel.yaml import YAML

    params = validate_params(YAML(typ="safe", pure=True).load((REPO / "params.yaml").read_text()))
    project = Project(REPO, params, "cross_subject", tmp_path / "log")  # reads dvc.yaml only
    assert {"manifest", "frames", "teachers", "teacher_outputs", "baseline"} <= set(project.upstream("distill"))
    # the synthetic dataset's folder (data.root) is the synthesize stage's output: DVC reruns it first
    assert "teachers" not in project.upstream("baseline")
    assert project.upstream("manifest") == ["check_params", "synthesize"]
    for overrides in (["student.epochs=3", "student.head=tsm"], ["distill.method=soft_target", "temperature=2"]):
        assert project.runs_alone("distill@cross_subject", with_overrides(params, overrides))
    assert project.runs_alone("baseline@cross_subject", with_overrides(params, ["student.seed=4"]))
    # the teachers or their outputs change: DVC must rerun them; self-training trains its own baseline
    for overrides in (["teacher_outputs.folds=4"], ["teacher.spamfm_layers=[]"], ["distill.targets=baseline"]):
        assert not project.runs_alone("distill@cross_subject", with_overrides(params, overrides))
    assert project.runs_alone("teachers@cross_subject", with_overrides(params, ["teacher.spamfm_layers=[]"]))


def test_experiments_lists_only_finished_ones(tmp_path, monkeypatch):
    """`dvc exp show` lists a running or queued experiment with the revision it started from,
    whose dvclive summaries are its parent's: taken as finished, every experiment of a queue
    that was still running read the project's own (short) baseline."""
    import json
    import subprocess

    def revision(name, rev, data_rev, state):
        return {"name": name, "executor": {"state": state} if state else None,
                "revs": [{"rev": rev, "name": name, "data": {"rev": data_rev, "params": {"params.yaml": {"data": {}}},
                                                             "metrics": {}}}]}

    shown = [{"rev": "workspace", "experiments": None},
             {"rev": "main", "experiments": [revision("done", "aaa", "aaa", "success"),
                                             revision("older", "ddd", "ddd", None),
                                             revision("running", "bbb", "workspace", "running"),
                                             revision("queued", "ccc", "ccc", "queued")]}]
    summaries = {"aaa": 61.0, "ddd": 55.0, "bbb": 8.33, "ccc": 8.33}  # bbb, ccc: the parent's files

    def run(*command, check=True, timeout=None):
        if command[1:3] == ("exp", "show"):
            out = json.dumps(shown)
        elif command[:2] == ("git", "ls-tree"):
            out = "dvclive/s/student/metrics.json\n"
        else:  # git show <rev>:<path>
            out = json.dumps({"best_val_accuracy": summaries[command[2].split(":")[0]], "best_epoch": 1})
        return subprocess.CompletedProcess(command, 0, out, "")

    project = Project(tmp_path / "project", {}, "s", tmp_path / "log")
    monkeypatch.setattr(project, "run", run)
    found = project.experiments()
    assert set(found) == {"done", "older"}
    assert project.validation(found["done"], "student")["validation_accuracy"] == 61.0
