"""Where a results file comes from (the machine, the commit, the command) and what a cached
result is keyed on (a digest of its settings). Shared by the study's results and the speed
benchmarks (``benchmarks/common.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from pipeline.project.dvc_yaml import REPO

# Results folders: what benchmarks and studies rewrite; changes there do not make the code dirty.
RESULTS = ("benchmarks/results", "studies/results")


def shown(path: Path) -> str:
    """A path as results and messages show it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def git_commit(root: Path = REPO) -> dict:
    """The checkout's commit, and whether its code has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  *(f":(exclude){folder}" for folder in RESULTS))
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed)}


def machine() -> dict:
    """CPU model, cores, torch threads, GPU, Python, torch and OS of this machine."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def command_line(module: str, argv: list[str] | None = None) -> str:
    """``python -m module args...`` as typed (quoted), for a results file."""
    return " ".join(["python -m", module, *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])


def describe_machine(machine_: dict) -> str:
    return f"{machine_['cpu']}, {machine_['cores']} cores, GPU: {machine_['gpu'] or 'none'}"


def describe_machines(machines: dict[str, dict]) -> str:
    """The runs' machines in one line, each kind once with how many machines of it ran (they
    differ in what the line leaves out: the results' ``machines`` say how)."""
    counts: dict[str, int] = {}
    for described in map(describe_machine, machines.values()):
        counts[described] = counts.get(described, 0) + 1
    return "; ".join(d if n == 1 else f"{d} ({n} machines)" for d, n in counts.items()) or "none recorded"


def fingerprint(*values) -> str:
    """A short digest of JSON-able values (dict key order does not matter)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
