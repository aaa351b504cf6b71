"""pipeline/study/choices.py: the teachers and the student's head chosen on validation before
the search, their overrides in every later run, and a search that takes them from the record."""
from __future__ import annotations

import pytest

from pipeline.study.choices import choose_head_schedule, choose_teachers, head_schedule_runs, teacher_runs
from pipeline.study.record import Record
from pipeline.study.search import Search
from pipeline.study.spec import load_spec

SPEC = """\
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
def spec(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    return load_spec(path)


def test_teacher_candidates_train_the_teachers_stage_with_the_projects_student(spec):
    runs = teacher_runs(spec, spec.base_params(), ["student.epochs=1", "student.seed=0"])
    assert [run.name for run in runs.values()] == ["teachers-spamfm", "teachers-no-spamfm"]
    assert runs["no_spamfm"].stage == "teachers" and runs["no_spamfm"].model == "teachers"
    assert runs["no_spamfm"].overrides == ["teacher.spamfm_layers=[]", "student.epochs=1", "student.seed=0"]
    assert runs["no_spamfm"].params["teacher"]["spamfm_layers"] == [] and runs["spamfm"].key != runs["no_spamfm"].key


def test_the_best_teachers_win_and_a_tie_goes_to_the_first_listed(spec):
    assert choose_teachers(spec, {"spamfm": 70.0, "no_spamfm": 75.0})["chosen"] == "no_spamfm"
    tie = choose_teachers(spec, {"spamfm": 70.0, "no_spamfm": 70.0})
    assert tie == {"candidates": {"spamfm": 70.0, "no_spamfm": 70.0}, "chosen": "spamfm", "overrides": []}


def test_the_head_comes_with_the_schedule_a_tie_to_the_shorter_then_the_first_head(spec):
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


def test_the_choices_run_first_and_their_overrides_go_into_every_later_run(spec, tmp_path):
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
