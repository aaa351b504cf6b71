"""pipeline/study/plan.py: ``--plan`` lists the runs a study would train, with the spec's cost
model, and trains, clones and writes nothing."""
from __future__ import annotations

from pipeline.project.provenance import machine
from pipeline.study.__main__ import main
from pipeline.study.plan import Planner
from pipeline.study.record import Record
from tests.pipeline.study.helpers import SPEC, recorded_study

COST = ("cost: {clip_seconds: 0.5, training_clips: 10, validation_clips: 6, run_seconds: 1, distill_factor: 2,\n"
        "       experiment_seconds: 3, evaluate_seconds: 4, setup_seconds: 100}\n")


def test_a_plan_counts_every_missing_run_and_its_time_writing_nothing(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "no_data") + COST)
    results, work = tmp_path / "results", tmp_path / "work"
    main([str(spec), "--plan", "--results", str(results), "--workdir", str(work)])
    assert not results.exists() and not work.exists()
    out = capsys.readouterr().out
    # schedule 2 x 1 seed, rung 1 four cells, rung 2 the best two (a tie: the spec's order) at the
    # longest schedule, finals 3 arms x 2 seeds: baseline seed 0 trained again to check the reuse,
    # sakdn_best seed 0 then evaluated only
    assert out.startswith(f"plan for {spec}: 13 training runs and 6 test-split reads to do")
    assert "  schedule: 2, ~" in out and "  rung 1: 4, ~" in out and "  rung 2: 2, ~" in out
    assert "  final: 6, ~" in out and "sakdn_best seed 0 (evaluated only)" in out
    # a distilled student at 4 epochs: 1 + 4 x (10 x 2 + 6 / 3) x 0.5 = 45 s, + 4 s evaluation
    assert "    sakdn_best seed 1" in out and "distill 4 epochs       ~49 s" in out
    # the baseline trains on labelled clips: 1 + 4 x (10 + 2) x 0.5 = 25 s, + 3 s as an experiment
    assert "schedule-e4-s0" in out and "baseline 4 epochs      ~28 s" in out
    assert "total: ~" in out and "hours on one process" in out


def test_a_recorded_study_plans_nothing(tmp_path, capsys):
    spec = recorded_study(tmp_path)
    main([str(spec.path), "--plan", "--results", str(tmp_path / "results"), "--workdir", str(tmp_path / "work")])
    assert "0 training runs and 0 test-split reads" in capsys.readouterr().out
    assert not (tmp_path / "work").exists() and not (tmp_path / "results" / "tiny.json").exists()


def test_without_a_cost_model_the_plan_has_no_time():
    plan = Planner(None)
    assert plan.training_seconds("distill", {"student": {"epochs": 3}, "splits": {}}) is None
    plan.note("s", "final", "a seed 0", "distill", 3, None)
    assert plan.report(type("Spec", (), {"path": "s.yaml"})()).endswith("no time estimate: the spec has no cost key")


def test_a_plan_times_the_runs_this_machine_recorded_against_the_cost_model(tmp_path, capsys):
    spec = recorded_study(tmp_path)
    spec.path.write_text(spec.path.read_text() + COST)
    record = Record(tmp_path / "results" / "tiny_runs.json", "tiny")
    here = record.machine_id(machine())
    finals = record.data["finals"]
    for entry in finals.values():
        entry["machine"] = here
    missing = next(key for key, entry in finals.items() if entry["arm"] == "sakdn_best_shuffled")
    del finals[missing]
    next(iter(finals.values()))["machine"] = "elsewhere"  # another machine's run does not count
    record.save()
    main([str(spec.path), "--plan", "--results", str(tmp_path / "results"), "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert "1 training runs and 1 test-split reads" in out
    # measured 10 s each; the model: baseline 1 + 4 x 12 x 0.5 = 25 s (one left here), distilled
    # 1 + 4 x 22 x 0.5 = 45 s (three): ratios 0.4, 0.22, 0.22, 0.22 -> median 0.22
    assert "this machine: 4 recorded final runs trained here took 0.22x the model's time (median)" in out
