"""The task contract: run directory, result.json keys, overrides and bad-input handling."""

import json
import os
import re

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from dendritic_snn import list_tasks, run_task
from dendritic_snn.cli import main
from dendritic_snn.errors import DsnnError
from dendritic_snn.hardware.profiles import load_profile
from dendritic_snn.results import REQUIRED_KEYS, read_result
from dendritic_snn.runners.spec import load_task_spec

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
        (["task", "fi_curve", "--mismatch", "1.5"], "not in the range 0.0<=x<1.0"),
        (["task", "fi_curve", "--mismatch", "nan"], "must be in [0, 1)"),
        (["task", "fi_curve", "--seed", "-1"], "'--seed': -1 is not in the range"),
        (["task", "fi_curve", "--epochs", "0"], "'--epochs': 0 is not in the range"),
        (["task", "fi_curve", "--no-such-flag"], "No such option"),
        (["task", "fi_curve", "--set", "n_currents=0"], "n_currents is int in [2, 1000]"),
        (["task", "fi_curve", "--set", "duration=-5"], "out of range; duration is float in (0,"),
        (["task", "fi_curve", "--set", "duration=.nan"], "not a finite number"),
        (
            ["task", "pattern_discrimination", "--set", "patterns=0"],
            "--set patterns=0: out of range; patterns is int in [2, 32]",
        ),
        (["task", "pattern_discrimination", "--set", "patterns=1000"], "patterns=1000"),
        (["task", "pattern_discrimination", "--set", "deletion=1.5"], "float in [0, 1]"),
        (["task", "pattern_discrimination", "--set", "backend=gpu"], "one of standalone"),
        (["task", "pattern_discrimination", "--set", "teach_nontarget=1"], "expected bool"),
        (["task", "mnist", "--set", "hidden=[0]"], "out of range at item 0"),
        (["task", "mnist", "--set", "hidden=[]"], "wrong number of items"),
        (["task", "mnist", "--set", "dendritic_pool=3"], "one of 1 | 2 | 4 | 7 | 14 | 28"),
        (["task", "mnist", "--data-dir", "/no/such/dir"], "does not exist"),
        (
            ["task", "pattern_recognition", "--set", "E_lo_nA=20", "--set", "E_hi_nA=10"],
            "--set E_lo_nA=20.0: must be below E_hi_nA (= 10.0)",
        ),
        (["task", "fi_curve", "--profile", "nope"], "no such profile"),
        (["task", "pattern_discrimination", "--preset", "papr"], "presets: default, paper"),
        (["task", "fi_curve", "--preset", "paper"], "task 'fi_curve' has no presets"),
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
    assert not (tmp_path / "r").exists()
    assert not list(tmp_path.iterdir())


@pytest.fixture
def prepare_calls(monkeypatch):
    """The configs the dendritic learner's ``prepare`` is called with (it does nothing)."""
    from dendritic_snn.learners.dendritic import DendriticLearner

    calls = []
    monkeypatch.setattr(DendriticLearner, "prepare", classmethod(lambda cls, c: calls.append(c)))
    return calls


@pytest.mark.parametrize(
    "kwargs",
    [{"profile": "nope"}, {"seed": -1}, {"mismatch": 1.5}, {"overrides": {"lr_p_r": "x"}}],
)
def test_bad_input_is_refused_before_the_learner_prepares(tmp_path, prepare_calls, kwargs):
    with pytest.raises(DsnnError):
        run_task("pattern_discrimination", out=tmp_path / "r", **kwargs)
    assert prepare_calls == []


def test_learner_prepares_only_on_tasks_whose_config_is_its_own(prepare_calls):
    from dendritic_snn.runners.api import _prepare

    for task in ("pattern_discrimination", "pattern_recognition", "mnist"):
        spec = load_task_spec(task)
        _prepare("dendritic", spec, spec.config)
    # the home task and the task that runs the dendritic learner alone, not mnist (whose
    # config is rate_ep's and the other learners')
    assert prepare_calls == [
        load_task_spec(t).config for t in ("pattern_discrimination", "pattern_recognition")
    ]


