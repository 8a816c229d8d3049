"""The study table: ``study.csv`` (one row per cell) and ``study.md`` (mean ± std over seeds).

A row holds the grid coordinates (``cell_id``, ``task``, ``learner``, ``profile``,
``mismatch``, ``seed``, ``set``), the cell's ``status`` (done | failed | missing), its main
metric (``metric`` names it, ``value`` holds it), energy per inference, per training example
and of the whole run (``energy_run_J``, where a task reports it), timing, and every scalar
metric of ``result.json`` as a ``metrics.<name>`` column.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

from ..results import read_result, write_text
from .engine import CELLS_DIR, CELLS_INDEX, previous_error

FIXED_COLUMNS = [
    "cell_id",
    "task",
    "learner",
    "profile",
    "mismatch",
    "mismatch_requested",
    "seed",
    "set",
    "status",
    "metric",
    "goal",
    "value",
    "energy_per_inference_J",
    "energy_per_training_example_J",
    "energy_run_J",
    "wall_s",
    "build_s",
    "examples_per_s",
    "profile_sha256",
    "error",
]
GROUP_KEYS = ("task", "learner", "profile", "mismatch", "set")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return float(statistics.fmean(value))
    return None


def main_metric(metrics: dict[str, Any], name: str) -> float | None:
    """The value of metric ``name`` (a dotted path into nested metrics); a list of numbers
    gives its mean, a bool 0 or 1; None when absent."""
    value: Any = metrics
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return _number(value)


def _run_energy(energy: dict[str, Any]) -> float | None:
    """Total energy of the whole run where a task reports one (``breakdown.run``)."""
    run = (energy.get("breakdown") or {}).get("run") or {}
    return _number((run.get("joules") or {}).get("total"))


def _flatten(metrics: dict[str, Any], prefix: str = "metrics.") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, bool | int | float) and value is not None:
            flat[f"{prefix}{key}"] = value
    return flat


def _index(out: Path) -> list[dict[str, Any]]:
    """The grid coordinates of the study's cells (``cells.json``, else what is on disk)."""
    path = out / CELLS_INDEX
    if path.is_file():
        return json.loads(path.read_text())["cells"]
    cells = []
    for run in sorted((out / CELLS_DIR).glob("*/")):
        result = read_result(run) or {}
        cells.append(
            {
                "id": run.name,
                "task": result.get("task"),
                "learner": result.get("learner"),
                "profile": (result.get("profile") or {}).get("name"),
                "mismatch": None,
                "seed": result.get("seed"),
                "overrides": {},
                "metric": "accuracy",
                "goal": "max",
                "profile_sha256": (result.get("profile") or {}).get("sha256"),
            }
        )
    return cells


def load_rows(out: str | Path) -> list[dict[str, Any]]:
    """One dict per cell of the study in ``out`` (see the module docstring for the keys)."""
    out = Path(out)
    rows = []
    for cell in _index(out):
        run = out / CELLS_DIR / cell["id"]
        result = read_result(run)
        row: dict[str, Any] = {
            "cell_id": cell["id"],
            "task": cell["task"],
            "learner": cell["learner"],
            "profile": cell["profile"],
            "mismatch": cell["mismatch"],
            "mismatch_requested": cell["mismatch"],
            "seed": cell["seed"],
            "set": json.dumps(cell["overrides"], sort_keys=True, separators=(",", ":")),
            "metric": cell["metric"],
            "goal": cell["goal"],
            "profile_sha256": cell["profile_sha256"],
        }
        if result is None:
            error = previous_error(run)
            row.update(status="failed" if error else "missing", error=error)
        else:
            energy, timing = result.get("energy") or {}, result.get("timing") or {}
            row.update(
                status="done",
                mismatch=result["mismatch"],
                value=main_metric(result["metrics"], cell["metric"]),
                energy_per_inference_J=energy.get("per_inference_J"),
                energy_per_training_example_J=energy.get("per_training_example_J"),
                energy_run_J=_run_energy(energy),
                wall_s=timing.get("wall_s"),
                build_s=timing.get("build_s"),
                examples_per_s=timing.get("examples_per_s"),
            )
            row.update(_flatten(result["metrics"]))
        rows.append(row)
    return rows


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    extra = sorted({key for row in rows for key in row} - set(FIXED_COLUMNS))
    return FIXED_COLUMNS + extra


