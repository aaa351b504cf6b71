"""The study's statistics: summaries, paired differences over seeds, McNemar's exact test.

Arms are paired: seed s gives the same student initialisation in every arm (and the same data
order where arms train on the same clips; with scarce labels the baseline sees fewer), so
an arm is compared with another by the per-seed difference, with a t interval over seeds, and
on the pooled per-recording predictions by McNemar's exact test (a binomial test on the
discordant pairs; pooling seeds treats their pairs as independent, so its p-values are
optimistic).
"""
from __future__ import annotations

import math
import statistics
from typing import Callable

from pipeline.study.errors import StudyError


def summary(values: list[float]) -> dict:
    """Mean, standard deviation (0 for one run) and the runs, rounded for results files."""
    return {"mean": round(statistics.mean(values), 2),
            "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0, "runs": values}


def interval_half_width(values: list[float], confidence: float = 0.95) -> float:
    """Half the width of the two-sided t interval of the mean of ``values`` (0 for one value)."""
    from scipy.stats import t

    if len(values) < 2:
        return 0.0
    return float(t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)))


def paired_difference(arm: list[float], reference: list[float], confidence: float = 0.95) -> dict:
    """Mean of ``arm[i] - reference[i]`` over seeds with a two-sided t interval
    (``mean +- t_{n-1} * sd / sqrt(n)``); one seed has no interval (None)."""
    if len(arm) != len(reference) or not arm:
        raise ValueError(f"paired runs need the same seeds: {len(arm)} vs {len(reference)}")
    differences = [a - b for a, b in zip(arm, reference)]
    mean = statistics.mean(differences)
    if len(differences) < 2:
        return {"mean": round(mean, 2), "ci95": None, "n": 1, "differences": differences}
    half = interval_half_width(differences, confidence)
    return {"mean": round(mean, 2), "ci95": [round(mean - half, 2), round(mean + half, 2)], "n": len(differences),
            "differences": [round(d, 2) for d in differences]}


def mcnemar(arm_correct: list[bool], reference_correct: list[bool]) -> dict:
    """McNemar's exact test on paired predictions (the same recordings, pooled over seeds):
    ``only_arm`` = right by the arm only, ``only_reference`` = by the reference only; the
    two-sided p-value of a binomial test of ``only_arm`` out of the discordant pairs at 1/2."""
    from scipy.stats import binomtest

    if len(arm_correct) != len(reference_correct):
        raise ValueError(f"McNemar needs the same recordings: {len(arm_correct)} vs {len(reference_correct)}")
    only_arm = sum(a and not r for a, r in zip(arm_correct, reference_correct))
    only_reference = sum(r and not a for a, r in zip(arm_correct, reference_correct))
    discordant = only_arm + only_reference
    p_value = 1.0 if discordant == 0 else binomtest(only_arm, discordant, 0.5).pvalue
    return {"only_arm": only_arm, "only_reference": only_reference, "p_value": round(float(p_value), 4)}


def correct_by_recording(runs: list[dict], seeds: list[int]) -> tuple[list[str], list[bool]] | None:
    """``seed/sample`` keys and whether each prediction is right, over an arm's runs; None
    when a run has no per-sample predictions."""
    keys, right = [], []
    for seed, run in zip(seeds, runs):
        per_sample = run.get("per_sample")
        if per_sample is None:
            return None
        keys += [f"{seed}/{sample}" for sample in per_sample["sample_id"]]
        right += [p == y for p, y in zip(per_sample["predicted"], per_sample["label"])]
    return keys, right


Recorded = Callable[[list[str], list[str]], "dict | None"]


