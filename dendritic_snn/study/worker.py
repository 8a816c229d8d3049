"""What runs on a Dask worker: one study cell, with BLAS/OpenMP pinned to one thread.

:func:`run_cell` gets everything it needs in its arguments (the profile's content, not a path),
so it runs on any worker that has ``dendritic_snn`` installed and can write the study's output
directory (a shared filesystem for workers on other hosts). It never raises for a failing
task: the error goes to ``cells/<id>/error.txt`` (one line, written atomically; the traceback
beside it) and the status comes back to the client.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ..results import write_text

#: Environment that keeps BLAS / OpenMP libraries to one thread per worker process.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
ERROR_FILE = "error.txt"
TRACEBACK_FILE = "traceback.txt"


def pin_threads() -> contextlib.AbstractContextManager:
    """Set :data:`THREAD_ENV` (for libraries not yet loaded) and return a context that limits
    already-loaded BLAS/OpenMP pools to one thread (``threadpoolctl`` if installed)."""
    os.environ.update(THREAD_ENV)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy stacks
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def import_brian2() -> None:
    """Import Brian2 safely from any thread.

    Brian2 installs a SIGINT handler when it is imported, which Python allows only in the main
    thread; Dask runs tasks in a worker thread. :class:`PinThreads` imports it in the worker's
    main thread when the worker joins; if that did not happen, the handler is skipped here
    (Ctrl-C of a worker process is handled by Dask, not by Brian2).
    """
    if "brian2" in sys.modules:
        return
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ImportError):
            import brian2  # noqa: F401
        return
    original = signal.signal
    signal.signal = lambda *args, **kwargs: signal.getsignal(args[0])
    try:
        with contextlib.suppress(ImportError):
            import brian2  # noqa: F401
    finally:
        signal.signal = original


def allow_child_processes() -> None:
    """Let this worker process start child processes.

    Dask runs workers as daemonic processes, and :mod:`multiprocessing` refuses to start
    children from those ("daemonic processes are not allowed to have children"). The dendritic
    learner serves its Brian2 ``cpp_standalone`` build from a child process
    (:mod:`dendritic_snn.dendritic.simulator`), itself daemonic, which exits when its pipe to
    this process closes, so it cannot outlive the worker.
    """
    import multiprocessing

    process = multiprocessing.current_process()
    if process.daemon:
        process.daemon = False


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (just the message for user errors)."""
    from ..errors import DsnnError

    lines = str(err).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(err, DsnnError):
        return message or type(err).__name__
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def record_failure(run_dir: Path, line: str, trace: str | None = None) -> None:
    """Write ``error.txt`` (and ``traceback.txt`` when given) into the cell's run directory."""
    write_text(Path(run_dir) / ERROR_FILE, line + "\n")
    if trace:
        write_text(Path(run_dir) / TRACEBACK_FILE, trace)


def run_cell(cell: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run one study cell through :func:`dendritic_snn.runners.api.run_task`.

    Parameters
    ----------
    cell
        :meth:`Cell.coords <dendritic_snn.study.grid.Cell.coords>` plus ``profile_raw``.
    run_dir
        Absolute run directory of the cell (``<study>/cells/<id>``).

    Returns
    -------
    dict
        ``{"id", "status": "done" | "failed", "error", "wall_s", "reused"}``; ``reused`` is
        True when the directory already held a complete result (a retried cell whose first
        attempt finished before its worker died).
    """
    with pin_threads():
        import_brian2()
        allow_child_processes()
        from ..hardware.profiles import profile_from_dict
        from ..results import read_result
        from ..runners.api import run_task

        run = Path(run_dir)
        out = {"id": cell["id"], "status": "done", "error": None, "wall_s": 0.0, "reused": False}
        if read_result(run) is not None:
            (run / ERROR_FILE).unlink(missing_ok=True)
            return {**out, "reused": True}
        start = time.perf_counter()
        try:
            profile = profile_from_dict(cell["profile_raw"], f"{cell['profile']} (study cell)")
            run_task(
                cell["task"],
                learner=cell["learner"],
                profile=profile,
                mismatch=cell["mismatch"],
                seed=cell["seed"],
                out=run,
                overrides=cell["overrides"],
                progress=False,
            )
        except Exception as err:  # noqa: BLE001 - any failure is recorded, the study goes on
            line = one_line(err)
            record_failure(run, line, traceback.format_exc())
            return {**out, "status": "failed", "error": line}
        (run / ERROR_FILE).unlink(missing_ok=True)
        (run / TRACEBACK_FILE).unlink(missing_ok=True)
        return {**out, "wall_s": time.perf_counter() - start}


class PinThreads(WorkerPlugin):
    """Worker plugin: on every worker that joins, pin BLAS/OpenMP threads to one and import
    Brian2 in the worker's main thread (see :func:`import_brian2`)."""

    name = "dsnn-pin-threads"

    def setup(self, worker) -> None:
        """Set :data:`THREAD_ENV` and limit loaded thread pools in the worker process."""
        os.environ.update(THREAD_ENV)
        with contextlib.suppress(ImportError):
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1)
        import_brian2()
