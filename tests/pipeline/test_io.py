import os
import subprocess
import sys

import pytest

from pipeline.io import atomic_output, process_alive, remove_stale_temporaries, temporary_path, write_json


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid)
    return child.pid


def test_process_alive():
    assert process_alive(os.getpid()) and process_alive(os.getppid())
    assert not process_alive(dead_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exited, not yet reaped
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # wait for the exit, keep the zombie
        assert not process_alive(zombie.pid)
    finally:
        zombie.wait()


def test_temporaries_follow_one_pattern_next_to_the_output(tmp_path):
    output = tmp_path / "data" / "frames.h5"
    with atomic_output(output) as temporary:
        assert temporary == tmp_path / "data" / f".frames.h5.tmp-{os.getpid()}"
        assert temporary == temporary_path(output)
        temporary.write_text("x")
    assert output.read_text() == "x" and sorted(p.name for p in output.parent.iterdir()) == ["frames.h5"]


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit, ValueError])
def test_interrupted_output_leaves_nothing(tmp_path, interruption):
    output = tmp_path / "report.json"
    output.write_text("old")
    with pytest.raises(interruption):
        with atomic_output(output) as temporary:
            temporary.write_text("half")
            raise interruption()
    assert output.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    output = tmp_path / "frames.h5"
    dead, alive = dead_pid(), os.getppid()
    stale_file = temporary_path(output, dead)
    stale_file.write_bytes(b"\0" * 1000)
    stale_compact = stale_file.with_name(stale_file.name + ".compact")  # frames' compaction step
    stale_compact.write_bytes(b"\0" * 10)
    stale_dir = temporary_path(tmp_path / "models", dead)  # directory outputs are atomic too
    (stale_dir / "sub").mkdir(parents=True)
    live = temporary_path(output, alive)  # another process writing the same output right now
    live.write_text("in progress")
    other_output = temporary_path(tmp_path / "frames.h5.bak", dead)  # another output's: not ours
    other_output.write_text("x")
    unrelated = tmp_path / ".frames.h5.tmp-notapid"
    unrelated.write_text("x")

    write_json(output, {"a": 1})  # any atomic write of frames.h5 cleans up after dead writers

    names = sorted(p.name for p in tmp_path.iterdir())
    assert stale_file.name not in names and stale_compact.name not in names
    assert names == sorted(["frames.h5", live.name, other_output.name, unrelated.name, stale_dir.name])
    assert remove_stale_temporaries(tmp_path / "models") == [stale_dir] and not stale_dir.exists()
    assert remove_stale_temporaries(output) == []  # the live writer's file stays
    assert live.read_text() == "in progress"
