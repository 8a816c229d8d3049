"""Property-based tests: no input makes ``dsnn`` print a traceback or leave a run directory.

Hypothesis generates hardware profiles (the built-in ones with values, units and keys changed,
removed or added) and command lines (``--set`` values, flags, profiles, output paths). Every
outcome must be exit code 0 or 2; on 2, stderr is one line naming the problem; a refused run
leaves no directory. Task runs use ``--dry-run`` (every check, no simulation); an input the
dry run refuses is then also run for real, which must refuse it the same way.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dendritic_snn.cli import main
from dendritic_snn.hardware.profiles import builtin_profile_dir, list_profiles, load_profile
from dendritic_snn.hardware.units import PHYSICAL_RANGE, check_physical
from dendritic_snn.runners.spec import list_task_specs, load_task_spec

FUZZ = settings(
    max_examples=220,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILES = {name: yaml.safe_load((builtin_profile_dir() / f"{name}.yaml").read_text())
            for name in list_profiles()}  # fmt: skip
TASKS = {name: load_task_spec(name) for name in list_task_specs()}
PREFIXES = ["", "a", "f", "p", "n", "u", "m", "k", "M", "G", "q"]
UNITS = ["A", "F", "V", "s", "Hz", "J", "W", "S", "Ohm", "m2", "", "furlong"]

numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e-300, 1e300, 1e999, float("nan"), 0.5, 1.5]),
)
quantities = st.builds(
    lambda x, prefix, unit: f"{x!r} {prefix}{unit}".strip(),
    numbers,
    st.sampled_from(PREFIXES),
    st.sampled_from(UNITS),
)
values = st.one_of(
    quantities,
    numbers,
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    """Every key path of a nested mapping (mappings and leaves)."""
    out = []
    if isinstance(node, dict):
        for key, child in node.items():
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    return out


@st.composite
def mutated_profiles(draw):
    name = draw(st.sampled_from(sorted(PROFILES)))
    raw = copy.deepcopy(PROFILES[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(raw)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["scale", "scale", "value", "unit", "delete", "extra"]))
        if action == "scale" and isinstance(parent[path[-1]], str | float | int):
            text = str(parent[path[-1]])
            number, _, unit = text.partition(" ")
            try:
                scaled = float(number) * draw(st.sampled_from([0.5, 0.9, 1.1, 2.0, 1e3]))
            except ValueError:
                continue
            parent[path[-1]] = f"{scaled!r} {unit}".strip() if unit else scaled
        elif action == "value":
            parent[path[-1]] = draw(values)
        elif action == "unit" and isinstance(parent[path[-1]], str):
            number = parent[path[-1]].split(" ")[0]
            unit = draw(st.sampled_from(PREFIXES)) + draw(st.sampled_from(UNITS))
            parent[path[-1]] = f"{number} {unit}"
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[draw(st.sampled_from(["extra", "Ifoo", "neuron", "sigma"]))] = draw(values)
    return raw


def _one_line_error(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dsnn: error: "), result.stderr
    assert "Traceback" not in result.output


@FUZZ
@given(raw=mutated_profiles())
def test_fuzz_profiles_never_traceback(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chip.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True))
        result = CliRunner().invoke(main, ["profile", "validate", str(path)])
        _one_line_error(result)
        event(f"profile exit {result.exit_code}")
        if result.exit_code == 2:
            assert str(path) in result.stderr
            return
        profile = load_profile(path)  # accepted: every value finite and physical
        for role, params in profile.params.items():
            for key, value in params.items():
                assert math.isfinite(value), (role, key)
        for key, value in profile.energy.items():
            dim = "power" if key.startswith("static") else "energy"
            assert check_physical(value, dim) is None and value >= 0
        assert 0 < profile.dt <= PHYSICAL_RANGE["time"][1]
        shown = CliRunner().invoke(main, ["profile", "show", str(path)])
        assert shown.exit_code == 0, shown.output


def _field_values(task: str, key: str):
    field = TASKS[task].fields[key]
    default = yaml.safe_dump(TASKS[task].config[key], default_flow_style=True)
    interesting = [str(c) for c in field.choices or []] + [default.split("\n")[0]]
    if field.range is not None and None not in field.range:
        interesting.append(repr(sum(field.range) / 2))
    if field.range is not None:
        for end in field.range:
            if end is not None:
                interesting += [repr(end), repr(end * 10 + 1), repr(-end - 1)]
    return st.one_of(
        st.sampled_from(interesting),
        st.sampled_from(interesting),
        numbers.map(str),
        st.sampled_from([".nan", ".inf", "-.inf", "null", "true", "[]", "[1, 2]", "''", "a: 1"]),
        st.text(max_size=10),
    )


@st.composite
def command_lines(draw):
    task = draw(st.sampled_from(sorted(TASKS)))
    spec = TASKS[task]
    args = ["task", task]
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.one_of(st.sampled_from(sorted(spec.config)), st.text(max_size=6)))
        value = draw(_field_values(task, key)) if key in spec.config else draw(st.text())
        args += ["--set", f"{key}={value}"]
    flags = {
        "--seed": st.one_of(st.integers(-(2**40), 2**40).map(str), st.text(max_size=4)),
        "--mismatch": st.one_of(numbers.map(str), st.text(max_size=4)),
        "--epochs": st.one_of(st.integers(-3, 3).map(str), st.text(max_size=4)),
        "--learner": st.one_of(st.sampled_from(spec.learners), st.text(max_size=6)),
        "--profile": st.sampled_from([*PROFILES, "no_chip", "/no/such/chip.yaml", ""]),
        "--dataset": st.sampled_from(["mnist", "mnist5k", "fashion-mnist", "cifar"]),
    }
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=3, unique=True)):
        args += [flag, draw(flags[flag])]
    out = draw(st.sampled_from(["run", "a/b/run", "/proc/forbidden/x", "file/run", "file"]))
    return args, out


@FUZZ
@given(case=command_lines())
def test_fuzz_cli_values_never_traceback(case):
    args, out = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "file").write_text("not a directory")
        out_path = out if out.startswith("/") else str(root / out)
        argv = [*args, "--out", out_path]
        result = CliRunner().invoke(main, [*argv, "--dry-run"])
        _one_line_error(result)
        event(f"command exit {result.exit_code}")
        assert sorted(p.name for p in root.iterdir()) == ["file"]  # dry run writes nothing
        if result.exit_code == 2:  # refused: a real run is refused too, and leaves nothing
            real = CliRunner().invoke(main, [*argv, "--quiet"])
            assert real.exit_code == 2 and real.stderr == result.stderr
            assert sorted(p.name for p in root.iterdir()) == ["file"]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_builtin_profiles_pass_the_same_checks(name):
    result = CliRunner().invoke(main, ["profile", "validate", name])
    assert result.exit_code == 0 and "ok" in result.output
