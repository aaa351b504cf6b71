"""Paired comparisons of two arms run over the same seeds (the UTD-MHAD study's statistics).

Arms are paired: seed s gives the same student initialisation and data order in every arm, so
the comparison is the per-seed difference, with a t interval over seeds; and on the pooled
per-recording predictions, McNemar's exact test (a binomial test on the discordant pairs).
"""
from __future__ import annotations

import math
import statistics


def paired_difference(arm: list[float], reference: list[float], confidence: float = 0.95) -> dict:
    """Mean of ``arm[i] - reference[i]`` over seeds with a two-sided t interval
    (``mean +- t_{n-1} * sd / sqrt(n)``); one seed has no interval (None)."""
    from scipy.stats import t

    if len(arm) != len(reference) or not arm:
        raise ValueError(f"paired runs need the same seeds: {len(arm)} vs {len(reference)}")
    differences = [a - b for a, b in zip(arm, reference)]
    mean = statistics.mean(differences)
    if len(differences) < 2:
        return {"mean": round(mean, 2), "ci95": None, "n": 1, "differences": differences}
    half = t.ppf(0.5 + confidence / 2, len(differences) - 1) * statistics.stdev(differences) / math.sqrt(len(differences))
    return {"mean": round(mean, 2), "ci95": [round(float(mean - half), 2), round(float(mean + half), 2)], "n": len(differences),
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
