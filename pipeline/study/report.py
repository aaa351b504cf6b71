"""The study's results: ``<results>/<study>.json`` and its markdown table ``<study>.md``.

The JSON holds the spec's name and split, the search (schedule, rungs, chosen cells), per
final arm its setting, overrides, accuracy, F-measure and validation summaries and its
comparisons (``gain_vs_<arm>``: paired difference with its 95 % interval, McNemar), the
verdict, the code commits and machines the runs used, and this invocation's command, commit
and machine.

A label-fraction study's combined results (``combined``, ``write_combined``) hold, per labelled
fraction (``fractions.<f>``, f written 0.1, 0.25, 1.0): its seeds, per final arm the rows above
(setting, overrides, accuracy, F-measure and validation summaries, ``gain_vs_<arm>``), the
teachers' test accuracy (``teachers.fused.accuracy``) and the fraction's verdict;
``chosen_on_validation`` per fraction (teachers, head, epochs, the distilled arm and cell); the
code commits and machines of the runs. Each fraction's own results (search, figures) are
``<study>_f<f>.json`` and .md.
"""
from __future__ import annotations

import time
from pathlib import Path

from pipeline.io import write_json
from pipeline.project.provenance import describe_machines, git_commit
from pipeline.study.spec import Spec, fraction_label
from pipeline.study.statistics import summary


