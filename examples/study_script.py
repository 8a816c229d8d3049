"""A comparative study from a script: build a grid, run it on a Dask client, read the table.

Run from anywhere::

    python examples/study_script.py                      # embedded LocalCluster, 2 workers
    python examples/study_script.py tcp://HOST:8786      # an existing Dask cluster (the
                                                         # output directory must be shared)

The grid here is the f-I curve of the DPI (DYNAP-SE) and 45 nm neurons at three mismatch
levels and two seeds: how much does the rate spread across neurons grow with mismatch, on
which hardware?
"""

from __future__ import annotations

import sys
from pathlib import Path

from distributed import Client, LocalCluster

from dendritic_snn.study import build_grid, load_table, run_study

SPEC = {
    "name": "fi_spread",
    "seeds": [0, 1],
    "mismatch": [0.05, 0.1, 0.2],
    "grid": [
        {
            "task": "fi_curve",
            "profiles": ["dynapse_se", "cmos45_spiking_ep"],
            "set": {"n_currents": 4, "instances": 8, "duration": 100},
            "metric": "rate_rel_spread",
            "goal": "min",
        }
    ],
}


def main(scheduler: str | None = None, out: Path = Path("studies/fi_spread")) -> None:
    """Run the study (resumable: rerunning skips the cells already done) and print a table."""
    cells = build_grid(SPEC)
    print(f"{len(cells)} cells, e.g. {cells[0].id}")
    if scheduler:
        client = Client(scheduler)
    else:
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=True))
    with client:
        report = run_study(SPEC, out, client=client)
    print(report.line())
    for row in load_table(out):
        print(
            f"{row['profile']:<20} mismatch {row['mismatch']:<5} seed {row['seed']}  "
            f"{row['metric']} = {row['value']:.3f}"
        )
    print(f"see {out / 'summary.md'} and {out / 'metric_vs_mismatch.png'}")


if __name__ == "__main__":  # guard needed: Dask starts worker processes that import this file
    main(sys.argv[1] if len(sys.argv) > 1 else None)
