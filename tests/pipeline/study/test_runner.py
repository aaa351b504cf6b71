"""pipeline/study/runner.py: a study whose runs are all in its record reruns without its data,
a work folder or any training, and writes its results from the record; a missing run without
the data is one error."""
from __future__ import annotations

import json

import pytest

from pipeline.study.errors import StudyError
from pipeline.study.runner import Study
from tests.pipeline.study.helpers import SPEC, recorded_study


def test_a_recorded_study_reruns_from_its_record_alone(tmp_path):
    spec = recorded_study(tmp_path)
    said = []
    work = tmp_path / "work"
    result = Study(spec, workdir=work, results=tmp_path / "results", command="c", say=said.append).run()
    assert not work.exists()  # no project, no workspace: nothing trained
    assert result["search"]["schedule"]["epochs"] == 4 and result["search"]["rung1"]["sakdn/a1-b1"] == 80.0
    assert result["search"]["chosen"]["sakdn"]["cell"] == "a1-b1" and result["chosen_on_validation"] == "sakdn_best"
    assert list(result["students"]) == ["baseline", "sakdn_best", "sakdn_best_shuffled"]
    best = result["students"]["sakdn_best"]
    # per seed: 75 - 25 = +50, 75 - 50 = +25; against the shuffled control +25, +50
    assert best["gain_vs_baseline"]["differences"] == [50.0, 25.0] and best["gain_vs_baseline"]["mean"] == 37.5
    assert best["gain_vs_sakdn_best_shuffled"]["mean"] == 37.5
    # pooled: sakdn_best right where the baseline is wrong on 3 recordings, never the reverse
    assert best["gain_vs_baseline"]["mcnemar"] == {"only_arm": 3, "only_reference": 0, "p_value": 0.25}
    assert "gain_vs_sakdn_best_shuffled" not in result["students"]["baseline"]
    assert result["controls"] == ["sakdn_best_shuffled"] and result["code_commits"] == ["a" * 40]
    assert result["verdict"].startswith("Target (>= 3 points over the baseline, 95 % interval above 0 and above its "
                                        "control): not met")
    assert result["seconds"] == {"median_final_run": 11.0, "finals_total": 66.0}
    assert set(result["figures"]) == {"tiny_accuracy.png", "tiny_per_class.png", "tiny_validation.png",
                                      "tiny_grid.png"} and result["figures_kept"] == []
    assert result["plots_data"] == ["tiny_accuracy.csv", "tiny_validation.csv"]
    saved = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert saved["students"] == result["students"] and saved["status"] == "done"
    table = (tmp_path / "results" / "tiny.md").read_text()
    assert table.startswith("A study from its record. Test accuracy")
    assert "| sakdn_best | validation: sakdn/a1-b1 |" in table
    assert "sakdn_best against its controls" in table and "Schedule: 4 epochs (chosen for the baseline" in table
    assert any("run record" in message for message in said)


def test_an_arm_the_spec_compares_with_another_gets_their_paired_difference(tmp_path):
    # the reference is compared with every arm already: naming it again adds nothing
    text = SPEC.replace("baseline: {{stage: baseline}}", "baseline: {{stage: baseline, compare_with: [sakdn]}}")
    text = text.replace("    final: sakdn_best\n", "    final: sakdn_best\n    compare_with: [baseline]\n")
    spec = recorded_study(tmp_path, text)
    result = Study(spec, workdir=tmp_path / "work", results=tmp_path / "results", command="c", say=print).run()
    assert result["compared"] == {"baseline": ["sakdn_best"]}
    assert result["students"]["baseline"]["gain_vs_sakdn_best"]["differences"] == [-50.0, -25.0]
    assert "baseline against the arms the spec compares it with (paired difference, 95 % CI): sakdn_best: -37.50 [" in (
        tmp_path / "results" / "tiny.md").read_text()


def test_a_missing_run_without_the_data_is_one_error_and_makes_nothing(tmp_path):
    spec = recorded_study(tmp_path)
    path = tmp_path / "results" / "tiny_runs.json"
    record = json.loads(path.read_text())
    record["finals"].popitem()
    path.write_text(json.dumps(record))
    work = tmp_path / "work"
    with pytest.raises(StudyError, match="runs are missing from .*tiny_runs.json and the dataset folder .*no_data"):
        Study(spec, workdir=work, results=tmp_path / "results").run()
    assert not work.exists()