def csv_text(rows: list[dict[str, Any]]) -> str:
    """``study.csv`` content (empty cells for missing values)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value); NaN for none."""
    if not values:
        return math.nan, math.nan
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def group_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped over seeds: coordinates, ``n`` done, ``failed`` and mean/std of the main
    metric, energies and wall time (keys ``value``, ``value_std``, ... ), in first-seen order."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(row["mismatch_requested" if k == "mismatch" else k] for k in GROUP_KEYS)
        groups.setdefault(key, []).append(row)
    out = []
    for key, members in groups.items():
        done = [r for r in members if r["status"] == "done"]
        entry: dict[str, Any] = dict(zip(GROUP_KEYS, key, strict=True))
        if done:  # the sigma actually used (the profile's own when none was requested)
            entry["mismatch"] = done[0]["mismatch"]
        entry.update(
            metric=members[0]["metric"],
            goal=members[0]["goal"],
            n=len(done),
            failed=sum(r["status"] != "done" for r in members),
            seeds=[r["seed"] for r in done],
        )
        for col in ("value", "energy_per_inference_J", "energy_per_training_example_J", "wall_s"):
            values = [float(r[col]) for r in done if r.get(col) is not None]
            entry[col], entry[f"{col}_std"] = mean_std(values)
        out.append(entry)
    return out


def _si(value: float, unit: str) -> str:
    """``value`` with an engineering prefix and 3 significant digits (``1.23 nJ``)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    exponent = max(-18, min(9, 3 * math.floor(math.log10(abs(value)) / 3)))
    prefix = {9: "G", 6: "M", 3: "k", 0: "", -3: "m", -6: "µ", -9: "n", -12: "p", -15: "f"}
    return f"{value / 10**exponent:.3g} {prefix.get(exponent, 'a')}{unit}"


def _fmt(mean: float, std: float, unit: str | None = None) -> str:
    if math.isnan(mean):
        return "–"
    if unit:
        return f"{_si(mean, unit)} ± {_si(std, unit)}"
    return f"{mean:.4g} ± {std:.2g}"


def markdown_text(groups: list[dict[str, Any]], title: str) -> str:
    """``study.md`` content: one row per group, mean ± std over seeds."""
    lines = [
        f"# {title}",
        "",
        "Mean ± sample standard deviation over seeds; n = cells done, failed = cells without a "
        "result (see `cells/<id>/error.txt`).",
        "",
        "| task | learner | profile | mismatch | set | metric | n | failed | value | "
        "energy / inference | energy / training example | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        mm = "profile" if g["mismatch"] is None else f"{g['mismatch']:g}"
        arrow = "↑" if g["goal"] == "max" else "↓"
        e_inf = _fmt(g["energy_per_inference_J"], g["energy_per_inference_J_std"], "J")
        e_train = _fmt(
            g["energy_per_training_example_J"], g["energy_per_training_example_J_std"], "J"
        )
        lines.append(
            f"| {g['task']} | {g['learner']} | {g['profile']} | {mm} | `{g['set']}` | "
            f"{g['metric']} {arrow} | {g['n']} | {g['failed']} | "
            f"{_fmt(g['value'], g['value_std'])} | {e_inf} | {e_train} | "
            f"{_fmt(g['wall_s'], g['wall_s_std'], 's')} |"
        )
    return "\n".join(lines) + "\n"


def write_table(out: str | Path, title: str = "Study") -> tuple[list[dict], list[dict]]:
    """Write ``study.csv`` and ``study.md`` into ``out``; return (rows, groups)."""
    out = Path(out)
    rows = load_rows(out)
    groups = group_rows(rows)
    write_text(out / "study.csv", csv_text(rows))
    write_text(out / "study.md", markdown_text(groups, title))
    return rows, groups
