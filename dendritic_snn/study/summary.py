"""The study's verdict: best learner per task and profile, by how much, and whether it holds
beyond the spread over seeds (``summary.md``).

Each contender's score is its main metric averaged over the mismatch levels of the study, per
seed; the mean and sample standard deviation of those per-seed scores are compared. A margin
"exceeds the spread over seeds" when it is larger than the sum of the two standard deviations
(the ±1 sd bands do not overlap); with a single seed there is no spread to compare against.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..results import write_text
from .table import mean_std


def _scores(rows: list[dict[str, Any]], key: str, versus: str) -> dict[tuple, dict]:
    """``{(task, key value): {contender: (mean, std, n_seeds, mismatch levels)}}``."""
    per: dict[tuple, dict[str, dict[Any, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    levels: dict[tuple, set] = defaultdict(set)
    sets_of: dict[tuple, set] = defaultdict(set)
    for row in rows:
        sets_of[(row["task"], row[key], row[versus])].add(row["set"])
    for row in rows:
        if row["status"] != "done" or row.get("value") is None:
            continue
        label = row[versus]
        if len(sets_of[(row["task"], row[key], label)]) > 1:
            label = f"{label} {row['set']}"
        per[(row["task"], row[key])][label][row["seed"]].append(float(row["value"]))
        levels[(row["task"], row[key])].add(row["mismatch"])
    out: dict[tuple, dict] = {}
    for group, contenders in per.items():
        out[group] = {}
        for label, seeds in contenders.items():
            mean, std = mean_std([sum(v) / len(v) for v in seeds.values()])
            out[group][label] = (mean, std, len(seeds), sorted(levels[group], key=str))
    return out


def compare(rows: list[dict[str, Any]], key: str = "profile", versus: str = "learner") -> list:
    """Rank the ``versus`` values (learners) within each (task, ``key``) group.

    Returns
    -------
    list of dict
        ``task``, ``key`` (its value), ``metric``, ``goal``, ``ranking`` [(label, mean, std,
        n_seeds)] best first, ``margin`` (best minus runner-up, in the better direction),
        ``exceeds`` (True, False, or None when it cannot be told) and ``levels``.
    """
    goals = {(r["task"]): (r["metric"], r["goal"]) for r in rows}
    verdicts = []
    for (task, value), contenders in _scores(rows, key, versus).items():
        metric, goal = goals[task]
        sign = 1.0 if goal == "max" else -1.0
        ranking = sorted(
            ((label, m, s, n) for label, (m, s, n, _) in contenders.items()),
            key=lambda item: -sign * item[1],
        )
        verdict = {
            "task": task,
            "key": value,
            "metric": metric,
            "goal": goal,
            "ranking": ranking,
            "margin": None,
            "exceeds": None,
            "levels": next(iter(contenders.values()))[3],
        }
        if len(ranking) > 1:
            (_, m1, s1, n1), (_, m2, s2, n2) = ranking[:2]
            verdict["margin"] = sign * (m1 - m2)
            if n1 > 1 and n2 > 1:
                verdict["exceeds"] = verdict["margin"] > s1 + s2
        verdicts.append(verdict)
    return verdicts


def _line(v: dict, key_name: str | None, versus_name: str) -> str:
    arrow = "higher is better" if v["goal"] == "max" else "lower is better"
    levels = ", ".join("profile's" if x is None else f"{x:g}" for x in v["levels"])
    where = f" on {key_name} `{v['key']}`" if key_name else ""
    head = f"- **{v['task']}**{where} ({v['metric']}, {arrow}; averaged over mismatch {levels}): "
    label, m1, s1, n1 = v["ranking"][0]
    best = f"`{label}` {m1:.4g} ± {s1:.2g} ({n1} seed{'s' if n1 != 1 else ''})"
    if len(v["ranking"]) == 1:
        return head + f"only {versus_name} {best}; nothing to compare."
    other, m2, s2, _ = v["ranking"][1]
    rel = f" ({abs(v['margin'] / m2):.1%} relative)" if m2 and math.isfinite(m2) else ""
    if v["exceeds"] is None:
        verdict = "one seed only, so the spread over seeds is unknown"
    elif v["exceeds"]:
        verdict = f"this exceeds the spread over seeds (sd {s1:.2g} and {s2:.2g})"
    else:
        verdict = f"this is within the spread over seeds (sd {s1:.2g} and {s2:.2g})"
    return (
        head + f"best {versus_name} {best}, ahead of `{other}` {m2:.4g} ± {s2:.2g} by "
        f"{v['margin']:.3g}{rel}; {verdict}."
    )


def summary_text(rows: list[dict[str, Any]], title: str, plots: list[str]) -> str:
    """``summary.md`` content."""
    counts = defaultdict(int)
    for row in rows:
        counts[row["status"]] += 1
    lines = [
        f"# {title}: summary",
        "",
        f"{len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".",
        "Scores are the main metric per seed, averaged over mismatch levels; ± is the sample "
        "standard deviation over seeds. A difference *exceeds the spread over seeds* when it is "
        "larger than the sum of the two standard deviations.",
        "",
        "## Best learner per task and profile",
        "",
    ]
    learner_verdicts = compare(rows, "profile", "learner")
    lines += [_line(v, "profile", "learner") for v in learner_verdicts] or ["(no results yet)"]
    # learners that run on different hardware (each on its own profile) never share a
    # (task, profile) group above: rank every learner-on-profile pair of a task as well
    pairs = [{**r, "any": "", "pair": f"{r['learner']} on {r['profile']}"} for r in rows]
    across = [v for v in compare(pairs, "any", "pair")
              if len({label.split(" on ")[0] for label, *_ in v["ranking"]}) > 1]  # fmt: skip
    if across:
        lines += ["", "## Best learner per task, each on its hardware", ""]
        lines += [_line(v, None, "learner on profile") for v in across]
    lines += ["", "## Best profile per task and learner", ""]
    profile_verdicts = compare(rows, "learner", "profile")
    lines += [_line(v, "learner", "profile") for v in profile_verdicts] or ["(no results yet)"]
    failed = [r for r in rows if r["status"] != "done"]
    if failed:
        lines += ["", "## Cells without a result", ""]
        lines += [
            f"- `{r['cell_id']}`: {r['status']} {r.get('error') or ''}".rstrip() for r in failed
        ]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def write_summary(
    out: str | Path, rows: list[dict[str, Any]], title: str, plots: list[str]
) -> Path:
    """Write ``summary.md`` into ``out`` and return its path."""
    path = Path(out) / "summary.md"
    write_text(path, summary_text(rows, title, plots))
    return path
