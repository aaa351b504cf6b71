"""The run record: the study's one run cache, committed next to its results.

``<results>/<study>_runs.json`` holds every run the study has finished, keyed by ``run_key``:
a digest of the split, the stage and the run's full params (the preset with the spec's
params, the arm's overrides, the student seed and epochs), without the data folder's location
and the speed settings. The search's runs (validation only) and the final runs (validation and
the one read of the test split) are separate sections. It is written after every run, so an
interrupted study resumes where it stopped; a run whose key is in the record is never trained
again, whatever the working folders hold. The code a run used is in its entry (``commit``):
the record pins results, so a study rerun after a code change reuses them; to measure new
code, write the study to another results folder (``--results``).

A final run's entry holds its test accuracy and macro F-measure, validation accuracy, best
epoch, wall time per stage, and, for runs made since the record exists, its per-class
accuracy, validation curve and per-sample test predictions (``predicted``, aligned with the
record's ``test_samples``), from which McNemar's test is recomputed. Where earlier runs have
no predictions, the McNemar counts computed when they ran are kept in ``recorded_mcnemar``,
keyed by the two arms' run keys, and marked recorded in the results.
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.io import write_text
from pipeline.project.provenance import fingerprint
from pipeline.study.errors import StudyError
from pipeline.study.overrides import results_params

FORMAT = 1


# Settings added after runs were recorded: at these values a run does what every run did before
# they existed, so its key leaves them out and recorded runs keep their keys.
NEUTRAL = {"splits.labeled_fraction": 1.0, "distill.targets": "teachers",
           "distill.pseudo_label": {"labeller": "teachers", "second_view": False, "threshold": 0.0, "coverage": None,
                                    "student_threshold": 0.95, "confidence": "probability", "weight": 1.0,
                                    "class_balance": "none", "strong_augment": True},
           "teacher.self_training.coverage": None,  # before its section: removed first, then the section
           "teacher.self_training": {"rounds": 0, "threshold": 0.8}}


def run_key(split: str, stage: str, params: dict) -> str:
    """What identifies a run's result: split, stage and params, less ``data.root`` (where the
    dataset sits on a machine is not what it is), the speed settings, ``NEUTRAL`` settings at
    their neutral value and, for a real dataset, the synthetic one's classes."""
    params = results_params(params)
    params.get("data", {}).pop("root", None)
    if params.get("dataset") != "synthetic" and isinstance(params.get("synthetic"), dict):
        # The synthetic dataset's settings change nothing a real dataset's run computes: they
        # stay at the value its runs were recorded with (the default, before the first run's
        # default became 6 classes), so a changed default keeps every recorded key.
        params["synthetic"]["classes"] = None
    for dotted, neutral in NEUTRAL.items():
        *parents, leaf = dotted.split(".")
        section = params
        for parent in parents:
            section = section.get(parent) if isinstance(section, dict) else None
        if isinstance(section, dict) and leaf in section and section[leaf] == neutral:
            del section[leaf]
    return fingerprint({"split": split, "stage": stage, "params": params})


def pair_key(arm_keys: list[str], reference_keys: list[str]) -> str:
    """Which runs a recorded McNemar count compares (the arm's and the reference's, seed by seed)."""
    return fingerprint(list(arm_keys), list(reference_keys))


def _dump(value, indent: int = 0) -> str:
    """JSON with one key per line and lists of scalars on one line (per-sample predictions
    stay readable in a diff)."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(f"{inner}{_dump(v, indent + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value)


class Record:
    """The run record of one study (``path``); ``save`` writes it atomically."""

    def __init__(self, path: Path, study: str, write: bool = True):
        self.path, self.study, self.write = Path(path), study, write  # write=False: a plan's copy
        self.data = {"study": study, "format": FORMAT, "machines": {}, "search": {}, "finals": {},
                     "test_samples": None, "reuse_check": None, "recorded_mcnemar": {}}
        if self.path.exists():
            try:
                saved = json.loads(self.path.read_text())
            except json.JSONDecodeError as error:
                raise StudyError(f"{self.path}: not a readable run record ({error.msg} at line {error.lineno}: "
                                 "truncated or edited? restore it from git)") from None
            if not isinstance(saved, dict) or saved.get("format") != FORMAT:
                saved = saved if isinstance(saved, dict) else {}
                raise StudyError(f"{self.path}: run record format {saved.get('format')}, this code reads {FORMAT}")
            self.data.update(saved)

    # ------------------------------------------------------------------ lookups
    def search_run(self, key: str) -> dict | None:
        return self.data["search"].get(key)

    def final(self, key: str) -> dict | None:
        return self.data["finals"].get(key)

    @property
    def reuse_check(self) -> dict | None:
        return self.data["reuse_check"]

    def recorded_mcnemar(self, arm_keys: list[str], reference_keys: list[str]) -> dict | None:
        return self.data["recorded_mcnemar"].get(pair_key(arm_keys, reference_keys))

    def test_samples(self) -> dict | None:
        return self.data["test_samples"]

    def machine(self, entry: dict) -> dict | None:
        return self.data["machines"].get(entry.get("machine", ""))

    # ------------------------------------------------------------------ additions
    def machine_id(self, machine: dict) -> str:
        """The id of ``machine`` in the record's table of machines (added when new)."""
        key = fingerprint(machine)[:8]
        self.data["machines"].setdefault(key, machine)
        return key

    def add_search(self, key: str, entry: dict) -> None:
        self.data["search"][key] = {"key": key, **entry}
        self.save()

    def add_final(self, key: str, entry: dict, per_sample: dict | None = None) -> None:
        """A final run, with its per-sample test predictions (``sample_id``, ``label``,
        ``predicted``) stored as ``predicted`` aligned with the record's test samples."""
        entry = {"key": key, **entry}
        if per_sample is not None:
            samples = {"sample_id": list(per_sample["sample_id"]), "label": list(per_sample["label"])}
            if self.data["test_samples"] is None:
                self.data["test_samples"] = samples
            if self.data["test_samples"] == samples:
                entry["predicted"] = list(per_sample["predicted"])
            else:  # another test set (another split or dataset version): kept whole
                entry["per_sample"] = {**samples, "predicted": list(per_sample["predicted"])}
        self.data["finals"][key] = entry
        self.save()

    def set_reuse_check(self, check: dict) -> None:
        self.data["reuse_check"] = check
        self.save()

    def per_sample(self, entry: dict) -> dict | None:
        """A final run's per-sample predictions, or None for runs recorded without them."""
        if "per_sample" in entry:
            return entry["per_sample"]
        if "predicted" in entry and self.data["test_samples"]:
            return {**self.data["test_samples"], "predicted": entry["predicted"]}
        return None

    def save(self) -> None:
        if not self.write:
            return
        write_text(self.path, _dump(self.data) + "\n")
