"""Python API for comparative studies (what ``dsnn study`` runs), for users' own scripts.

Example::

    from distributed import Client
    from dendritic_snn.study import build_grid, load_table, run_study

    cells = build_grid("smoke")                    # built-in name, path, dict or StudySpec
    report = run_study("smoke", "studies/smoke")   # embedded LocalCluster, a worker per core
    with Client("tcp://scheduler:8786") as client:  # or an existing cluster
        report = run_study("my_study.yaml", "/shared/studies/mine", client=client)
    rows = load_table("studies/smoke")              # list of dicts (frame=True: pandas)

The study directory ``out`` holds ``cells/<id>/`` (one ``dsnn task`` run directory per cell),
``cells.json`` (the grid), ``study.yaml`` (the spec as run), ``study.csv``, ``study.md``, the
plots and ``summary.md``. Workers write their cells there themselves, so with workers on other
hosts ``out`` must be on a filesystem they share with the client, at the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..errors import DsnnError
from ..results import write_text
from .grid import Cell, build_grid
from .spec import StudySpec, apply_study_overrides, load_study

__all__ = ["Cell", "StudySpec", "build_grid", "finish_study", "load_table", "run_study"]


def finish_study(out: str | Path, title: str = "Study") -> list[str]:
    """(Re)write ``study.csv``, ``study.md``, the plots and ``summary.md`` from the cells in
    ``out``; return the file names written."""
    from .plots import write_plots
    from .summary import write_summary
    from .table import write_table

    out = Path(out)
    rows, groups = write_table(out, title)
    plots = write_plots(out, rows, groups)
    write_summary(out, rows, title, plots)
    return ["study.csv", "study.md", *plots, "summary.md"]


def run_study(
    spec: str | Path | dict | StudySpec,
    out: str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
):
    """Run a study: every cell not yet complete, then the table, plots and summary.

    Parameters
    ----------
    spec
        Built-in study name (``tasks/studies/<name>.yaml``), path to a spec, dict or
        :class:`StudySpec`.
    out
        Study directory (default ``studies/<name>``); must be shared with remote workers.
    client
        An existing ``distributed.Client`` to run on (left open).
    scheduler
        Address of a Dask scheduler (``tcp://HOST:PORT``) to connect to instead.
    workers
        Worker processes of the embedded ``LocalCluster`` (default: one per core).
    retry_failed
        Re-run the cells that failed in an earlier run.
    overrides
        ``--set`` overrides (see :func:`~dendritic_snn.study.spec.apply_study_overrides`).
    progress
        Progress bar over cells with an ETA (stderr).
    echo
        Where status lines go.

    Returns
    -------
    StudyReport
        Cell ids done / skipped / failed, and the files written.

    Raises
    ------
    DsnnError
        Bad spec or overrides, or an unreachable scheduler (one line).
    """
    from .engine import run_cells, write_index

    if client is not None and scheduler is not None:
        raise DsnnError("give either a Dask client or a scheduler address, not both")
    study = load_study(spec)
    if overrides:
        study = apply_study_overrides(study, overrides)
    cells = build_grid(study)
    out = Path(out) if out is not None else Path("studies") / study.name
    out.mkdir(parents=True, exist_ok=True)
    write_index(cells, out, study.source)
    write_text(out / "study.yaml", yaml.safe_dump(study.model_dump(), sort_keys=False))
    report = run_cells(cells, out, client, scheduler, workers, retry_failed, progress, echo)
    report.files = finish_study(out, f"Study {study.name}")
    return report


def load_table(out: str | Path, frame: bool = False):
    """The study table of ``out``: one dict per cell (the columns of ``study.csv``).

    Parameters
    ----------
    out
        Study directory.
    frame
        Return a ``pandas.DataFrame`` instead (pandas must be installed; it is not a
        dependency of dendritic_snn).

    Raises
    ------
    DsnnError
        If ``out`` holds no study, or ``frame`` is asked for without pandas.
    """
    from .table import load_rows

    out = Path(out)
    if not (out / "cells.json").is_file() and not (out / "cells").is_dir():
        raise DsnnError(f"{out}: not a study directory (no cells.json or cells/)")
    rows = load_rows(out)
    if not frame:
        return rows
    try:
        import pandas as pd
    except ImportError:
        raise DsnnError("load_table(frame=True) needs pandas (pip install pandas)") from None
    return pd.DataFrame(rows)
