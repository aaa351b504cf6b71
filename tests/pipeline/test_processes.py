"""pipeline/processes.py: a worker dies with its parent, by prctl's death signal or the
watchdog thread, and exits at once when its parent is already gone."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.pipeline.helpers import gone, kill_leftovers, wait_for


@pytest.mark.parametrize("use_prctl", [True, False])
def test_workers_die_with_their_parent(use_prctl):
    # parent -> child running the pool initializer; SIGKILL the parent, the child must follow
    # (prctl's death signal, or the watchdog thread where prctl is not available).
    child_code = (f"import os, time; from pipeline.processes import die_with_parent; "
                  f"die_with_parent(os.getppid(), use_prctl={use_prctl}); print('ready', flush=True); time.sleep(60)")
    parent_code = ("import subprocess, sys, time; "
                   f"child = subprocess.Popen([sys.executable, '-c', {child_code!r}]); "
                   "print(child.pid, flush=True); time.sleep(60)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())
        wait_for(lambda: "ready" in (parent.stdout.readline() or ""), 30, "the child to start")
        parent.kill()
        parent.wait(timeout=10)
        wait_for(lambda: gone(child), 5, "the child to die with its parent")
    finally:
        parent.kill()
        kill_leftovers([child] if child else [])


def test_worker_whose_parent_is_already_gone_exits():
    code = "from pipeline.processes import die_with_parent; die_with_parent(1); print('survived')"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "survived" not in result.stdout