def test_unwritable_out_is_refused(tmp_path):
    result = CliRunner().invoke(
        main, ["task", "fi_curve", "--out", "/proc/forbidden/x", "--set", "instances=2"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "dsnn: error: --out /proc/forbidden/x: cannot create (No such file or directory)"
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["task", "fi_curve", "--out", str(blocker / "run")])
    assert result.exit_code == 2 and "cannot create (Not a directory)" in result.output


def test_every_field_has_type_unit_and_range():
    for name in list_tasks():
        spec = load_task_spec(name)
        assert set(spec.fields) == set(spec.config), name
        for key, field in spec.fields.items():
            if field.type in ("int", "float") and not field.choices:
                assert field.range is not None, f"{name}.{key} has no range"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": {}}, "(top level): schema: no entry for config field(s) current_max_A,"),
        ({"schema_extra": "ghost"}, "entry for unknown config field(s) ghost"),
        ({"config_value": ("instances", 0)}, "default instances=0: out of range"),
    ],
)
def test_broken_spec_schema_is_refused(tmp_path, monkeypatch, change, message):
    from dendritic_snn.runners import spec as spec_module

    raw = yaml.safe_load((spec_module.builtin_task_dir() / "fi_curve.yaml").read_text())
    if "schema" in change:
        raw["schema"] = change["schema"]
    if "schema_extra" in change:
        raw["schema"][change["schema_extra"]] = {"type": "int"}
    if "config_value" in change:
        key, value = change["config_value"]
        raw["config"][key] = value
    (tmp_path / "fi_curve.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(spec_module, "builtin_task_dir", lambda: tmp_path)
    with pytest.raises(DsnnError, match=re.escape(message)):
        load_task_spec("fi_curve")


def test_show_config_and_task_list():
    runner = CliRunner()
    shown = runner.invoke(main, ["task", "fi_curve", "--show-config"])
    assert shown.exit_code == 0 and "n_currents" in shown.output
    assert "float in (0, 0.001] A, or null" in shown.output  # type, range and unit
    assert "mismatched neurons per current" in shown.output  # the field's meaning
    shown = runner.invoke(main, ["task", "pattern_discrimination", "--show-config"])
    assert "constraints: E_lo_nA < E_hi_nA" in shown.output
    row = next(line for line in shown.output.splitlines() if line.startswith("phi_th_nA "))
    assert row.split()[:6] == ["phi_th_nA", "4.0", "float", "in", "[0,", "1000]"]
    assert " nA " in row
    assert "fi_curve" in list_tasks()
    listed = runner.invoke(main, ["tasks"])
    assert listed.exit_code == 0 and "fi_curve" in listed.output
    learners = runner.invoke(main, ["learners"]).output.splitlines()
    row = next(line for line in learners if line.startswith("dendritic "))
    # input kind, default profile, then the tasks that run it, its home task first
    assert row.split()[1:4] == ["spikes", "dynapse_se", "pattern_discrimination,"], row
    assert "mnist" in row and "stdp_window" not in row


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


def test_failed_run_leaves_no_directory(tmp_path, monkeypatch):
    import dendritic_snn.runners.fi_curve as runner

    def boom(ctx):
        (ctx.out / "half.png").write_text("partial")
        raise DsnnError("simulated failure")

    monkeypatch.setattr(runner, "run", boom)
    with pytest.raises(DsnnError, match="simulated failure"):
        run_task("fi_curve", out=tmp_path / "a" / "b" / "run", overrides=SMALL, progress=False)
    assert not list(tmp_path.iterdir())  # neither the run nor the parents made for it


def test_failed_run_with_checkpoint_is_kept_for_resume(tmp_path, monkeypatch):
    import dendritic_snn.runners.fi_curve as runner

    def interrupted(ctx):
        (ctx.out / "checkpoint.npz").write_bytes(b"epoch 3")
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_task("fi_curve", out=tmp_path / "run", overrides=SMALL, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["checkpoint.npz"]


def test_preset_sets_its_fields_and_set_wins(tmp_path):
    spec = load_task_spec("pattern_discrimination")
    paper = spec.presets["paper"]
    args = ["task", "pattern_discrimination", "--dry-run", "--out", str(tmp_path / "r")]
    shown = CliRunner().invoke(main, [*args, "--preset", "paper", "--set", "w_pr_sum=2"])
    assert shown.exit_code == 0, shown.output
    config = yaml.safe_load(shown.output.split("dry run:")[0])["config"]
    assert config["preset"] == "paper"
    assert config["w_pr_sum"] == 2  # --set wins over the preset
    assert all(config[k] == v for k, v in paper.items() if k != "w_pr_sum")
    default = CliRunner().invoke(main, args)
    config = yaml.safe_load(default.output.split("dry run:")[0])["config"]
    assert config["n_pyramidal"] == spec.config["n_pyramidal"] != paper["n_pyramidal"]


def test_broken_preset_is_refused(tmp_path, monkeypatch):
    from dendritic_snn.runners import spec as spec_module

    raw = yaml.safe_load(
        (spec_module.builtin_task_dir() / "pattern_discrimination.yaml").read_text()
    )
    raw["presets"]["paper"]["n_pyramidal"] = 0
    (tmp_path / "pattern_discrimination.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(spec_module, "builtin_task_dir", lambda: tmp_path)
    with pytest.raises(DsnnError, match="preset paper n_pyramidal=0: out of range"):
        load_task_spec("pattern_discrimination")


def test_dry_run_writes_nothing(tmp_path):
    result = CliRunner().invoke(
        main, ["task", "fi_curve", "--dry-run", "--out", str(tmp_path / "x" / "run")]
    )
    assert result.exit_code == 0, result.output
    assert "n_currents: 8" in result.output and "nothing was run" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_run_files_readable_like_normal_files(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        run_task("fi_curve", out=tmp_path / "run", overrides=SMALL, progress=False)
    finally:
        os.umask(old)
    files = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert set(files) == {"result.json", "arrays.npz", "fi_curve.png"}
    assert set(files.values()) == {mode}, files
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o777 & ~umask


def test_unusable_paths_of_other_commands_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["study", "smoke", "--out", "/proc/forbidden/x", "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "dsnn: error: /proc/forbidden: No such file or directory"


def test_run_directory_parent_made_by_a_concurrent_run_is_shared(tmp_path, monkeypatch):
    """Two runs into sibling directories of a new parent: the second mkdir of the parent
    finds it made by the first (the race) and still stages its run there."""
    from dendritic_snn import results

    parent = tmp_path / "new"
    real = results._missing_parents
    monkeypatch.setattr(results, "_missing_parents", lambda path: real(path) or [parent])
    parent.mkdir()  # made by the other run between the check and our mkdir
    stage, made = results._stage(parent / "run-b")
    assert stage.parent == parent and stage.is_dir() and made == []
