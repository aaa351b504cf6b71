"""The distillation study: does distilling from the sensors make the video model better?

``python -m pipeline.study SPEC`` runs one, described by a spec file (``studies/*.yaml``;
the format is in ``pipeline/study/spec.py`` and in the command's ``--help``). One concept
per module (this repository as a DVC project, workspaces and provenance: ``pipeline.project``):

- ``spec``: load and validate a study spec;
- ``overrides``: what a run's result is keyed on (its params less the speed settings);
- ``record``: the run record, the study's one run cache (``studies/results/<study>_runs.json``);
- ``project``: the DVC project the search runs its experiments in;
- ``search``: the validation runs (DVC experiments keyed as the record keys them), the choices
  (teachers, head), the schedule and the settings search (successive halving), on validation only;
- ``finals``: the paired final runs, with the pairing controls of the arm chosen on validation;
- ``statistics``: paired differences with t intervals, McNemar's exact test, summaries;
- ``figures``: the study's figures and their per-run data (CSV, for ``dvc plots``), a label-fraction
  study's curve, class pairs and precision figure too;
- ``gsdm_maps``: the GSDM maps figure (the paper's Fig. 6) from two final runs' models;
- ``report``: the results JSON and its markdown table, a label-fraction study's combined ones too;
- ``executors``: where the runs the record lacks come from: trained through DVC, or none
  (``--recorded-only``); ``plan``'s planner is the third;
- ``runner``: one invocation, from the spec to the results (the run record first);
- ``fractions``: the label-fraction study, the one-split study per labelled fraction;
- ``plan``: ``--plan``'s executor: the runs a study would train and their estimated time;
- ``__main__``: the command's arguments and its one-line errors.
"""
