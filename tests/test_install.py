"""The package imports normally from any directory, including from an editable install."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = (
    "import dendritic_snn, sys; "
    "from dendritic_snn.runners.spec import list_task_specs; "
    "from dendritic_snn.hardware.profiles import list_profiles; "
    "print(dendritic_snn.__file__); print(' '.join(list_task_specs())); "
    "print(' '.join(list_profiles()))"
)


def _check_import(python: str, cwd: Path) -> None:
    out = subprocess.run(
        [python, "-c", CHECK], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    where, tasks, profiles = out.stdout.splitlines()
    assert Path(where).name == "__init__.py"
    assert "pattern_discrimination" in tasks.split() and "fi_curve" in tasks.split()
    assert {"dynapse_se", "cmos45_spiking_ep", "memcap_180nm", "ideal"} <= set(profiles.split())


def test_imports_outside_the_source_tree(tmp_path):
    _check_import(sys.executable, tmp_path)
    cli = subprocess.run(
        [sys.executable, "-m", "dendritic_snn.cli", "tasks"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and "pattern_discrimination" in cli.stdout, cli.stderr


@pytest.mark.slow
def test_fresh_editable_install(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0 and "setuptools" in pip.stderr and "matching" in pip.stderr:
        pytest.skip("build requirements (setuptools) not installable offline")
    assert pip.returncode == 0, pip.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _check_import(str(venv / "bin" / "python"), elsewhere)
    tasks = subprocess.run(
        [str(venv / "bin" / "dsnn"), "tasks"], cwd=elsewhere, capture_output=True, text=True
    )
    assert tasks.returncode == 0 and "pattern_discrimination" in tasks.stdout, tasks.stderr


def test_every_subpackage_is_in_the_wheel():
    """pyproject's explicit package list names every subpackage (a missing one breaks
    non-editable installs only)."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "dendritic_snn").rglob("__init__.py")
    }
    assert found - listed == set()
