"""Worker processes that never outlive their work: a spawn-based pool whose workers die with
the process that started them (even on SIGKILL), and SIGTERM turned into an orderly exit so
partial outputs are removed."""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)


@contextlib.contextmanager
def exit_on_sigterm(what: str):
    """While building, turn SIGTERM (DVC, a job scheduler, ``kill``) into SystemExit(143)
    so the ``with`` blocks unwind: atomic_output removes its temporary and a worker pool
    stops its workers; then the process exits with status 143. A second SIGTERM kills at once. Only the main thread can install
    signal handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received: list[int] = []

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log.warning("SIGTERM: stopping, removing the partial %s", what)
        received.append(signum)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if received:
            # The blocks inside have unwound: the partial outputs are gone, the workers stopped.
            # End the process now: at interpreter exit, Python 3.11 can wait forever on a pool
            # whose workers were terminated mid-task (CPython gh-94777), seen on loaded machines.
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + received[0])


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int, use_prctl: bool = True) -> None:
    """Worker-pool initializer: end this worker when the process that started it dies, so a
    killed build (even SIGKILL) leaves no worker blocked on its task queue forever. Linux
    delivers SIGTERM on the parent's death (prctl PR_SET_PDEATHSIG); elsewhere, or when
    prctl fails, a daemon thread polls the parent pid."""
    armed = False
    if use_prctl and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def watch_parent(parent: int, interval: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


class task_map:
    """Ordered map over tasks: inline for one worker, else a spawn-based process pool (decord
    and FFmpeg are not fork-safe once threads exist)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None

    def __enter__(self):
        if self.workers <= 1:
            return map
        self.pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent, initargs=(os.getpid(),),
        )
        return lambda function, tasks: self.pool.map(function, tasks, chunksize=2)

    def __exit__(self, exc_type, exc, traceback):
        if self.pool is None:
            return False
        if exc_type is None:
            self.pool.shutdown(wait=True)
            return False
        # Failing or interrupted: do not wait for the videos in flight. Terminate the
        # workers (ProcessPoolExecutor has no public way before Python 3.14), then let the
        # executor notice and wind down its manager thread.
        workers = list((self.pool._processes or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join(timeout=5)
        return False