def median(values: list[float]) -> float:
    ordered = sorted(values) or [0.0]
    return round(ordered[len(ordered) // 2], 1)


def run_seconds(runs: dict[str, list[dict]]) -> dict:
    """Median and total wall time of the final runs that trained (not those taken from the search)."""
    trained = [sum(run["seconds"].values()) for arm_runs in runs.values() for run in arm_runs
               if not run.get("trained_in")]
    return {"median_final_run": median(trained), "finals_total": round(sum(trained), 1)}


def interval_text(gain: dict | None) -> str:
    if not gain:
        return ""
    if not gain["ci95"]:
        return f"{gain['mean']:+.2f}"
    return f"{gain['mean']:+.2f} [{gain['ci95'][0]:+.2f}, {gain['ci95'][1]:+.2f}]"


def p_value_text(gain: dict | None) -> str:
    if not gain or not gain.get("mcnemar"):
        return ""
    p_value = gain["mcnemar"]["p_value"]
    return "< 0.0001" if p_value == 0 else f"{p_value}"  # stored to 4 decimals: 0 is below 0.00005


def markdown(spec: Spec, result: dict) -> str:
    """The results table with the comparisons, the verdict and where the numbers come from."""
    reference = result["reference"]
    schedule = result["search"]["schedule"]
    how = f" (chosen for the {reference} on validation)" if schedule["candidates"] else ""
    if schedule.get("head"):
        how += f"; student head {schedule['head']}, chosen with it"
    teachers = result["search"].get("teachers")
    if teachers:
        how += (f"; teachers {teachers['chosen']} (fused validation " + ", ".join(
            f"{name} {value:.2f}" for name, value in teachers["candidates"].items()) + ")")
    lines = [f"{spec.description.strip()} Test accuracy and macro F-measure in % over {len(result['seeds'])} paired "
             f"student seeds ({', '.join(map(str, result['seeds']))}; one teacher); settings chosen on validation "
             f"only. Schedule: {schedule['epochs']} epochs{how}.".strip(), "",
             f"| arm | setting | test accuracy | F-measure | gain vs {reference} (95 % CI) | McNemar p | validation |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for arm, row in result["students"].items():
        gain = row.get(f"gain_vs_{reference}")
        lines.append(f"| {arm} | {row['setting']} | {row['accuracy']['mean']:.2f} ± {row['accuracy']['std']:.2f} | "
                     f"{row['f_measure']['mean']:.2f} ± {row['f_measure']['std']:.2f} | {interval_text(gain)} | "
                     f"{p_value_text(gain)} | {row['validation_accuracy']['mean']:.2f} |")
    chosen = result["chosen_on_validation"]
    chosen_row = result["students"].get(chosen, {})
    against = [f"{control}: {interval_text(gain)}, McNemar p {p_value_text(gain)}" for control in result["controls"]
               if (gain := chosen_row.get(f"gain_vs_{control}")) and gain["ci95"]]
    if against:
        lines += ["", f"{chosen} against its controls (paired difference, 95 % CI): " + "; ".join(against) + "."]
    for arm, controls in (result.get("cell_controls") or {}).items():
        row = result["students"].get(arm, {})
        against = [f"{control}: {interval_text(gain)}, McNemar p {p_value_text(gain)}" for control in controls
                   if (gain := row.get(f"gain_vs_{control}"))]
        if against:
            lines += ["", f"{arm} against the controls on its setting (paired difference, 95 % CI): "
                      + "; ".join(against) + "."]
    for arm, others in (result.get("compared") or {}).items():
        row = result["students"].get(arm, {})
        against = [f"{other}: {interval_text(gain)}, McNemar p {p_value_text(gain)}"
                   if (gain := row.get(f"gain_vs_{other}")) else f"{other}: not run" for other in others]
        if against:
            lines += ["", f"{arm} against the arms the spec compares it with (paired difference, 95 % CI): "
                      + "; ".join(against) + "."]
    lines += ["", f"Chosen on validation: **{chosen}**. {result['verdict']}"]
    recorded = any((gain.get("mcnemar") or {}).get("recorded") for row in result["students"].values()
                   for key, gain in row.items() if key.startswith("gain_vs_"))
    if recorded:
        lines += ["", "McNemar counts of runs recorded without per-sample predictions are the ones computed when "
                      "they ran (kept in the run record)."]
    commits = result["code_commits"]
    if len(commits) == 1:
        lines += ["", f"Every run used the code of commit `{commits[0][:12]}` (the study's pinned project)."]
    elif commits:
        lines += ["", "The runs used the code of commits " + ", ".join(f"`{c[:12]}`" for c in commits) + "."]
    reused = result.get("finals_from_search") or {}
    check = reused.get("check")
    if reused.get("runs") and check:
        lines += ["", f"{reused['runs']} final runs evaluated the model that the search had trained with the same "
                      f"params, seed and code, after {check['arm']} seed {check['seed']}, trained again, was "
                      f"identical bit for bit to experiment `{check['experiment']}`'s."]
    elif check and not check["identical"]:
        lines += ["", f"Every final run was trained: {check['arm']} seed {check['seed']} trained again differed from "
                      f"experiment `{check['experiment']}` (largest weight difference {check['max_abs_difference']})."]
    if result.get("plots_data"):
        data = [f"{result['results_folder']}/{name}" for name in result["plots_data"]]
        lines += ["", "Per-run data for DVC plots: " + ", ".join(f"`{name}`" for name in data)
                  + f" (`dvc plots show {data[0]} -x accuracy -y arm --template scatter`)."]
    machines = describe_machines(result["machines"])
    lines += ["", f"Machine{'s' if len(result['machines']) > 1 else ''} of the runs: {machines}. Final runs: median "
                  f"{result['seconds']['median_final_run']} s each (trained ones); this invocation "
                  f"{result['this_invocation_seconds']:.0f} s.",
              f"Command: `{result['command']}` at commit `{result['git']['commit'][:12]}`"
              + (" (uncommitted changes)" if result["git"]["dirty"] else "") + "."]
    return "\n".join(lines) + "\n"


def write_results(spec: Spec, result: dict, folder: Path) -> Path:
    """``<study>.json`` and, once there are final runs, ``<study>.md``; returns the JSON's path."""
    path = Path(folder) / f"{spec.name}.json"
    write_json(path, result, indent=1)
    if result.get("students"):
        path.with_suffix(".md").write_text(markdown(spec, result))
    return path


ROW_KEYS = ("setting", "overrides", "accuracy", "f_measure", "validation_accuracy", "pseudo_labels")


def student_row(row: dict) -> dict:
    """A fraction's arm: its summaries and its paired gains, as the one-split study has them."""
    return {key: value for key, value in row.items() if key in ROW_KEYS or key.startswith("gain_vs_")}


def teachers_of(runs: list[dict]) -> dict | None:
    """The teachers' test accuracy the evaluate stage read in a fraction's final runs (one
    teacher per fraction: every run reads the same)."""
    values = [run["teachers_accuracy"] for run in runs if run.get("teachers_accuracy") is not None]
    return {"fused": {"accuracy": summary(values)}} if values else None


def choices_of(result: dict) -> dict:
    """What a fraction's study chose on validation before its final runs."""
    search = result["search"]
    searched = search.get("chosen_on_validation")
    return {"teachers": (search.get("teachers") or {}).get("chosen"), "head": search["schedule"].get("head"),
            "epochs": search["schedule"]["epochs"],
            "distilled": {"arm": result["chosen_on_validation"], "cell": search["chosen"][searched]["cell"]}
            if searched else None,
            "cells": {arm: choice["cell"] for arm, choice in (search.get("chosen") or {}).items()},
            "settings": search.get("settings", [])}


def combined(spec: Spec, results: dict[float, dict], runs: dict[float, dict[str, list[dict]]], record,
             study, pending: list[float] = ()) -> dict:
    """The study's results from each fraction's (``results``: fraction -> its study's result;
    ``runs``: fraction -> its final runs per arm; ``study``: one fraction's ``Study``, for the
    command and the machine; ``pending``: fractions left out, their runs not all recorded)."""
    fractions, chosen, commits, machines = {}, {}, [], {}
    for fraction, result in results.items():
        label, reference = fraction_label(fraction), result["reference"]
        fractions[label] = {
            "labeled_fraction": fraction, "study": result["study"], "results": f"{result['study']}.json",
            "status": result["status"], "seeds": result["seeds"], "reference": reference,
            "controls": result["controls"], "cell_controls": result.get("cell_controls", {}),
            "compared": result.get("compared", {}),
            "students": {arm: student_row(row) for arm, row in result["students"].items()},
            "teachers": teachers_of(runs.get(fraction, {}).get(reference, [])), "verdict": result["verdict"]}
        chosen[label] = choices_of(result)
        commits += [c for c in result.get("code_commits", []) if c not in commits]
        machines.update(result.get("machines", {}))
    done = all(result["status"] == "done" for result in results.values())
    status = "partial" if pending else "done" if done else "search done"
    return {"study": spec.name, "spec": str(spec.path), "status": status,
            "pending_fractions": [fraction_label(f) for f in pending],
            "split": spec.split, "reference": spec.arms[spec.reference].final, "title": spec.title,
            "description": spec.description.strip(), "command": study.command, "git": git_commit(),
            "machine": study.machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "fractions": fractions,
            "chosen_on_validation": chosen, "code_commits": commits, "machines": machines,
            "results_folder": next(iter(results.values()))["results_folder"], "run_record": record.path.name}


def _cell(row: dict | None, reference: str) -> str:
    if row is None:
        return "–"
    text = f"{row['accuracy']['mean']:.2f} ± {row['accuracy']['std']:.2f}"
    gain = row.get(f"gain_vs_{reference}")
    return f"{text} ({interval_text(gain)})" if gain else text


def _share(value: dict | None) -> str:
    return f"{value['mean']:.1f} ± {value['std']:.1f}" if value else "–"


def fraction_markdown(spec: Spec, result: dict) -> str:
    """A label-fraction study's table: the accuracy of every arm at every fraction, the controls, the choices, the provenance."""
    labels, reference = list(result["fractions"]), result["reference"]
    fractions = result["fractions"]
    arms = list(dict.fromkeys(arm for row in fractions.values() for arm in row["students"]))
    lines = [f"{result['description']} Test accuracy in % (mean ± sd over paired student seeds) at each labelled "
             f"fraction of the training recordings (`splits.labeled_fraction`; the other training recordings are "
             f"unlabeled: only distilled students see them, through their targets), split `{result['split']}`; "
             f"every setting chosen on validation, at each fraction. In brackets: the paired gain over the "
             f"{reference} with its 95 % interval.".strip(), "",
             "| arm | " + " | ".join(f"f = {label}" for label in labels) + " |",
             "| --- |" + " --- |" * len(labels)]
    for arm in arms:
        lines.append(f"| {arm} | " + " | ".join(_cell(fractions[label]["students"].get(arm), reference)
                                                for label in labels) + " |")
    teachers = [(fractions[label]["teachers"] or {}).get("fused") for label in labels]
    lines.append("| teachers (fused) | " + " | ".join(f"{t['accuracy']['mean']:.2f}" if t else "–"
                                                     for t in teachers) + " |")
    if result.get("pending_fractions"):
        lines += ["", "Not yet in these results (their runs are not all in the run record; the study command "
                      "resumes them): " + ", ".join(f"f = {label}" for label in result["pending_fractions"]) + "."]
    lines += ["", "Seeds: " + "; ".join(f"f = {label}: {', '.join(map(str, fractions[label]['seeds']))}"
                                        for label in labels) + "."]
    against = []
    for label in labels:
        for arm, row in fractions[label]["students"].items():
            for key, gain in row.items():
                if not key.startswith("gain_vs_") or key == f"gain_vs_{reference}":
                    continue
                control = key[len("gain_vs_"):]
                against.append(f"| {label} | {arm} | {control} | {interval_text(gain)} | {p_value_text(gain)} |")
    if against:
        lines += ["", "Against the controls and the arms the spec compares (paired difference of test accuracy, "
                      "95 % CI):", "",
                  "| f | arm | against | difference (95 % CI) | McNemar p |", "| --- | --- | --- | --- | --- |",
                  *against]
    quality = [f"| {label} | {arm} | {_share(row['pseudo_labels']['coverage'])} | "
               f"{_share(row['pseudo_labels']['precision'])} |"
               for label in labels for arm, row in fractions[label]["students"].items() if row.get("pseudo_labels")]
    if quality:
        lines += ["", "Pseudo-labels of the unlabeled training recordings by each arm's rules (% of them labelled, "
                      "% of those right; mean ± sd over seeds): the teachers' or baseline's, which the students "
                      "learnt from; where the student is a view, its kept model's. Scored against the manifest "
                      "after training, never used to choose anything:", "",
                  "| f | arm | coverage | precision |", "| --- | --- | --- | --- |", *quality]
    lines += ["", "Chosen on validation, before any test-split read:", "",
              "| f | teachers | student head | epochs | distilled arm (cell) |", "| --- | --- | --- | --- | --- |"]
    for label, choice in result["chosen_on_validation"].items():
        distilled = choice["distilled"]
        lines.append(f"| {label} | {choice['teachers'] or 'preset'} | {choice['head'] or 'preset'} | "
                     f"{choice['epochs']} | " + (f"{distilled['arm']} ({distilled['cell']})" if distilled else "–")
                     + " |")
    verdicts = [f"f = {label}: {fractions[label]['verdict']}" for label in labels
                if result["chosen_on_validation"][label]["distilled"]]  # the verdict is the chosen arm's
    if verdicts:
        lines += ["", *verdicts]
    for name in result.get("figures", []):
        lines += ["", f"![{name}]({name})"]
    lines += ["", "Each fraction's own results (search, figures): "
              + ", ".join(f"`{fractions[label]['study']}.md`" for label in labels) + "."]
    commits = result["code_commits"]
    if commits:
        lines += ["", "The runs used the code of commit" + ("s " if len(commits) > 1 else " ")
                  + ", ".join(f"`{c[:12]}`" for c in commits) + "."]
    machines = describe_machines(result["machines"])
    lines += ["", f"Machine{'s' if len(result['machines']) > 1 else ''} of the runs: {machines}; this invocation "
                  f"{result['this_invocation_seconds']:.0f} s.",
              f"Command: `{result['command']}` at commit `{result['git']['commit'][:12]}`"
              + (" (uncommitted changes)" if result["git"]["dirty"] else "") + "."]
    return "\n".join(lines) + "\n"


def write_combined(spec: Spec, result: dict, runs: dict[float, dict[str, list[dict]]], folder: Path) -> Path:
    """A label-fraction study's ``<study>.json`` and .md with its figures; the JSON's path."""
    from pipeline.study.figures import draw_fraction_figures

    result.update(draw_fraction_figures(spec, result, runs, Path(folder)))
    path = Path(folder) / f"{spec.name}.json"
    write_json(path, result, indent=1)
    path.with_suffix(".md").write_text(fraction_markdown(spec, result))
    return path
