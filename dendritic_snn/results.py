"""Run directories: ``result.json``, arrays (``.npz``) and plots, written atomically.

A run writes into a hidden staging directory beside its final path and the staging directory
is renamed to the final path only when the run succeeded (:func:`run_directory`), so a refused
or failed run leaves nothing behind and a run directory that exists is complete. Every file
gets the permissions of a normally created file (``0666`` minus the umask, usually ``0644``).

The keys of ``result.json`` are a stable contract (studies and users' scripts read them):
``task``, ``learner``, ``profile`` {``name``, ``sha256``}, ``seed``, ``mismatch``, ``config``,
``metrics``, ``energy`` {``per_inference_J``, ``per_training_example_J``, ``breakdown``},
``timing`` {``wall_s``, ``build_s``, ``examples_per_s``}, ``versions``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DsnnError

RESULT_FILE = "result.json"
#: Files that keep a failed run's directory: a checkpoint from which ``--resume`` continues.
KEEP_ON_FAILURE = ("checkpoint.npz",)
REQUIRED_KEYS = (
    "task",
    "learner",
    "profile",
    "seed",
    "mismatch",
    "config",
    "metrics",
    "energy",
    "timing",
    "versions",
)


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for package in ("dendritic_snn", "brian2", "numpy", "scipy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def file_mode() -> int:
    """Permissions of a normally created file: ``0o666`` minus the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8), atomically."""
    _atomic_write(Path(path), lambda handle: handle.write(text.encode()))


def write_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Save arrays to a compressed ``.npz``, atomically."""
    _atomic_write(Path(path), lambda handle: np.savez_compressed(handle, **arrays))


def parse_yaml(text: str) -> object:
    """``yaml.safe_load`` with LibYAML's C parser when PyYAML has it (same result, several
    times faster), else the pure-Python one."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_yaml(path: Path, error: type[Exception] = ValueError) -> object:
    """Parse a YAML file; a malformed or unreadable file raises ``error`` with one line
    ``<path>: line N: malformed YAML: <problem>``."""
    import yaml

    try:
        return parse_yaml(Path(path).read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise error(f"{path}: {where}: malformed YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: (file): cannot read: {err}") from None


def read_result(run_dir: Path) -> dict | None:
    """The run's result.json, or None if it is absent or incomplete."""
    path = Path(run_dir) / RESULT_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if all(key in data for key in REQUIRED_KEYS) else None


def default_run_dir(task: str, root: Path | str = "runs") -> Path:
    """``runs/<task>-<UTC timestamp>`` (a fresh directory name)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{task}-{stamp}"
    path, k = base, 1
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    return path


def _missing_parents(path: Path) -> list[Path]:
    """Ancestors of ``path`` that do not exist yet, outermost first."""
    missing = []
    for parent in Path(path).absolute().parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing[::-1]


def _stage(run_dir: Path) -> tuple[Path, list[Path]]:
    """Make the directory a run writes into: ``run_dir`` itself if it exists (after checking
    that it is writable), else a fresh hidden staging directory beside it. Also returns the
    parent directories made for it."""
    if run_dir.exists() and not run_dir.is_dir():
        raise DsnnError(f"--out {run_dir}: exists and is not a directory")
    if run_dir.is_dir():
        try:
            tempfile.TemporaryFile(dir=run_dir).close()
        except OSError as err:
            raise DsnnError(f"--out {run_dir}: cannot write there ({err.strerror})") from None
        return run_dir, []
    made: list[Path] = []
    stage = run_dir.parent / f".{run_dir.name}.partial-{secrets.token_hex(4)}"
    try:
        for parent in _missing_parents(run_dir):
            try:
                parent.mkdir()
                made.append(parent)
            except FileExistsError:  # made meanwhile by a concurrent run: share it
                if not parent.is_dir():
                    raise
        stage.mkdir()
    except OSError as err:
        _remove_empty(made)
        raise DsnnError(f"--out {run_dir}: cannot create ({err.strerror})") from None
    return stage, made


def _remove_empty(dirs: list[Path]) -> None:
    for path in reversed(dirs):
        try:
            path.rmdir()
        except OSError:
            break


def check_writable(run_dir: Path) -> None:
    """Refuse a run directory that cannot be created or written, and leave nothing behind.

    Raises
    ------
    DsnnError
        ``--out PATH: reason`` in one line.
    """
    run_dir = Path(run_dir)
    work, made = _stage(run_dir)
    if work != run_dir:
        work.rmdir()
        _remove_empty(made)


@contextmanager
def run_directory(run_dir: Path) -> Iterator[Path]:
    """The directory a run writes into; ``run_dir`` exists afterwards only if the run succeeded.

    A new run writes into a hidden staging directory ``.<name>.partial-<token>`` beside
    ``run_dir`` that is renamed to ``run_dir`` when the block ends without an exception. On an
    exception the staging directory and any parent directories made for it are removed, unless
    the run left a checkpoint (:data:`KEEP_ON_FAILURE`): then it becomes ``run_dir`` so that
    ``--resume`` can continue it. An existing ``run_dir`` (resuming, or a directory the user
    made) is written in place and never removed.

    Raises
    ------
    DsnnError
        If the directory cannot be created (``--out PATH: reason``).
    """
    run_dir = Path(run_dir)
    work, made = _stage(run_dir)
    if work == run_dir:
        yield run_dir
        return
    try:
        yield work
    except BaseException:
        if any((work / name).exists() for name in KEEP_ON_FAILURE) and not run_dir.exists():
            os.rename(work, run_dir)
        else:
            shutil.rmtree(work, ignore_errors=True)
            _remove_empty(made)
        raise
    try:
        os.rename(work, run_dir)
    except OSError as err:
        shutil.rmtree(work, ignore_errors=True)
        _remove_empty(made)
        raise DsnnError(f"--out {run_dir}: cannot create ({err.strerror})") from None
