"""The task contract: run directory, result.json keys, overrides and bad-input handling."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dendritic_snn import list_tasks, run_task
from dendritic_snn.cli import main
from dendritic_snn.errors import DsnnError
from dendritic_snn.hardware.profiles import load_profile
from dendritic_snn.results import REQUIRED_KEYS, read_result

SMALL = {"n_currents": 3, "instances": 3, "duration": 200}


def test_fi_curve_run_directory(tmp_path):
    result = run_task("fi_curve", seed=1, out=tmp_path / "run", overrides=SMALL, progress=False)
    run = tmp_path / "run"
    stored = read_result(run)
    assert stored is not None
    assert set(REQUIRED_KEYS) <= set(stored)
    assert stored["profile"] == {"name": "dynapse_se", "sha256": load_profile("dynapse_se").sha256}
    assert stored["seed"] == 1 and stored["mismatch"] == 0.2
    assert stored["config"]["n_currents"] == 3
    assert stored["versions"]["brian2"].startswith("2.")
    arrays = np.load(run / "arrays.npz")
    assert arrays["rates_Hz"].shape == (3, 3)
    assert (run / "fi_curve.png").stat().st_size > 1000
    rates = np.asarray(stored["metrics"]["rate_mean_Hz"])
    assert rates[0] == 0 and rates[-1] > 300  # 1 nA silent, 50 nA fires (teili: 440 Hz)
    assert stored["energy"]["breakdown"]["run"]["joules"]["spikes"] > 0
    assert result["run_dir"] == str(run)


def test_same_seed_same_result(tmp_path):
    a = run_task("fi_curve", seed=4, out=tmp_path / "a", overrides=SMALL, progress=False)
    b = run_task("fi_curve", seed=4, out=tmp_path / "b", overrides=SMALL, progress=False)
    c = run_task("fi_curve", seed=5, out=tmp_path / "c", overrides=SMALL, progress=False)
    assert a["metrics"]["rate_mean_Hz"] == b["metrics"]["rate_mean_Hz"]
    assert a["metrics"]["rate_mean_Hz"] != c["metrics"]["rate_mean_Hz"]


def test_profile_swap_cmos45(tmp_path):
    result = run_task(
        "fi_curve",
        profile="cmos45_spiking_ep",
        out=tmp_path,
        progress=False,
        overrides={"n_currents": 4, "instances": 2, "duration": 100},
    )
    rates = result["metrics"]["rate_mean_Hz"]
    assert result["metrics"]["monotone"] and rates[-1] > 1e6  # microsecond time scale: MHz


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task", "no_such_task"], "unknown task"),
        (["task", "fi_curve", "--set", "nonsense=1"], "has no field 'nonsense'"),
        (["task", "fi_curve", "--set", "instances=many"], "expected int"),
        (["task", "fi_curve", "--set", "instances"], "expected key=value"),
        (["task", "fi_curve", "--mismatch", "1.5"], "must be in [0, 1)"),
        (["task", "fi_curve", "--profile", "nope"], "no such profile"),
        (["task", "fi_curve", "--learner", "backprop"], "runs with"),
        (["task", "fi_curve", "--profile", "memcap_180nm"], "supported: dpi_neuron"),
    ],
)
def test_bad_task_input_one_line(tmp_path, args, message):
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_show_config_and_task_list():
    runner = CliRunner()
    shown = runner.invoke(main, ["task", "fi_curve", "--show-config"])
    assert shown.exit_code == 0 and "n_currents" in shown.output
    assert "fi_curve" in list_tasks()
    listed = runner.invoke(main, ["tasks"])
    assert listed.exit_code == 0 and "fi_curve" in listed.output


def test_result_json_is_written_atomically(tmp_path, monkeypatch):
    run_task("fi_curve", out=tmp_path, overrides=SMALL, progress=False)
    before = (tmp_path / "result.json").read_text()
    import dendritic_snn.runners.fi_curve as runner

    def boom(ctx):
        raise DsnnError("simulated failure")

    monkeypatch.setattr(runner, "run", boom)
    with pytest.raises(DsnnError):
        run_task("fi_curve", out=tmp_path, overrides=SMALL, progress=False)
    assert (tmp_path / "result.json").read_text() == before
    assert json.loads(before)["task"] == "fi_curve"
    assert not list(tmp_path.glob(".*.tmp"))
