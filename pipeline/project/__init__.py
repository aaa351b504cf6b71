"""This repository as a DVC project, for the code that drives it from outside a stage (the
study engine, the benchmarks, the tests). One concept per module:

- ``dvc_yaml``: the one reader of ``dvc.yaml``: its stages, a stage's command, the data paths;
- ``workspace``: scratch folders that run a stage with exactly dvc.yaml's command;
- ``provenance``: the machine, commit and command of a results file, and result digests;
- ``tiny``: the tiny configuration (``tiny.yaml``, a params overlay), every stage in seconds.
"""