def compare(arm: str, runs: list[dict], reference: str, reference_runs: list[dict], seeds: list[int],
            recorded: Recorded = lambda arm_keys, reference_keys: None) -> dict:
    """``arm`` against ``reference``: paired differences of accuracy (with its interval) and
    F-measure, and McNemar's test, from the runs' predictions or, for runs recorded without
    them, the counts ``recorded`` kept when they ran (marked ``recorded``)."""
    difference = paired_difference([r["accuracy"] for r in runs], [r["accuracy"] for r in reference_runs])
    f_measure = paired_difference([r["f_measure"] for r in runs], [r["f_measure"] for r in reference_runs])["mean"]
    mine, theirs = correct_by_recording(runs, seeds), correct_by_recording(reference_runs, seeds)
    if mine is not None and theirs is not None:
        if mine[0] != theirs[0]:
            raise StudyError(f"{arm} and {reference} were tested on different recordings")
        test = mcnemar(mine[1], theirs[1])
    else:
        test = recorded([r["key"] for r in runs], [r["key"] for r in reference_runs])
        test = {**test, "recorded": True} if test is not None else None
    return {**difference, "f_measure": f_measure, "mcnemar": test}


def statistics_of(runs: dict[str, list[dict]], seeds: list[int], reference: str = "baseline",
                  comparisons: dict[str, list[str]] | None = None, recorded: Recorded = lambda a, r: None) -> dict:
    """Per arm: accuracy, F-measure and validation summaries, and its comparison with
    ``reference`` and with the arms ``comparisons[arm]`` lists (the chosen arm's controls)."""
    students = {}
    for arm, arm_runs in runs.items():
        row = {metric: summary([run[metric] for run in arm_runs]) for metric in ("accuracy", "f_measure")}
        row["validation_accuracy"] = summary([run["validation_accuracy"] for run in arm_runs])
        row["best_epoch"] = [run["best_epoch"] for run in arm_runs]
        row["seconds"] = [run["seconds"] for run in arm_runs]
        quality = pseudo_label_summary(arm_runs)
        if quality:
            row["pseudo_labels"] = quality
        for other in (reference, *(comparisons or {}).get(arm, ())):
            if other != arm and other in runs:
                row[f"gain_vs_{other}"] = compare(arm, arm_runs, other, runs[other], seeds, recorded)
        students[arm] = row
    return students


def pseudo_label_summary(runs: list[dict]) -> dict | None:
    """The coverage and precision (in %) of the pseudo-labels the runs' students learnt from on
    the unlabeled training recordings, over the runs that record them (None: none does)."""
    recorded = [run["pseudo_labels"] for run in runs if run.get("pseudo_labels")]
    if not recorded:
        return None
    out = {}
    for key in ("coverage", "precision"):
        values = [round(100 * q[key], 2) for q in recorded if q.get(key) is not None]
        out[key] = summary(values) if values else None
    return out


def target_met(students: dict, chosen: str, reference: str, controls: list[str], target_gain: float | None) -> dict:
    """Whether the arm ``chosen`` on validation met the study's target: a mean gain of at least
    ``target_gain`` over ``reference`` with its interval above 0, and above every control."""
    row = students.get(chosen) or {}
    gain = row.get(f"gain_vs_{reference}")
    if gain is None:
        return {"met": None, "gain": None, "above_controls": None}
    against = [row.get(f"gain_vs_{control}") for control in controls]
    above = all(c is not None and c["ci95"] and c["ci95"][0] > 0 for c in against)
    met = (gain["ci95"] is not None and gain["ci95"][0] > 0 and above
           and (target_gain is None or gain["mean"] >= target_gain))
    return {"met": met, "gain": gain, "above_controls": above}


def verdict(students: dict, chosen: str | None, reference: str, controls: list[str],
            target_gain: float | None) -> str:
    """One sentence: the target and whether the arm chosen on validation met it."""
    outcome = target_met(students, chosen, reference, controls, target_gain) if chosen else {"met": None}
    if outcome["met"] is None:
        return "No final runs of the chosen arm yet."
    amount = f">= {target_gain:g} points" if target_gain is not None else "a gain"
    which = {0: "", 1: " and above its control", 2: " and above both controls"}.get(
        len(controls), f" and above all {len(controls)} controls")
    gain = outcome["gain"]
    return (f"Target ({amount} over the {reference}, 95 % interval above 0{which}): "
            f"{'met' if outcome['met'] else 'not met'} (gain {gain['mean']:+.2f}, interval {gain['ci95']}; "
            f"above the controls: {'yes' if outcome['above_controls'] else 'no'}).")
