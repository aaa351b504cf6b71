"""Killing a frames build: SIGTERM unwinds it (no temporary file, no decode worker left);
after SIGKILL the workers still die with their parent and the next build removes the
temporary the killed one left."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from pipeline.frames import FrameSpec, build_frame_cache
from pipeline.io import temporary_path
from tests.conftest import REPO, write_video

BUILD = textwrap.dedent("""
    import sys
    from pipeline.frames import FrameSpec, build_frame_cache
    video, output = sys.argv[1], sys.argv[2]
    build_frame_cache([str(i) for i in range(2000)], [video] * 2000, output, FrameSpec(16, 32),
                      workers=2, progress=False)
    print("finished")
""")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (60, 120, 160, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("video") / "noise.avi", frames)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill_leftovers(pids: list[int]) -> None:
    """Kill the workers a failing test leaves behind (they would otherwise run on, orphaned)."""
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_build(video: Path, output: Path) -> tuple[subprocess.Popen, list[int]]:
    """A 2-worker build of 2000 decodes (tens of seconds), once both workers are decoding."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    build = subprocess.Popen([sys.executable, "-c", BUILD, str(video), str(output)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def workers():
        try:
            children = psutil.Process(build.pid).children()
            spawned = [child for child in children if "spawn_main" in " ".join(child.cmdline())]
            busy = [child for child in spawned if child.cpu_times().user > 1.0]  # past start-up
        except psutil.NoSuchProcess:
            return None
        return [child.pid for child in spawned] if len(spawned) == 2 and len(busy) == 2 else None

    try:
        pids = wait_for(workers, 60, "two busy decode workers")
        assert build.poll() is None and temporary_path(output, build.pid).exists()
    except BaseException:
        build.kill()
        raise
    return build, pids


def test_sigterm_stops_the_build_and_leaves_nothing(video, tmp_path):
    output = tmp_path / "out" / "frames.h5"
    build, workers = start_build(video, output)
    build.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = build.communicate(timeout=15)
    finally:
        build.kill()
        survivors = [pid for pid in workers if not gone(pid)]
        kill_leftovers(survivors)
    assert survivors == []
    assert build.returncode == 128 + signal.SIGTERM and "finished" not in stdout
    assert "SIGTERM" in stderr and "Traceback" not in stderr
    assert list(output.parent.iterdir()) == []  # neither the cache nor its temporary


def test_sigkilled_build_leaves_no_worker_and_the_next_run_cleans_up(video, tmp_path):
    output = tmp_path / "frames.h5"
    build, workers = start_build(video, output)
    build.kill()
    build.wait(timeout=10)
    try:
        wait_for(lambda: all(gone(pid) for pid in workers), 5, "the workers to die with their parent")
    finally:
        kill_leftovers(workers)
    stale = temporary_path(output, build.pid)
    assert stale.exists()  # SIGKILL leaves no chance to clean up...
    build_frame_cache(["a"], [video], output, FrameSpec(2, 8), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.h5"]  # ...the next build does


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
