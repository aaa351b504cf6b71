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
