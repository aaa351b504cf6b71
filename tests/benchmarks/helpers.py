"""Helpers shared by the benchmark tests."""
import math


def positive_and_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0
