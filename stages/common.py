"""What every stage entry point shares: a --help-able parser, params loading, logging,
and turning expected errors into a one-line message and exit code 1 instead of a traceback."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from pipeline.params import load_params

# Errors whose message already says what is wrong and where (file, key).
EXPECTED_ERRORS = (ValueError, KeyError, FileNotFoundError)


def stage_parser(description: str) -> argparse.ArgumentParser:
    stage = Path(sys.argv[0]).stem
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def run_stage(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace, dict], None]) -> None:
    """Parse arguments, load and validate params, run ``body(args, params)``."""
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = load_params(args.params)
        body(args, params)
    except EXPECTED_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


def training_parser(description: str) -> argparse.ArgumentParser:
    parser = stage_parser(description)
    parser.add_argument("--split", required=True, help="split protocol (one of splits.protocols)")
    return parser


def runtime_from(params: dict):
    """The device/DDP runtime from params.train (torch threads set here, once)."""
    import torch

    from pipeline.training import start_runtime

    if params["train"]["threads"]:
        torch.set_num_threads(params["train"]["threads"])
    return start_runtime(params["train"]["device"], params["train"]["bf16"])


def check_split(params: dict, split: str) -> None:
    if split not in params["splits"]["protocols"]:
        raise ValueError(f"--split {split!r} is not in splits.protocols ({', '.join(params['splits']['protocols'])})")


def write_curves(directory: str, history: list[dict]) -> None:
    """Training curves through dvclive, replayed from the full history (which survives a
    resume, unlike a log appended epoch by epoch)."""
    import shutil

    from dvclive import Live

    shutil.rmtree(directory, ignore_errors=True)
    with Live(directory, dvcyaml=False, save_dvc_exp=False, report=None) as live:
        for record in history:
            for name, value in record.items():
                if name != "epoch" and value is not None:
                    live.log_metric(name, value, plot=True)
            live.next_step()


def save_trained(split: str, name: str, saved: dict) -> None:
    """A training stage's outputs: models/<split>/<name>.pt (atomic) and its dvclive curves."""
    import torch

    from pipeline.io import atomic_output

    with atomic_output(f"models/{split}/{name}.pt") as temporary:
        torch.save(saved, temporary)
    write_curves(f"dvclive/{split}/{name}", saved["history"])
