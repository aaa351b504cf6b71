"""Helpers shared by the loss tests."""


def default_params(**changes) -> dict:
    from pipeline.params import validate_params

    return validate_params(changes)
