"""Run directories: ``result.json``, arrays (``.npz``) and plots, written atomically.

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
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RESULT_FILE = "result.json"
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


def _atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
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


def read_yaml(path: Path, error: type[Exception] = ValueError) -> object:
    """Parse a YAML file; a malformed or unreadable file raises ``error`` with one line
    ``<path>: line N: malformed YAML: <problem>``."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text())
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
