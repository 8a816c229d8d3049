"""Run study cells on Dask distributed: an embedded LocalCluster or an existing scheduler.

Each cell writes its own run directory ``<out>/cells/<id>/`` from the worker, so ``out`` must
be a path every worker can write (a shared filesystem when workers run on other hosts). A cell
is skipped when its directory holds a complete ``result.json``; a cell that raises is recorded
as failed (``error.txt``) and the study goes on; a worker that dies loses only the cells it was
running, which the scheduler reruns elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DsnnError
from ..results import read_result, write_json
from .grid import Cell
from .worker import ERROR_FILE, THREAD_ENV, PinThreads, one_line, record_failure, run_cell

CELLS_DIR = "cells"
CELLS_INDEX = "cells.json"
#: Times a cell is resubmitted after an unexpected error (its worker dying is handled by the
#: scheduler's own ``allowed-failures``).
RETRIES = 2
#: Seconds to wait for a first worker on an external cluster.
WAIT_FOR_WORKERS_S = 60


@dataclass
class StudyReport:
    """What a study run did: cell ids per outcome.

    ``done`` ran now, ``skipped`` were complete already, ``failed`` raised now (id -> error),
    ``failed_before`` failed in an earlier run and were not retried (id -> error); ``files``
    are the study outputs written (table, plots, summary).
    """

    out: Path
    total: int
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    failed_before: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """``{"done", "skipped", "failed", "failed_before", "total"}`` counts."""
        return {
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "failed_before": len(self.failed_before),
            "total": self.total,
        }

    def line(self) -> str:
        """One-line summary of the counts."""
        text = (
            f"{len(self.done)} done, {len(self.skipped)} skipped (already done), "
            f"{len(self.failed)} failed"
        )
        if self.failed_before:
            text += f", {len(self.failed_before)} failed earlier (--retry-failed re-runs them)"
        return f"{text} of {self.total} cells"


def cell_dir(out: Path, cell: Cell) -> Path:
    """Run directory of ``cell`` in the study directory ``out``."""
    return Path(out) / CELLS_DIR / cell.id


def previous_error(run_dir: Path) -> str | None:
    """The recorded one-line error of a failed cell, or None."""
    try:
        return (Path(run_dir) / ERROR_FILE).read_text().strip() or "failed"
    except OSError:
        return None


def _free_port(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def dashboard_link(client) -> str | None:
    """The scheduler's dashboard URL (with a note when ``bokeh`` is missing), or None."""
    try:
        info = client.scheduler_info()
        if "dashboard" not in info.get("services", {}):
            return None
        link = client.dashboard_link or None
    except Exception:  # noqa: BLE001 - a missing dashboard is not an error
        return None
    if link and importlib.util.find_spec("bokeh") is None:
        link += " (status pages need bokeh: pip install bokeh)"
    return link


@contextlib.contextmanager
def open_client(
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Iterator:
    """Yield a Dask client: ``client`` as given (left open), one connected to ``scheduler``,
    or one on an embedded ``LocalCluster`` of ``workers`` single-threaded processes."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            own = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            first = (str(err).splitlines() or [""])[0]
            raise DsnnError(f"--scheduler {scheduler}: cannot connect ({first})") from None
        with own:
            yield own
        return
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise DsnnError(f"--workers {n}: must be at least 1")
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":8787" if _free_port(8787) else ":0",
            silence_logs=logging.ERROR,
            env=dict(THREAD_ENV),
        ) as cluster,
        Client(cluster) as own,
    ):
        yield own


def _payload(cell: Cell) -> dict:
    return {**cell.coords(), "profile_raw": cell.profile_raw}


def run_cells(
    cells: Sequence[Cell],
    out: str | Path,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> StudyReport:
    """Run the cells that are not complete yet and record what happened.

    Parameters
    ----------
    cells
        From :func:`~dendritic_snn.study.grid.build_grid`.
    out
        Study directory (shared by all workers); cells go to ``out/cells/<id>/``.
    client, scheduler, workers
        An existing ``distributed.Client``; or a scheduler address; or the number of
        worker processes of an embedded LocalCluster (default: one per core, at most one per
        cell to run).
    retry_failed
        Re-run cells that failed in an earlier run (otherwise they are left as failed).
    progress
        Show a progress bar over cells (with an ETA) on stderr.
    echo
        Where status lines (dashboard link, worker count) go.

    Returns
    -------
    StudyReport
    """
    from tqdm.auto import tqdm

    out = Path(out).resolve()
    report = StudyReport(out, len(cells))
    todo: list[Cell] = []
    for cell in cells:
        run = cell_dir(out, cell)
        error = previous_error(run)
        if read_result(run) is not None:
            report.skipped.append(cell.id)
        elif error is not None and not retry_failed:
            report.failed_before[cell.id] = error
        else:
            todo.append(cell)
    if not todo:
        return report
    n_workers = min(workers or os.cpu_count() or 1, len(todo))
    with open_client(client, scheduler, n_workers) as dask_client:
        link = dashboard_link(dask_client)
        try:
            dask_client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
        except TimeoutError:
            raise DsnnError(
                f"dask scheduler {dask_client.scheduler.address}: no worker joined within "
                f"{WAIT_FOR_WORKERS_S} s"
            ) from None
        n_live = len(dask_client.nthreads())
        echo(
            f"dask: {n_live} workers at {dask_client.scheduler.address}"
            + (f"; dashboard {link}" if link else "; no dashboard")
        )
        dask_client.register_plugin(PinThreads())
        _submit_and_collect(dask_client, todo, out, report, progress, tqdm)
    return report


def _submit_and_collect(client, todo, out, report, progress, tqdm) -> None:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            run_cell,
            _payload(cell),
            str(cell_dir(out, cell)),
            key=f"dsnn-cell-{cell.id}-{token}",
            pure=False,
            retries=RETRIES,
        ): cell
        for cell in todo
    }
    bar = tqdm(total=len(futures), desc="study", unit="cell", disable=not progress, file=sys.stderr)
    try:
        for future in as_completed(futures):
            cell = futures[future]
            try:
                result = future.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker after repeated deaths
                result = {"status": "failed", "error": f"worker: {one_line(err)}"}
                record_failure(cell_dir(out, cell), result["error"])
            if result["status"] == "done":
                report.done.append(cell.id)
            else:
                report.failed[cell.id] = result["error"]
            bar.set_postfix(failed=len(report.failed), refresh=False)
            bar.update(1)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        bar.close()


def write_index(cells: Sequence[Cell], out: str | Path, spec_source: str) -> None:
    """Record the grid (coordinates of every cell, in order) as ``out/cells.json``."""
    write_json(
        Path(out) / CELLS_INDEX,
        {"spec": spec_source, "cells": [cell.coords() for cell in cells]},
    )
