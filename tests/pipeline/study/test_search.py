"""pipeline/study/search.py: the schedule and successive halving on validation, the runs'
names and keys, a search that takes every recorded run from the record; the teachers and the
student's head chosen on validation before the settings search, their overrides in every later run."""
from __future__ import annotations

import pytest

from pipeline.study.record import Record
from pipeline.study.search import (
    Search, choose_cells, choose_head_schedule, choose_schedule, choose_teachers, head_schedule_runs, promote,
    rung1_runs, rung2_runs, schedule_runs, teacher_runs,
)
from pipeline.study.spec import load_spec

SPEC = """\
preset: presets/utd_mhad_depth.yaml
split: subject_specific
seeds: [0, 1, 2]
selection_seeds: [0, 1]
schedule: [2, 4]
search: {short_epochs: 2, reduction: 3}
arms:
  baseline: {stage: baseline}
  sakdn:
    base: [distill.method=sakdn]
    grid: {alpha: [0.1, 1]}
    grid_name: a{alpha}
    cells: {t-auto: [temperature=auto], temporal: [distill.align=temporal], folds4: [teacher_outputs.folds=4]}
  dkd:
    cells: {t4: [distill.method=dkd]}
"""


def loaded(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_spec(path)


@pytest.fixture
def spec(tmp_path):
    return loaded(tmp_path, SPEC)


def test_runs_are_named_as_experiments_and_carry_their_overrides(spec):
    base = spec.base_params()
    schedule = schedule_runs(spec, base)
    assert [run.name for run in schedule.values()] == ["schedule-e2-s0", "schedule-e2-s1", "schedule-e4-s0",
                                                       "schedule-e4-s1"]
    assert schedule[(4, 1)].stage == "baseline" and schedule[(4, 1)].params["student"]["epochs"] == 4
    rung1 = rung1_runs(spec, base)
    assert list(rung1) == [("sakdn", "a0.1"), ("sakdn", "a1"), ("sakdn", "t-auto"), ("sakdn", "temporal"),
                           ("sakdn", "folds4"), ("dkd", "t4")]
    assert rung1[("sakdn", "a0.1")].name == "r1-sakdn-a0p1-e2-s0"  # a git-ref-safe name
    assert rung1[("sakdn", "a0.1")].overrides == ["distill.method=sakdn", "alpha=0.1", "student.epochs=2",
                                                  "student.seed=0"]
    rung2 = rung2_runs(spec, base, [("dkd", "t4")], 4)
    assert [run.name for run in rung2.values()] == ["r2-dkd-t4-e4-s0", "r2-dkd-t4-e4-s1"]
    # the same params give the same key: rung 2 at the short schedule repeats rung 1's run
    same = rung2_runs(spec, base, [("dkd", "t4")], 2)
    assert same[(("dkd", "t4"), 0)].key == rung1[("dkd", "t4")].key != same[(("dkd", "t4"), 1)].key


def test_the_schedule_is_the_best_mean_and_a_tie_goes_to_the_shorter():
    assert choose_schedule({12: [83.0, 83.6], 24: [90.0, 82.8]}) == 24
    assert choose_schedule({12: [80.0, 90.0], 24: [85.0, 85.0]}) == 12


def test_the_best_third_of_each_arms_cells_go_on_at_least_one(spec):
    rung1 = {("sakdn", "a0.1"): 70.0, ("sakdn", "a1"): 80.0, ("sakdn", "t-auto"): 75.0, ("sakdn", "temporal"): 75.0,
             ("sakdn", "folds4"): 60.0, ("dkd", "t4"): 50.0}
    # five cells: ceil(5 / 3) = 2; the tie between t-auto and temporal keeps the spec's order
    assert promote(spec, rung1) == [("sakdn", "a1"), ("sakdn", "t-auto"), ("dkd", "t4")]
    rung2 = {("sakdn", "a1"): [88.0, 90.0], ("sakdn", "t-auto"): [89.0, 89.0], ("dkd", "t4"): [70.0, 72.0]}
    chosen = choose_cells(spec, promote(spec, rung1), rung1, rung2)
    # equal rung-2 means (89): rung 1 breaks the tie
    assert chosen["sakdn"]["cell"] == "a1" and chosen["sakdn"]["validation"]["mean"] == 89.0
    assert chosen["sakdn"]["overrides"] == ["distill.method=sakdn", "alpha=1"]
    assert chosen["dkd"] == {"cell": "t4", "overrides": ["distill.method=dkd"],
                             "validation": {"mean": 71.0, "std": 1.41, "runs": [70.0, 72.0]}}


class FakeProject:
    """Finishes every queued experiment with a validation accuracy from ``scores``."""

    commit = "c" * 40

    def __init__(self, scores):
        self.scores, self.queued = scores, []

    def run_queue(self, wanted, finished):
        self.queued.append(sorted(wanted))
        for name, (overrides, target, params) in wanted.items():
            assert target in ("baseline@subject_specific", "distill@subject_specific")
            finished(name, {"name": name})
        return {}

    def validation(self, experiment, model):
        return {"validation_accuracy": self.scores(experiment["name"]), "best_epoch": 1}


def test_a_search_queues_only_what_the_record_lacks_and_once_per_run(spec, tmp_path):
    def score(name: str) -> float:
        return 90.0 if "-a1-" in name else 85.0 if name.startswith("schedule-e4") else 70.0

    fake = FakeProject(score)
    record = Record(tmp_path / "runs.json", "s")
    made = []

    def project():
        made.append(1)
        return fake

    search = Search(spec, spec.base_params(), record, project, lambda message: None, lambda: {"cpu": "x"})
    found = search.run()
    assert found["schedule"]["epochs"] == 4 and found["chosen_on_validation"] == "sakdn"
    assert found["chosen"]["sakdn"]["cell"] == "a1"
    assert set(found["rung2"]) == {"sakdn/a1", "sakdn/a0.1", "dkd/t4"}  # tied cells: the spec's order
    assert found["rung1"]["sakdn/a1"] == 90.0
    assert [len(queue) for queue in fake.queued] == [4 + 6, 6]  # schedule with rung 1, then rung 2 (3 cells x 2 seeds)
    entry = next(iter(record.data["search"].values()))
    assert entry["commit"] == "c" * 40 and entry["machine"] in record.data["machines"]

    # Everything recorded: the same search again never makes the project.
    made.clear()
    again = Search(spec, spec.base_params(), Record(tmp_path / "runs.json", "s"), project, lambda message: None,
                   lambda: {"cpu": "x"})
    assert again.run() == found and made == []


# The choices made before the settings search: the teachers and the student's head.

CHOICES_SPEC = """\
preset: presets/utd_mhad_depth.yaml
split: cross_subject
seeds: [0, 1]
selection_seeds: [0, 1]
schedule: [2, 4]
search: {short_epochs: 1}
teachers: {spamfm: [], no_spamfm: ['teacher.spamfm_layers=[]']}
heads: [tsn, trn, tsm]
arms:
  baseline: {stage: baseline}
  soft_target: {cells: {t4: [distill.method=soft_target], t-auto: [distill.method=soft_target, temperature=auto]}}
"""


@pytest.fixture
def choices_spec(tmp_path):
    return loaded(tmp_path, CHOICES_SPEC)


def test_teacher_candidates_train_the_teachers_stage_with_the_projects_student(choices_spec):
    spec = choices_spec
    runs = teacher_runs(spec, spec.base_params(), ["student.epochs=1", "student.seed=0"])
    assert [run.name for run in runs.values()] == ["teachers-spamfm", "teachers-no-spamfm"]
    assert runs["no_spamfm"].stage == "teachers" and runs["no_spamfm"].model == "teachers"
    assert runs["no_spamfm"].overrides == ["teacher.spamfm_layers=[]", "student.epochs=1", "student.seed=0"]
    assert runs["no_spamfm"].params["teacher"]["spamfm_layers"] == [] and runs["spamfm"].key != runs["no_spamfm"].key


def test_the_best_teachers_win_and_a_tie_goes_to_the_first_listed(choices_spec):
    spec = choices_spec
    assert choose_teachers(spec, {"spamfm": 70.0, "no_spamfm": 75.0})["chosen"] == "no_spamfm"
    tie = choose_teachers(spec, {"spamfm": 70.0, "no_spamfm": 70.0})
    assert tie == {"candidates": {"spamfm": 70.0, "no_spamfm": 70.0}, "chosen": "spamfm", "overrides": []}


def test_the_head_comes_with_the_schedule_a_tie_to_the_shorter_then_the_first_head(choices_spec):
    spec = choices_spec
    runs = head_schedule_runs(spec, spec.base_params(), ["teacher.spamfm_layers=[]"], [2, 4])
    assert len(runs) == 3 * 2 * 2 and runs[("tsm", 4, 1)].name == "schedule-tsm-e4-s1"
    assert runs[("tsm", 4, 1)].overrides == ["teacher.spamfm_layers=[]", "student.head=tsm", "student.epochs=4",
                                             "student.seed=1"]
    assert choose_head_schedule(spec, {("tsn", 2): [80.0], ("trn", 2): [85.0], ("tsm", 4): [85.0]}) == ("trn", 2)
    assert choose_head_schedule(spec, {("tsn", 4): [85.0], ("tsm", 4): [85.0]}) == ("tsn", 4)


class FakeProject:
    """Finishes every queued experiment with a validation accuracy from ``score(name)``."""

    commit = "c" * 40

    def __init__(self, score):
        self.score, self.queued = score, []

    def run_queue(self, wanted, finished):
        self.queued.append({name: target.split("@")[0] for name, (_, target, _) in wanted.items()})
        self.overrides = {name: overrides for name, (overrides, _, _) in wanted.items()}
        for name in wanted:
            finished(name, {"name": name})
        return {}

    def validation(self, experiment, model):
        return {"validation_accuracy": self.score(experiment["name"]), "best_epoch": 1}


def test_the_choices_run_first_and_their_overrides_go_into_every_later_run(choices_spec, tmp_path):
    spec = choices_spec
    def score(name: str) -> float:
        return {"teachers-no-spamfm": 80.0, "schedule-trn-e2-s0": 90.0, "schedule-trn-e2-s1": 90.0}.get(name, 50.0)

    fake, told = FakeProject(score), []
    record = Record(tmp_path / "runs.json", "s")
    found = Search(spec, spec.base_params(), record, lambda: fake, lambda message: None, lambda: {"cpu": "x"},
                   told.append).run()
    assert told == [["teacher.spamfm_layers=[]"]]  # before any student trained
    assert [set(queue.values()) for queue in fake.queued] == [{"teachers"}, {"baseline"}, {"distill"}, {"distill"}]
    assert len(fake.queued[1]) == 12 and len(fake.queued[2]) == 2  # heads x epochs x seeds; rung 1 after the head
    assert found["teachers"]["chosen"] == "no_spamfm" and found["schedule"]["head"] == "trn"
    assert found["schedule"]["epochs"] == 2 and found["schedule"]["candidates"]["trn/2"]["mean"] == 90.0
    assert found["settings"] == ["teacher.spamfm_layers=[]", "student.head=trn"]
    assert all(overrides[:2] == found["settings"] for overrides in fake.overrides.values())  # rung 2's
    assert found["chosen_on_validation"] == "soft_target"

    # Everything recorded: the same search again never makes the project; the choice is told again.
    made = []
    again = Search(spec, spec.base_params(), Record(tmp_path / "runs.json", "s"), lambda: made.append(1),
                   lambda message: None, lambda: {"cpu": "x"}, told.append).run()
    assert again == found and made == [] and told[-1] == ["teacher.spamfm_layers=[]"]
