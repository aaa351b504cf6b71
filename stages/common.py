"""What every stage entry point shares: a --help-able parser, params loading, logging, and
turning the project's own errors (``pipeline.errors.PipelineError``: bad input, bad params,
unusable files) into a one-line message and exit code 1. Any other exception is a bug and
keeps its traceback; ``--traceback`` shows it for the expected ones too."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

from pipeline.errors import PipelineError
from pipeline.params import load_params
from pipeline.processes import die_with_parent


def stage_parser(description: str) -> argparse.ArgumentParser:
    stage = Path(sys.argv[0]).stem
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of expected errors too (for bug reports)")
    return parser


def add_paths(parser: argparse.ArgumentParser, **paths: str) -> None:
    """Required path arguments (``--manifest``...), given by dvc.yaml: the stage's files are
    named in one place, the DAG."""
    for name, help_text in paths.items():
        parser.add_argument(f"--{name.replace('_', '-')}", required=True, metavar="PATH", help=help_text)


def run_stage(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace, dict], None]) -> None:
    """Parse arguments, load and validate params, run ``body(args, params)``."""
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if started_by_dvc(os.getppid()):
        # `kill -TERM` of dvc leaves its stage running, to write outputs dvc.lock never records.
        die_with_parent(os.getppid())
    try:
        params = load_params(args.params)
        body(args, params)
    except PipelineError as error:
        if args.traceback:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def started_by_dvc(pid: int) -> bool:
    """Whether process ``pid`` is DVC (``dvc repro``, ``dvc exp run``, a queue worker): a stage
    started by hand, or left running on purpose (nohup), must not die with its parent."""
    import psutil

    try:
        command = psutil.Process(pid).cmdline()[:3]
    except (psutil.Error, OSError):
        return False
    return any(Path(part).name == "dvc" for part in command)


def training_parser(description: str) -> argparse.ArgumentParser:
    parser = stage_parser(description)
    parser.add_argument("--split", required=True, help="split protocol (one of splits.protocols)")
    add_paths(parser, manifest="the manifest (manifest stage)", splits="train/val/test per protocol (manifest stage)",
              class_embeddings="class-name vectors (embed stage)")
    return parser


@contextlib.contextmanager
def training_runtime(params: dict) -> Iterator:
    """The device/DDP runtime from params.train (torch threads set here, once), stopped
    however the stage ends, so a failing rank never leaves the process group hanging."""
    import torch

    from pipeline.training import start_runtime, stop_runtime

    if params["train"]["threads"]:
        torch.set_num_threads(params["train"]["threads"])
    runtime = start_runtime(params["train"]["device"], params["train"]["bf16"])
    try:
        yield runtime
    finally:
        stop_runtime(runtime)


def check_split(params: dict, split: str) -> None:
    from pipeline.params import ParamsError

    if split not in params["splits"]["protocols"]:
        raise ParamsError(f"--split {split!r} is not in splits.protocols "
                          f"({', '.join(params['splits']['protocols'])})")


def write_curves(directory: str | Path, history: list[dict], best_epoch: int | None = None) -> None:
    """Training curves through dvclive, replayed from the full history (which survives a
    resume, unlike a log appended epoch by epoch). With ``best_epoch`` (the epoch the model
    file keeps, chosen on validation) its ``best_epoch`` and ``best_val_accuracy`` go into the
    summary (``metrics.json``, git-tracked: an experiment that stops before the test split
    still records what it is ranked by; evaluate copies both into the split's DVC metric)."""
    import shutil

    from dvclive import Live

    shutil.rmtree(directory, ignore_errors=True)
    with Live(str(directory), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        for record in history:
            for name, value in record.items():
                if name != "epoch" and value is not None:
                    live.log_metric(name, value, plot=True)
            live.next_step()
        best = next((record for record in history if record["epoch"] == best_epoch), None)
        if best is not None and best.get("val_accuracy") is not None:
            live.summary["best_epoch"] = best_epoch
            live.summary["best_val_accuracy"] = best["val_accuracy"]
            live.make_summary()


def save_trained(model_path: str | Path, curves: str | Path, saved: dict) -> None:
    """A training stage's outputs: the model file (``model_files.save_model_file``: atomic,
    refused when a weight is not finite) and its dvclive curves."""
    from pipeline.workflow.model_files import save_model_file

    save_model_file(model_path, saved)
    write_curves(curves, saved["history"], saved.get("best_epoch"))


def save_skipped(model_path: str | Path, checkpoint: str | Path, curves: str | Path, saved: dict) -> None:
    """A skipped training stage's outputs, each saying so: the model file and its checkpoint
    (``model_files.save_skipped_model``), and a dvclive folder with an empty curve and a
    summary holding the reason."""
    from pipeline.io import atomic_output, write_json
    from pipeline.workflow.model_files import save_skipped_model

    with atomic_output(curves) as temporary:
        (temporary / "plots" / "metrics").mkdir(parents=True)
        (temporary / "plots" / "metrics" / "val_accuracy.tsv").write_text("step\tval_accuracy\n")
        write_json(temporary / "metrics.json", {"skipped": saved["reason"]})
    save_skipped_model(model_path, checkpoint, saved)
