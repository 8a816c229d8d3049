"""Comparative studies on Dask: which learning rule, on which hardware, at what mismatch and
energy. See :mod:`dendritic_snn.study.api` for the Python API and ``dsnn study --help``."""

from .api import Cell, StudySpec, build_grid, finish_study, load_table, run_study

__all__ = ["Cell", "StudySpec", "build_grid", "finish_study", "load_table", "run_study"]
