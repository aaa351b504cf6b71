"""What the speed benchmarks share: their argument parser with ``--output``, and the results
they print and write, stamped with where they come from (the command, the commit, the machine:
``pipeline/project/provenance.py``).

Benchmarks that run stages do it in scratch workspaces (``pipeline/project/workspace.py``),
with exactly the command dvc.yaml gives each stage.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.project.dvc_yaml import REPO, dvc_command
from pipeline.project.provenance import command_line, fingerprint, git_commit, machine
from pipeline.project.workspace import make_workspace, run_stage

__all__ = ["REPO", "dvc_command", "fingerprint", "finish", "git_commit", "machine", "make_workspace", "parser",
           "provenance", "run_stage"]


def parser(module: str, doc: str, output: Path | None = None) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>`` (described by its docstring's first line), with
    ``--output``: where the results JSON is written (default ``output``; none: printed only)."""
    made = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.strip().splitlines()[0])
    made.add_argument("--output", type=Path, default=output,
                      help="also write the results JSON here" + (" (default %(default)s)" if output else ""))
    return made


def provenance(module: str, argv: list[str] | None = None) -> dict:
    """The command as typed, the commit (and whether the code had uncommitted changes), the
    machine and the date."""
    return {"command": command_line(module, argv), "git": git_commit(), "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def finish(result: dict, module: str, argv: list[str] | None = None, output: Path | None = None,
           printed: list[str] | None = None) -> dict:
    """``result`` with its provenance (keys it already has stay), written to ``output`` as JSON
    when given, printed as one JSON line last (only the keys ``printed``, if given)."""
    result = {**provenance(module, argv), **result}
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result if printed is None else {key: result[key] for key in printed if key in result}))
    return result
