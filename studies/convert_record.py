"""One-off: the run record of the UTD-MHAD study from the results file of the driver that ran
it (studies/results/utd_mhad_depth.json), so that `python -m pipeline.study
studies/utd_mhad_depth.yaml` reuses those runs. Every run is keyed as the study command keys
it (the spec's preset and overrides); the old file's settings are checked against the spec's.
Runs of that driver kept no per-sample predictions, per-class accuracy or validation curves:
their McNemar counts are recorded as computed then.

    git show dc98900:benchmarks/results/utd_mhad.json > /tmp/utd_mhad.json
    python -m studies.convert_record /tmp/utd_mhad.json
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.study.finals import final_arms, final_key
from pipeline.study.record import Record, pair_key
from pipeline.study.search import promote, rung1_runs, rung2_runs, schedule_runs
from pipeline.study.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SOURCE = "benchmarks/results/utd_mhad.json"  # as of commit dc98900


def convert(source: Path, spec_path: Path, output: Path) -> Record:
    old = json.loads(source.read_text())
    spec = load_spec(spec_path)
    base = spec.base_params()
    if output.exists():
        output.unlink()
    record = Record(output, spec.name)
    record.data["converted_from"] = f"{SOURCE} at commit dc98900 (written by `{old['command']}` at commit {old['git']['commit']})"
    run = {"commit": old["code_commit"], "machine": record.machine_id(old["machine"])}
    search, seeds = old["search"], spec.selection_seeds
    assert spec.split == old["split"] and spec.seeds == old["seeds"]
    assert [int(e) for e in search["schedule"]["candidates"]] == spec.schedule
    assert search["schedule"]["short_epochs"] == spec.short_epochs

    def add(entry_run, validation: float) -> None:
        assert entry_run.key not in record.data["search"], entry_run.name
        record.data["search"][entry_run.key] = {"key": entry_run.key, "name": entry_run.name, "stage": entry_run.stage,
                                                "overrides": entry_run.overrides, "validation_accuracy": validation,
                                                "best_epoch": None, **run}

    for (epochs, seed), entry_run in schedule_runs(spec, base).items():
        add(entry_run, search["schedule"]["candidates"][str(epochs)]["runs"][seeds.index(seed)])
    rung1 = {}
    for (arm, cell), entry_run in rung1_runs(spec, base).items():
        rung1[(arm, cell)] = search["rung1"][f"{arm}/{cell}"]  # rounded to 0.01 there: ranks the same
        add(entry_run, rung1[(arm, cell)])
    assert len(rung1) == len(search["rung1"])
    promoted = promote(spec, rung1)
    assert [f"{a}/{c}" for a, c in promoted] == list(search["rung2"]), "the promotion differs"
    epochs = search["schedule"]["epochs"]
    for ((arm, cell), seed), entry_run in rung2_runs(spec, base, promoted, epochs).items():
        add(entry_run, search["rung2"][f"{arm}/{cell}"]["runs"][seeds.index(seed)])

    arms = final_arms(spec, search)
    assert list(arms) == list(old["students"]), (list(arms), list(old["students"]))
    keys = {}
    for name, arm in arms.items():
        row = old["students"][name]
        assert arm.overrides == row["overrides"] and arm.setting == row["setting"], name
        keys[name] = []
        for i, seed in enumerate(spec.seeds):
            key = final_key(spec, base, arm, seed, epochs)
            seconds = row["seconds"][i]
            # a run whose seconds lack its training stage took its model from the search
            trained_in = None if arm.stage in seconds else record.data["search"][key]["name"]
            record.data["finals"][key] = {
                "key": key, "arm": name, "seed": seed, "stage": arm.stage, "overrides": arm.overrides,
                "epochs": epochs, "accuracy": row["accuracy"]["runs"][i], "f_measure": row["f_measure"]["runs"][i],
                "validation_accuracy": row["validation_accuracy"]["runs"][i], "best_epoch": row["best_epoch"][i],
                "seconds": seconds, "trained_in": trained_in, **run}
            keys[name].append(key)
    for name, row in old["students"].items():
        for field, gain in row.items():
            if field.startswith("gain_vs_"):
                other = field.removeprefix("gain_vs_")
                record.data["recorded_mcnemar"][pair_key(keys[name], keys[other])] = gain["mcnemar"]
    record.data["reuse_check"] = old["finals_from_search"]["check"]
    record.save()
    return record


if __name__ == "__main__":
    import sys

    made = convert(Path(sys.argv[1]), REPO / "studies" / "utd_mhad_depth.yaml",
                   REPO / "studies" / "results" / "utd_mhad_depth_runs.json")
    print(f"{made.path}: {len(made.data['search'])} search runs, {len(made.data['finals'])} final runs, "
          f"{len(made.data['recorded_mcnemar'])} McNemar counts")
