"""Profile schema: built-ins load, and every kind of broken profile gets one clear line."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dendritic_snn.cli import main
from dendritic_snn.hardware.profiles import (
    ProfileError,
    builtin_profile_dir,
    list_profiles,
    load_profile,
)
from dendritic_snn.hardware.units import UnitError, parse_quantity

BUILTINS = {"dynapse_se", "cmos45_spiking_ep", "memcap_180nm", "ideal"}


def test_builtin_profiles_load():
    assert BUILTINS <= set(list_profiles())
    for name in BUILTINS:
        prof = load_profile(name)
        assert prof.name == name
        assert len(prof.sha256) == 64


def test_profile_values_in_si():
    dyn = load_profile("dynapse_se")
    assert dyn.params["neuron"]["C"] == pytest.approx(1.5e-12)
    assert dyn.params["neuron"]["Itau"] == pytest.approx(8e-12)
    assert dyn.dt == pytest.approx(1e-4)
    assert dyn.sigma("neuron", "Itau") == 0.2
    assert dyn.sigma("neuron", "Ut") == 0.0  # physical constant, never mismatched
    cmos = load_profile("cmos45_spiking_ep")
    assert cmos.params["neuron"]["V_rise"] == pytest.approx(0.6)
    assert cmos.params["rate_filter"]["f_3db"] == pytest.approx(500e3)
    assert cmos.time_unit == "us"
    # the report's 82.65 uW: 73.86 uW learning blocks + the synapse's 8.79 uW per 20 ns event
    learning = cmos.energy["static_power_learning_per_neuron"]
    assert learning + cmos.energy["synaptic_event"] / 20e-9 == pytest.approx(82.65e-6, rel=1e-3)
    assert load_profile("ideal").sigma("neuron", "Itau") == 0.0
    assert load_profile("memcap_180nm").reference_energy_per_inference == pytest.approx(33.88e-9)


def test_hash_tracks_content(tmp_path):
    raw = yaml.safe_load((builtin_profile_dir() / "dynapse_se.yaml").read_text())
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(raw))
    raw["blocks"]["neuron"]["params"]["C"] = "1.6 pF"
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(raw))
    assert load_profile(a).sha256 == load_profile("dynapse_se").sha256
    assert load_profile(b).sha256 != load_profile(a).sha256


@pytest.mark.parametrize(
    ("text", "dimension", "value"),
    [
        ("1.5 pF", "capacitance", 1.5e-12),
        ("82.65 uW", "power", 82.65e-6),
        ("500 kHz", "frequency", 5e5),
        ("20 mV", "voltage", 0.02),
        ("1e-3 s", "time", 1e-3),
        ("0.5 pA", "current", 0.5e-12),
        ("100 nS", "conductance", 1e-7),
    ],
)
def test_parse_quantity(text, dimension, value):
    assert parse_quantity(text, dimension) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "dimension"),
    [
        ("1.5 pV", "capacitance"),
        (1.5, "capacitance"),
        ("1.5", "capacitance"),
        ("abc pF", "capacitance"),
        ("1.5 qF", "capacitance"),
        ("3 pF", "dimensionless"),
    ],
)
def test_parse_quantity_rejects(text, dimension):
    with pytest.raises(UnitError):
        parse_quantity(text, dimension)


def _write_broken(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((builtin_profile_dir() / "dynapse_se.yaml").read_text())
    mutate(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _set(path, value):
    if path == ("blocks", "syn"):

        def rename(raw):
            raw["blocks"]["syn"] = raw["blocks"].pop("synapse")

        return rename

    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return mutate


_DELETE = object()
NEURON = ("blocks", "neuron", "params")

BROKEN = {
    "unknown top-level key": (_set(("colour",), "blue"), "colour: unknown key"),
    "unknown block parameter": (_set((*NEURON, "Ifoo"), "1 pA"), "Ifoo: unknown key"),
    "missing field": (_set(("energy", "spike"), _DELETE), "energy.spike: missing field"),
    "missing block parameter": (_set((*NEURON, "C"), _DELETE), "params.C: missing field"),
    "wrong unit": (_set((*NEURON, "C"), "1.5 pA"), "params.C: wrong unit"),
    "missing unit": (_set((*NEURON, "C"), 1.5), "params.C: missing unit"),
    "negative capacitance": (_set((*NEURON, "C"), "-1.5 pF"), "params.C: '-1.5 pF' must be > 0"),
    "sigma too large": (_set(("mismatch", "sigma"), 1.2), "mismatch.sigma: "),
    "sigma negative": (_set(("mismatch", "sigma"), -0.1), "mismatch.sigma: "),
    "unknown block model": (_set(("blocks", "neuron", "model"), "hh"), "unknown block model"),
    "huge capacitance": (
        _set((*NEURON, "C"), "1e300 pF"),
        "params.C: '1e300 pF' exceeds 1 uF, the physical bound for capacitance",
    ),
    "huge current": (_set((*NEURON, "Itau"), "1e300 nA"), "exceeds 1 mA"),
    "huge time constant": (
        _set((*NEURON, "t_ref"), "1e300 ms"),
        "params.t_ref: '1e300 ms' exceeds",
    ),
    "vanishing capacitance": (_set((*NEURON, "C"), "1e-300 pF"), "is below 1 aF"),
    "overflowing number": (_set((*NEURON, "C"), "1e999 pF"), "is not a finite number"),
    "NaN dimensionless": (_set((*NEURON, "kn"), float("nan")), "params.kn: nan is not a finite"),
    "NaN sigma": (
        _set(("mismatch", "sigma"), float("nan")),
        "mismatch.sigma: Input should be a finite",
    ),
    "infinite truncation": (_set(("mismatch", "truncate_sigmas"), float("inf")), "truncate_sigmas"),
    "negative energy": (_set(("energy", "spike"), "-1 pJ"), "energy.spike: must be >= 0"),
    "energy below Landauer": (
        _set(("energy", "spike"), "1e-9 aJ"),
        "energy.spike: '1e-9 aJ' is below",
    ),
    "huge power": (_set(("energy", "static_power_per_neuron"), "1e300 W"), "exceeds 10 W"),
    "coarse dt": (_set(("time_scale", "dt"), "1 s"), "time_scale.dt: '1 s' is above 1 ms"),
    "zero dt": (_set(("time_scale", "dt"), "0 ms"), "time_scale.dt: must be > 0"),
    "renamed role": (_set(("blocks", "syn"), _DELETE), "blocks.syn"),
    "missing synapse block": (
        _set(("blocks", "synapse"), _DELETE),
        "blocks.synapse: missing field",
    ),
    "synapse of another chip": (
        _set(("blocks", "synapse", "model"), "memcapacitor"),
        "blocks.synapse.model: 'memcapacitor' cannot go with a dpi_neuron neuron",
    ),
    "synapse model as neuron": (
        _set(("blocks", "neuron", "model"), "dpi_synapse"),
        "'dpi_synapse' is not a neuron model",
    ),
    "unknown mismatch key": (
        _set(("mismatch", "per_parameter"), {"neuron.Ifoo": 0.1}),
        "no such block parameter",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_profile_one_line_exit_2(tmp_path, case):
    mutate, expected = BROKEN[case]
    path = _write_broken(tmp_path, mutate)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message
    result = CliRunner().invoke(main, ["profile", "validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nblocks: [unclosed\n")
    result = CliRunner().invoke(main, ["profile", "validate", str(path)])
    assert result.exit_code == 2
    assert "malformed YAML" in result.output and str(path) in result.output


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    result = CliRunner().invoke(main, ["profile", "validate", str(path)])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_unknown_profile_name():
    result = CliRunner().invoke(main, ["profile", "show", "no_such_chip"])
    assert result.exit_code == 2
    assert "no such profile" in result.output


def test_cli_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(main, ["profile", "list"])
    assert listed.exit_code == 0
    for name in BUILTINS:
        assert name in listed.output
    shown = runner.invoke(main, ["profile", "show", "cmos45_spiking_ep"])
    assert shown.exit_code == 0
    assert "600 mV" in shown.output and "73.86 uW" in shown.output
    valid = runner.invoke(
        main, ["profile", "validate", str(builtin_profile_dir() / "dynapse_se.yaml")]
    )
    assert valid.exit_code == 0 and "ok" in valid.output
