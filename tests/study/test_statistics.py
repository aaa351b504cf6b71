"""benchmarks/paired.py: the study's paired statistics, against hand-computed values."""
from __future__ import annotations

import pytest

from benchmarks.paired import mcnemar, paired_difference


def test_paired_difference_t_interval_by_hand():
    # differences 1, 2, 3: mean 2, sd 1; t(0.975, 2) = 4.302653, half-width 4.302653 / sqrt(3) = 2.4841
    result = paired_difference([11.0, 12.0, 13.0], [10.0, 10.0, 10.0])
    assert result["mean"] == 2.0 and result["ci95"] == [-0.48, 4.48] and result["n"] == 3
    assert paired_difference([5.0], [4.0])["ci95"] is None
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0])


def test_mcnemar_exact_by_hand():
    # 5 recordings right only by the reference, none only by the arm: p = 2 * 0.5^5 = 0.0625
    arm = [True] * 3 + [False] * 5
    reference = [True] * 8
    assert mcnemar(arm, reference) == {"only_arm": 0, "only_reference": 5, "p_value": 0.0625}
    assert mcnemar([True, False], [False, True])["p_value"] == 1.0  # one each way
    assert mcnemar([True, True], [True, True]) == {"only_arm": 0, "only_reference": 0, "p_value": 1.0}
