"""Comparative studies on Dask: spec validation, grid ids, the embedded LocalCluster, resuming,
failed cells and --retry-failed, and an external `dask scheduler` whose worker is killed."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from dendritic_snn.errors import DsnnError
from dendritic_snn.study import build_grid, load_table, run_study
from dendritic_snn.study.cli_study import study
from dendritic_snn.study.engine import open_client
from dendritic_snn.study.spec import apply_study_overrides, list_studies, load_study
from dendritic_snn.study.worker import THREAD_ENV

SMALL = {"n_currents": 3, "instances": 3, "duration": 50}
BAD_CURRENTS = {**SMALL, "current_min_A": 5.0e-8, "current_max_A": 1.0e-8}  # runner raises


def _spec(**extra) -> dict:
    spec = {
        "name": "t",
        "seeds": [0, 1],
        "mismatch": [0.1, 0.3],
        "grid": [
            {"task": "fi_curve", "profiles": ["cmos45_spiking_ep", "dynapse_se"], "set": SMALL},
            {
                "task": "fi_curve",
                "profiles": ["cmos45_spiking_ep"],
                "mismatch": [0.2],
                "seeds": [0],
                "set": BAD_CURRENTS,
            },
        ],
    }
    spec.update(extra)
    return spec


def _write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _mtimes(out: Path, name: str = "result.json") -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "cells").glob(f"*/{name}")}


def _csv(out: Path) -> list[dict]:
    with open(out / "study.csv") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- spec and grid
BAD_SPECS = [
    ({"name": "x", "grid": [{"task": "fi_curve", "colour": 1}]}, "grid.0.colour: unknown key"),
    ({"name": "x"}, "grid: missing field"),
    ({"name": "x", "seeds": "a", "grid": [{"task": "fi_curve"}]}, "seeds:"),
    ({"name": "x", "seeds": [-1], "grid": [{"task": "fi_curve"}]}, "seeds.0: Input should be"),
    ({"name": "x", "mismatch": [1.5], "grid": [{"task": "fi_curve"}]}, "mismatch: mismatch 1.5"),
    ({"name": "x", "grid": [{"task": "nope"}]}, "grid.0: unknown task 'nope'"),
    ({"name": "x", "grid": [{"task": "fi_curve", "learners": ["zz"]}]}, "grid.0.learners: 'zz'"),
    ({"name": "x", "grid": [{"task": "fi_curve", "profiles": ["zz"]}]}, "grid.0.profiles: zz"),
    ({"name": "x", "grid": [{"task": "fi_curve", "set": {"n_currents": "a"}}]}, "grid.0: --set"),
    ({"name": "x", "grid": [{"task": "fi_curve", "set": {"zz": 1}}]}, "has no field 'zz'"),
    ("name: [unclosed", "malformed YAML"),
]


@pytest.mark.parametrize("content, expected", BAD_SPECS)
def test_bad_spec_one_line_exit_2(tmp_path, content, expected):
    path = _write(tmp_path / "bad.yaml", content)
    result = CliRunner().invoke(study, [str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsnn: error: ")
    assert str(path) in lines[0] and expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_bad_names_and_overrides_exit_2(tmp_path):
    runner = CliRunner()
    for args in (["no_such_study"], ["smoke", "--set", "zz=1"], ["smoke", "--set", "nokey"]):
        result = runner.invoke(study, [*args, "--out", str(tmp_path / "o"), "--list"])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, args


def test_registered_in_dsnn_main():
    from dendritic_snn.cli import main

    if "study" not in main.commands:
        pytest.skip("dsnn study is not registered in cli.py yet")
    result = CliRunner().invoke(main, ["study", "no_such_study"])
    assert result.exit_code == 2 and "no such study" in result.output


def test_grid_expansion_and_stable_ids():
    assert "smoke" in list_studies()
    cells = build_grid(_spec())
    assert len(cells) == 2 * 2 * 2 + 1
    assert [c.id for c in cells] == [c.id for c in build_grid(_spec())]  # stable
    assert len({c.id for c in cells}) == len(cells)
    first = cells[0]
    assert first.id.startswith("fi_curve-none-cmos45_spiking_ep-mm0.1-s0-")
    assert first.profile_raw["name"] == "cmos45_spiking_ep" and first.metric == "rate_rel_spread"
    assert first.overrides == {"n_currents": 3, "instances": 3, "duration": 50}
    # a changed override changes the ids of that block only
    other = _spec()
    other["grid"][0]["set"] = {**SMALL, "instances": 4}
    changed = build_grid(other)
    assert changed[0].id != first.id and changed[-1].id == cells[-1].id
    # study-level --set: axes for every block, task fields where declared
    spec = apply_study_overrides(load_study(_spec()), {"seeds": [0, 1, 2], "instances": 5})
    more = build_grid(spec)
    assert len(more) == 2 * 2 * 3 + 3
    assert all(c.overrides["instances"] == 5 for c in more)
    with pytest.raises(DsnnError, match="no task of this study has a field 'zz'"):
        build_grid(_spec(), {"zz": 1})
    smoke = build_grid("smoke")
    assert len(smoke) == 14
    # both learners on both task families, each on its own profile by default
    learned = {(c.task, c.learner): c.profile for c in smoke if c.task in ("mnist",
               "pattern_discrimination")}  # fmt: skip
    assert learned == {
        ("pattern_discrimination", "dendritic"): "dynapse_se",
        ("pattern_discrimination", "eqspike"): "cmos45_spiking_ep",
        ("mnist", "dendritic"): "dynapse_se",
        ("mnist", "eqspike"): "cmos45_spiking_ep",
    }


@pytest.mark.parametrize("name", list_studies())
def test_builtin_studies_are_valid(name):
    cells = build_grid(name)
    assert cells and len({c.id for c in cells}) == len(cells)


def test_profile_path_is_shipped_as_content(tmp_path):
    from dendritic_snn.hardware.profiles import builtin_profile_dir

    raw = yaml.safe_load((builtin_profile_dir() / "cmos45_spiking_ep.yaml").read_text())
    raw["name"] = "custom45"
    (tmp_path / "specs").mkdir()
    _write(tmp_path / "specs" / "custom.yaml", raw)
    spec = {"name": "p", "grid": [{"task": "fi_curve", "profiles": ["custom.yaml"]}]}
    (cell,) = build_grid(_write(tmp_path / "specs" / "p.yaml", spec))
    assert cell.profile == "custom.yaml" and "-custom-mmP-s0-" in cell.id
    assert cell.profile_raw == raw  # the worker gets the content, not the path


# ---------------------------------------------------------------- embedded LocalCluster
def test_study_on_local_cluster_resume_and_retry(tmp_path):
    spec_path = _write(tmp_path / "t.yaml", _spec())
    out = tmp_path / "study"
    runner = CliRunner()
    result = runner.invoke(study, [str(spec_path), "--out", str(out), "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "8 done, 0 skipped (already done), 1 failed of 9 cells" in result.output
    for name in ("study.csv", "study.md", "metric_vs_mismatch.png", "summary.md", "cells.json"):
        assert (out / name).is_file(), name
    rows = _csv(out)
    assert len(rows) == 9 and len({r["cell_id"] for r in rows}) == 9
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and "current_min_A < current_max_A" in failed[0]["error"]
    error_file = out / "cells" / failed[0]["cell_id"] / "error.txt"
    assert len(error_file.read_text().strip().splitlines()) == 1
    done = [r for r in rows if r["status"] == "done"]
    for r in done:  # each row holds the metric its cell recorded (a rate list: its mean)
        recorded = json.loads((out / "cells" / r["cell_id"] / "result.json").read_text())
        assert float(r["value"]) == pytest.approx(np.mean(recorded["metrics"][r["metric"]]))
        assert float(r["wall_s"]) > 0
    assert len({r["value"] for r in done}) > 1  # seeds and chips differ
    assert {r["profile"] for r in done} == {"cmos45_spiking_ep", "dynapse_se"}  # Brian2 too
    assert "± " in (out / "study.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "Best learner per task and profile" in summary and "spread over seeds" in summary
    assert "error.txt" in (out / "study.md").read_text()

    # second run: nothing re-runs, results untouched, the failed cell stays failed
    before, error_before = _mtimes(out), _mtimes(out, "error.txt")
    assert len(before) == 8
    result = runner.invoke(study, [str(spec_path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "0 done, 8 skipped (already done), 0 failed, 1 failed earlier" in result.output
    assert _mtimes(out) == before and _mtimes(out, "error.txt") == error_before

    # --retry-failed re-runs only the failed cell, here through the API on a given client
    lines: list[str] = []
    with open_client(workers=1) as client:
        report = run_study(
            spec_path, out, client=client, retry_failed=True, progress=False, echo=lines.append
        )
        envs = client.run(lambda: {k: os.environ.get(k) for k in THREAD_ENV})
    assert report.counts == {"done": 0, "skipped": 8, "failed": 1, "failed_before": 0, "total": 9}
    assert _mtimes(out) == before
    assert _mtimes(out, "error.txt")[failed[0]["cell_id"]] > error_before[failed[0]["cell_id"]]
    assert all(env == THREAD_ENV for env in envs.values())
    assert lines and lines[0].startswith("dask: 1 workers")

    table = load_table(out)
    assert len(table) == 9 and table[0]["cell_id"] == rows[0]["cell_id"]
    pytest.importorskip("pandas")
    assert load_table(out, frame=True).shape[0] == 9


# ---------------------------------------------------------------- external dask scheduler
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"dask scheduler did not listen on port {port}")


@pytest.fixture
def dask_cluster(tmp_path):
    """A `dask scheduler` and two single-threaded `dask worker` processes on 127.0.0.1, at a
    random free port, run from a directory of their own; stopped by process id at the end."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    elsewhere = tmp_path / "workers_cwd"
    elsewhere.mkdir()
    env = {**os.environ, **THREAD_ENV}
    dask = [sys.executable, "-m", "dask"]
    procs: list[subprocess.Popen] = []
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    try:
        procs.append(
            subprocess.Popen(
                [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                cwd=elsewhere,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        _wait_port(port, 60)
        for k in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        *dask,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"w{k}",
                    ],
                    cwd=elsewhere,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address, procs[1:]
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.mark.slow
def test_smoke_on_external_scheduler_survives_a_killed_worker(tmp_path, dask_cluster):
    address, workers = dask_cluster
    out = tmp_path / "smoke"
    client_cwd = tmp_path / "client_cwd"
    client_cwd.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "dendritic_snn.study.cli_study",
        "smoke",
        "--out",
        str(out),
        "--scheduler",
        address,
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, cwd=client_cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list((out / "cells").glob("*/result.json")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.05)
        assert proc.poll() is None  # mid-study
        os.kill(workers[0].pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=600)  # cold Brian2 builds on one worker
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, output
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert "0 skipped (already done), 0 failed of 14 cells" in output, output
    ids = [cell.id for cell in build_grid("smoke")]
    rows = _csv(out)
    assert sorted(r["cell_id"] for r in rows) == sorted(ids)  # every cell exactly once
    assert all(r["status"] == "done" for r in rows)
    assert sorted(_mtimes(out)) == sorted(ids)

    # a second run re-runs no cell and leaves every result.json untouched
    before = _mtimes(out)
    again = subprocess.run(cmd, cwd=client_cwd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 done, 14 skipped (already done), 0 failed of 14 cells" in again.stdout
    assert _mtimes(out) == before
