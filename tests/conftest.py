"""Shared fixtures: the real data in ../shared (tests that need it skip cleanly when it is
absent, as on a user's machine), tiny generated videos and the tiny reproduced DVC project.

`make test` runs the suite in parallel (pytest-xdist, one process per core): the reproduced
project is built once, by whichever worker needs it first, and shared read-only; tests that
change a project work on their own clone of it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from hypothesis import settings

from pipeline.params_compose import deep_update
from pipeline.project.tiny import TINY  # shared with benchmarks.gpu

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

# Timing is not a property under test: a loaded machine (parallel workers) must not fail one.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


# Longest first, so that two workers finish together (xdist hands out whole files, in this
# order): the shared project's own tests (the first builds the project, ~100 s, and they run
# dvc in it, so one worker runs them one at a time), the end-to-end runs with projects of
# their own, which another worker runs meanwhile, then the other tests of the shared project
# and the unit tests last, to fill the gaps.
RUN_FIRST = ["tests/e2e/test_fraction_study.py", "tests/e2e/test_repro.py", "tests/e2e/test_learning.py",
             "tests/e2e/test_experiments.py"]


def pytest_collection_modifyitems(config, items):
    def order(item):
        path = item.nodeid.split("::")[0]
        if path in RUN_FIRST:
            return (0, RUN_FIRST.index(path))
        return (1,) if "project" in getattr(item, "fixturenames", ()) else (2,)

    items.sort(key=order)  # stable: collection order within each rank


def pytest_configure(config):
    """Parallel workers each get one thread (torch, BLAS, the stages they start): two
    workers of two threads each on two cores slow everything down."""
    # pyts, the GAF oracle, compiles ~30 s of numba code at import; on the tests' small inputs
    # the same code interpreted is faster.
    os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[variable] = "1"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def write_video(path: Path, frames: np.ndarray, fps: int = 10, codec: str = "mpeg4") -> Path:
    """Encode (F, H, W, 3) uint8 frames with PyAV (near-lossless, so tests can compare)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_with_pyav(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture
def ramp_video(tmp_path) -> Path:
    """A 20-frame 48x64 video whose frame k is a flat grey of level 10 * k + 20."""
    levels = 10 * np.arange(20) + 20
    frames = np.broadcast_to(levels[:, None, None, None], (20, 48, 64, 3)).astype(np.uint8)
    return write_video(tmp_path / "ramp.avi", np.ascontiguousarray(frames))


# ------------------------------------------------------------------ the tiny DVC project
PROJECT_FILES = ["pipeline", "stages", "dvc.yaml", "params.yaml", ".dvc/config", ".dvcignore", ".gitignore"]


def run(command: list[str], cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with this interpreter's environment first on PATH (dvc, python)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def write_params(path: Path, update: dict) -> None:
    from ruamel.yaml import YAML

    yaml = YAML()
    params = yaml.load(path.read_text())
    deep_update(params, update)
    with open(path, "w") as handle:
        yaml.dump(params, handle)


def reproduced_project(root: Path, params_update: dict) -> Path:
    """A git repository at ``root`` holding the project with ``params_update`` applied to
    params.yaml, after one whole `dvc repro` (committed)."""
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / name)
    write_params(root / "params.yaml", params_update)
    run(["git", "init", "-q"], root)
    run(["git", "config", "user.email", "test@example.invalid"], root)
    run(["git", "config", "user.name", "test"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)
    run(["dvc", "repro"], root, timeout=1200)
    # As docs/reference.md tells users: queued experiments start from a git copy, so the
    # persistent checkpoints are committed too, or every experiment retrains the teachers.
    run(["git", "add", "-A"], root)
    run(["git", "add", "-f", "checkpoints"], root)
    run(["git", "commit", "-qm", "reproduced"], root)
    return root


@pytest.fixture(scope="session")
def project(tmp_path_factory, worker_id) -> Path:
    """The project with tiny params, after one whole `dvc repro`. Shared by every test and,
    under pytest-xdist, by every worker: never change it (use ``clone_project``)."""
    if worker_id == "master":
        return reproduced_project(tmp_path_factory.mktemp("project"), TINY)
    shared = tmp_path_factory.getbasetemp().parent  # common to the run's workers
    root, done = shared / "project", shared / "project.reproduced"
    with FileLock(str(shared / "project.lock")):
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker that failed building it
            root.mkdir()
            reproduced_project(root, TINY)
            done.touch()
    return root


def clone_project(project: Path, destination: Path) -> Path:
    """A full copy of the reproduced project (git history, DVC cache, outputs) to run `dvc`
    in; DVC's runtime state (.dvc/tmp: locks, queue) stays behind."""
    def runtime_state(folder, names):
        return ["tmp"] if Path(folder).name == ".dvc" else []

    return Path(shutil.copytree(project, destination, symlinks=True, ignore=runtime_state))


def stage_command(project: Path, stage: str, item: str | None = None, *extra: str, params: str = "params.yaml",
                  leave_out: tuple[str, ...] = ()) -> list[str]:
    """The stage's command exactly as the project's dvc.yaml gives it (paths included), run
    with ``params`` and ``extra`` arguments."""
    from ruamel.yaml import YAML

    from pipeline.project.dvc_yaml import dvc_command

    values = YAML(typ="safe", pure=True).load((project / params).read_text())
    argv = dvc_command(stage, item, values, dvc_yaml=project / "dvc.yaml", leave_out=leave_out)
    return [*argv, "--params", params, *extra]


def copy_project(project: Path, destination: Path) -> Path:
    """A plain copy of the reproduced project (no git, no DVC cache) for running stages by hand."""
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns(".dvc", ".git"), symlinks=False)
    return destination
