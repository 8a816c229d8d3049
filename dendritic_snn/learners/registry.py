"""The learner registry: register a learner once, run it on every task that fits its input.

Built-in learners are registered when this package is imported; plug-ins register with the
:func:`register` decorator, or through the ``dendritic_snn.learners`` entry-point group of an
installed package (``name = "module:Class"``), loaded on first lookup.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import Any

from ..errors import DsnnError
from .base import INPUT_KINDS, Learner

_REGISTRY: dict[str, type[Learner]] = {}
#: modules of the built-in learners (imported lazily by :func:`available`)
BUILTIN = ("dendritic", "rate_ep", "eqspike", "memcap")
_loaded = False
#: re-entrant: importing a built-in module registers it while the lock is held; other threads
#: wait until every built-in learner is registered
_LOAD_LOCK = threading.RLock()


def register(cls: type[Learner]) -> type[Learner]:
    """Class decorator adding a :class:`~dendritic_snn.learners.base.Learner` to the registry.

    Raises
    ------
    DsnnError
        If the class has no name, an unknown input kind, or its name is taken by another class.
    """
    if not cls.name:
        raise DsnnError(f"learner {cls.__qualname__}: set the class attribute 'name'")
    if cls.input_kind not in INPUT_KINDS:
        raise DsnnError(
            f"learner '{cls.name}': input_kind '{cls.input_kind}' is not one of "
            f"{', '.join(INPUT_KINDS)}"
        )
    known = _REGISTRY.get(cls.name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise DsnnError(f"learner '{cls.name}' is already registered by {known.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive sessions)."""
    _REGISTRY.pop(name, None)


def _load() -> None:
    global _loaded
    with _LOAD_LOCK:
        if _loaded:
            return
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(f"{__package__}.{module}")
        for entry in entry_points(group="dendritic_snn.learners"):
            try:
                register(entry.load())
            except Exception as err:  # a broken plug-in must not break the built-in learners
                raise DsnnError(f"learner plug-in '{entry.name}' ({entry.value}): {err}") from None


def available(kinds: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Registered learner names, optionally only those taking one of ``kinds``."""
    _load()
    return sorted(n for n, c in _REGISTRY.items() if kinds is None or c.input_kind in kinds)


def get_learner(name: str) -> type[Learner]:
    """The learner class registered as ``name``; :class:`DsnnError` if there is none."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DsnnError(f"unknown learner '{name}' (known: {', '.join(available())})") from None


def learner_config(
    cls: type[Learner], task: str, task_config: dict[str, Any], adapted: dict[str, Any]
) -> dict[str, Any]:
    """The hyperparameters ``cls`` runs with on ``task``.

    On its home task a learner reads the task config itself (``--set`` included). On another
    task it starts from its home task's defaults (or :attr:`Learner.defaults`) and takes the
    fields the task sets for learners of its input kind (``adapted``: sizes, durations,
    epochs, ...).
    """
    if cls.home_task == task:
        return dict(task_config)
    if cls.home_task is not None:
        from ..runners.spec import load_task_spec

        base = dict(load_task_spec(cls.home_task).config)
    else:
        base = dict(cls.defaults)
    return {**base, **adapted}
