"""Concurrent runs whose chips share the engine: one step-loop call per presentation.

:func:`run_batched` splits the items over ``processes`` worker processes (forked, so they
start with the caller's imports and compiled engine; one per core by default) and runs
``fn(item)`` for every item of a worker in its own thread. Every simulator that
:func:`~dendritic_snn.dendritic.experiment.make_simulator` hands out inside those threads
(``engine: numba``) is a client of one session: a presentation request waits until every
running item has sent one, then all of them go through
:meth:`~dendritic_snn.dendritic.engine.NumbaSimulator.run_batch` together (grouped by
network structure). The chips are independent in the step loop, so each result is the one a
single run gives (same seed, same result), and the per-call overhead is paid once per
batch instead of once per chip. Python code between presentations (calibration searches,
weight scaling, plots) runs in the threads as usual; it holds the interpreter lock, which is
why the items are also spread over processes.

Example: ten seeds of the main job as one batch::

    from dendritic_snn import run_task
    from dendritic_snn.dendritic.batch import run_batched

    results = run_batched(lambda s: run_task("pattern_discrimination", seed=s,
                                             progress=False), range(10))
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .network import Structure

_local = threading.local()
#: Step-loop calls and chip presentations of the last :func:`run_batched`.
LAST_STATS: dict[str, int] = {"calls": 0, "presentations": 0}


class _Session:
    """Gathers one request per running thread, then runs them as one batch."""

    def __init__(self, n_threads: int) -> None:
        self.cond = threading.Condition()
        self.active = n_threads
        self.pending: dict[int, tuple[Structure, dict]] = {}
        self.results: dict[int, Any] = {}
        self.sims: dict[tuple, Any] = {}
        #: number of step-loop calls and of chip presentations they carried
        self.calls = 0
        self.presentations = 0

    def submit(self, structure: Structure, values: dict) -> dict:
        tid = threading.get_ident()
        with self.cond:
            self.pending[tid] = (structure, values)
            self._run_if_complete()
            while tid not in self.results:
                self.cond.wait()
            out = self.results.pop(tid)
        if isinstance(out, BaseException):
            raise out
        return out

    def leave(self) -> None:
        with self.cond:
            self.active -= 1
            self._run_if_complete()

    def _run_if_complete(self) -> None:
        """With the lock held: run the batch once every running thread has a request."""
        if not self.pending or len(self.pending) < self.active:
            return
        from .engine import NumbaSimulator

        groups: dict[tuple, list] = {}
        for tid, (st, vals) in self.pending.items():
            groups.setdefault(st.key(), []).append((tid, st, vals))
        self.pending = {}
        for key, items in groups.items():
            try:
                sim = self.sims.get(key)
                if sim is None:
                    sim = self.sims[key] = NumbaSimulator(items[0][1])
                outs: list = sim.run_batch([vals for _, _, vals in items])
            except Exception as err:  # handed to every waiting thread
                outs = [err] * len(items)
            self.calls += 1
            self.presentations += len(items)
            for (tid, _, _), out in zip(items, outs, strict=True):
                self.results[tid] = out
        self.cond.notify_all()


class _Client:
    """The simulator a run sees inside :func:`run_batched` (``run(values) -> results``)."""

    build_s = 0.0

    def __init__(self, session: _Session, structure: Structure) -> None:
        self.session, self.structure = session, structure

    def run(self, values: dict) -> dict:
        return self.session.submit(self.structure, values)

    def close(self) -> None:
        pass


def client(structure: Structure) -> _Client | None:
    """The batch client of the calling thread's session, or None outside :func:`run_batched`."""
    session = getattr(_local, "session", None)
    return None if session is None else _Client(session, structure)


def run_batched(
    fn: Callable[[Any], Any], items: Iterable[Any], processes: int | None = None
) -> list[Any]:
    """``[fn(item) for item in items]``, run concurrently with batched presentations.

    Parameters
    ----------
    fn
        Called once per item in its own thread, e.g. a ``run_task`` call for one seed. Its
        dendritic simulators come from the shared session of its process (task option
        ``engine: numba``).
    items
        One item per concurrent run.
    processes
        Worker processes the items are dealt to (round robin); default one per core, at
        most one per item. With 1, where processes cannot be forked, or inside a daemonic
        process (e.g. a Dask worker), every item runs in a thread of the calling process.

    Returns
    -------
    list
        The results in the order of ``items`` (passed back by pickle from the workers). The
        first exception raised by any ``fn`` is re-raised after every item has finished.
    """
    items = list(items)
    n_proc = min(processes or os.cpu_count() or 1, len(items))
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if n_proc <= 1 or not forkable or multiprocessing.current_process().daemon:
        results, errors, stats = _run_threads(fn, items)
    else:
        results, errors, stats = _run_processes(fn, items, n_proc)
    if errors:
        raise errors[0]
    LAST_STATS.update(stats)
    return results


def _run_threads(
    fn: Callable[[Any], Any], items: list[Any]
) -> tuple[list[Any], list[BaseException], dict[str, int]]:
    """Every item in its own thread of this process, all in one session."""
    session = _Session(len(items))
    results: list[Any] = [None] * len(items)
    errors: list[BaseException] = []

    def work(n: int, item: Any) -> None:
        _local.session = session
        try:
            results[n] = fn(item)
        except BaseException as err:  # re-raised in the caller
            errors.append(err)
        finally:
            _local.session = None
            session.leave()

    threads = [threading.Thread(target=work, args=(n, it), daemon=True)
               for n, it in enumerate(items)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors, {"calls": session.calls, "presentations": session.presentations}


def _run_processes(
    fn: Callable[[Any], Any], items: list[Any], n_proc: int
) -> tuple[list[Any], list[BaseException], dict[str, int]]:
    """Items dealt round robin to ``n_proc`` forked workers, each running :func:`_run_threads`."""
    ctx = multiprocessing.get_context("fork")
    shares = [list(range(k, len(items), n_proc)) for k in range(n_proc)]
    workers = []
    for share in shares:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(fn, [items[i] for i in share], send))
        proc.start()
        send.close()
        workers.append((share, receive, proc))
    results: list[Any] = [None] * len(items)
    errors: list[BaseException] = []
    stats = {"calls": 0, "presentations": 0}
    for share, receive, proc in workers:
        try:
            part, part_errors, part_stats = receive.recv()
        except EOFError:  # the worker died without answering (killed, out of memory)
            part, part_stats = [None] * len(share), {}
            part_errors = [RuntimeError(f"run_batched: a worker process exited early "
                                        f"(items {share})")]  # fmt: skip
        proc.join()
        for i, result in zip(share, part, strict=True):
            results[i] = result
        errors += part_errors
        for key, value in part_stats.items():
            stats[key] += value
    return results, errors, stats


def _worker(fn: Callable[[Any], Any], items: list[Any], send) -> None:
    """Run ``items`` in threads and send back ``(results, errors, stats)``."""
    try:
        answer = _run_threads(fn, items)
    except BaseException as err:  # e.g. a thread that could not start
        answer = ([None] * len(items), [err], {})
    try:
        send.send(answer)
    except Exception as err:  # a result that does not pickle: say which
        send.send(([None] * len(items), [RuntimeError(f"run_batched: {err}")], {}))
    send.close()
