"""Where the built-in data directories (``hw_profiles/``, ``tasks/``) are.

In an installed wheel they are the subpackages ``dendritic_snn.hw_profiles`` and
``dendritic_snn.tasks``; in a plain source checkout (imported from the repository root) they
are the top-level folders beside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def builtin_dir(name: str) -> Path:
    """Directory of the built-in ``name`` (``"hw_profiles"`` or ``"tasks"``)."""
    try:
        return Path(str(resources.files(f"dendritic_snn.{name}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / name
