"""The study's results: ``<results>/<study>.json`` and its markdown table ``<study>.md``.

The JSON holds the spec's name and split, the search (schedule, rungs, chosen cells), per
final arm its setting, overrides, accuracy, F-measure and validation summaries and its
comparisons (``gain_vs_<arm>``: paired difference with its 95 % interval, McNemar), the
verdict, the code commits and machines the runs used, and this invocation's command, commit
and machine.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.io import write_json
from pipeline.project.provenance import describe_machines
from pipeline.study.spec import Spec


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
