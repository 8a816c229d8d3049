"""The package imports normally from any directory, including from an editable install."""

import subprocess
import sys
import sysconfig
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


def _check_import(python: str, cwd: Path, root: Path | None = None) -> None:
    """Import the package with ``python`` from ``cwd`` (from the checkout ``root`` if given)."""
    out = subprocess.run(
        [python, "-c", CHECK], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    where, tasks, profiles = out.stdout.splitlines()
    assert Path(where).name == "__init__.py"
    if root is not None:
        assert Path(where).resolve().parent.parent == root.resolve(), where
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


def _share_dependencies(venv: Path, deps: Path) -> None:
    """Make the running environment's packages, except this one, importable in ``venv``
    (a directory of links named by a ``.pth`` file), so that ``--no-deps`` suffices offline
    whether the dependencies live in a virtual environment or in the base interpreter."""
    deps.mkdir()
    for site in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for entry in Path(site).iterdir():
            skip = entry.name.startswith(("dendritic_snn", "__editable__", "_dendritic_snn"))
            if skip or entry.suffix == ".pth" or (deps / entry.name).exists():
                continue
            (deps / entry.name).symlink_to(entry)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", purelib], capture_output=True, text=True, check=True
    )
    (Path(out.stdout.strip()) / "zz_shared_dependencies.pth").write_text(f"{deps}\n")


@pytest.mark.slow
def test_fresh_editable_install(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _share_dependencies(venv, tmp_path / "deps")
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
    _check_import(str(venv / "bin" / "python"), elsewhere, ROOT)
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
