"""Atomic outputs: every stage writes to a temporary path and renames it into place, so an
interrupted or failing stage never leaves a half-written file for DVC or the next stage.

Temporaries sit next to their output as ``.{name}.tmp-{pid}`` (helpers may add a suffix:
``.{name}.tmp-{pid}.compact``). A process killed outright (SIGKILL, OOM killer, power loss)
cannot remove its own, so each ``atomic_output`` first removes the temporaries of the same
output whose process no longer exists."""
from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def temporary_path(path: str | Path, pid: int | None = None) -> Path:
    """The temporary sibling that process ``pid`` (default: this one) writes ``path`` to."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid() if pid is None else pid}")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie, dead but not yet reaped, counts as gone).
    Where this cannot be told (not POSIX), say alive: a live writer's file is never removed."""
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by another user
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries of ``path`` left by processes that no longer exist (killed
    before they could clean up); those of live processes, this one included, are kept.
    Returns what was removed."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.tmp-(\d+)(\..*)?")
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or process_alive(pid):
            continue
        _remove(candidate)
        removed.append(candidate)
        log.info("removed %s, left by process %d that no longer runs", candidate, pid)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success it replaces ``path``, on any
    exception (KeyboardInterrupt and SystemExit included) it is removed and ``path`` is left
    as it was. Stale temporaries of ``path`` from dead processes are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    temporary = temporary_path(path)
    _remove(temporary)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    os.replace(temporary, path)


def write_json(path: str | Path, data, indent: int = 2) -> None:
    """Write JSON atomically, pretty-printed so DVC diffs and humans can read it."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(data, indent=indent, sort_keys=False) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(text)


def read_yaml_file(path: str | Path, what: str, error: type[Exception]):
    """A YAML file's content (YAML 1.2, safe); a missing file or bad YAML raises ``error`` in
    one line naming the file (``what``: "params file", "preset", ...)."""
    from ruamel.yaml import YAML

    from pipeline.errors import yaml_problem

    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return YAML(typ="safe", pure=True).load(path.read_text())
    except Exception as problem:  # ruamel raises many error types; all mean bad YAML
        raise error(f"{path}: not valid YAML: {yaml_problem(problem)}") from None
