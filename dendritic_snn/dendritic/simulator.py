"""Run presentations of a :class:`~dendritic_snn.dendritic.network.DendriticCircuit`.

Two back ends with the same interface, ``run(values) -> results`` (plain NumPy in and out):

* :class:`RuntimeSimulator`: the circuit in this process on a runtime target (``numpy`` for
  the unit tests); the initial state is stored once and restored before every presentation.
* :class:`StandaloneSimulator`: Brian2 ``cpp_standalone`` with ``build_on_run=False`` in a
  *worker subprocess*. The worker builds once (``device.build(run=False)``) into a private
  directory, then serves each presentation with ``device.run(run_args=...)``: weights, masks,
  mismatched parameters, constants, input and teacher ``TimedArray`` values all go in as
  run_args, so train/test phases, seeds and mismatch instances never rebuild. Brian2's device
  is global state; keeping it in a subprocess leaves this process on the runtime device, so
  numpy-target code (and tests) can run before and after.

:func:`get_standalone` caches one worker per :class:`~.network.Structure`, so consecutive
``run_task`` calls in one process (e.g. the benchmark) share a build.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path

import brian2 as b2
import numpy as np
from brian2.utils.filelock import FileLock

from ..hardware.profiles import profile_from_dict
from .network import DendriticCircuit, Structure, collect


class RuntimeSimulator:
    """The circuit on a runtime code-generation target in this process."""

    def __init__(self, structure: Structure, profile, target: str = "numpy") -> None:
        self.structure = structure
        self.build_s = 0.0
        old = b2.prefs.codegen.target
        b2.prefs.codegen.target = target
        try:
            self.circuit = DendriticCircuit(structure, profile)
            self.circuit.network.store("init")
        finally:
            self._target = target
            b2.prefs.codegen.target = old

    def run(self, values: dict) -> dict:
        c = self.circuit
        old = b2.prefs.codegen.target
        b2.prefs.codegen.target = self._target
        try:
            c.network.restore("init")
            for key, value in c.variable_values(values):
                if isinstance(key, b2.TimedArray):
                    key.values[:] = value
                else:
                    key[:] = b2.Quantity(value, dim=key.dim)
            c.network.run(self.structure.duration * b2.second)
        finally:
            b2.prefs.codegen.target = old

        def get(obj, var):
            return np.array(getattr(c.objects[obj], var)[:], dtype=float)

        return collect(c, get)

    def close(self) -> None:
        pass


def _serve(conn, structure: Structure, raw_profile: dict, build_dir: str) -> None:
    """Worker process: build once, then answer ``run`` requests until ``None``."""
    try:
        start = time.perf_counter()
        b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
        b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
        # -O1: the simulated network is tiny, compile time dominates (-O3 about doubles it)
        b2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O1", "-std=c++17"]
        circuit = DendriticCircuit(structure, profile_from_dict(raw_profile))
        circuit.network.run(structure.duration * b2.second)
        dev = b2.get_device()
        # The build directory is persistent: Brian2 rewrites only changed sources and make
        # recompiles only those, so a second process with the same structure starts in seconds.
        lock = FileLock(str(Path(build_dir) / "dir.lock"))
        with lock:
            dev.build(directory=build_dir, run=False, compile=True, with_output=False)
        results = f"results_{os.getpid()}"
        conn.send(("ready", time.perf_counter() - start))
    except Exception as err:  # pragma: no cover - reported to the parent
        conn.send(("error", f"{type(err).__name__}: {err}"))
        return

    def get(obj, var):
        return np.array(getattr(circuit.objects[obj], var)[:], dtype=float)

    while True:
        req = conn.recv()
        if req is None:
            break
        try:
            args = {}
            for key, value in circuit.variable_values(req):
                dim = key.dim
                args[key] = b2.Quantity(value, dim=dim)
            # The build directory is shared: another process may be rebuilding ./main or
            # writing its own run_args files, so builds and runs take the same lock.
            with lock:
                dev.run(results_directory=results, run_args=args, with_output=False)
                res = collect(circuit, get)
                dev.delete(code=False, data=True, run_args=True, directory=False)
                # Brian2 leaves the file lock of every run_args array behind; thousands of
                # them in static_arrays/ slow every later run (all writes hold ``lock``)
                for name in dev.run_args_arrays:
                    Path(dev.project_dir, "static_arrays", name + ".lock").unlink(missing_ok=True)
            conn.send(("ok", res))
        except Exception as err:  # pragma: no cover
            conn.send(("error", f"{type(err).__name__}: {err}"))


def default_build_dir(structure: Structure) -> Path:
    """Persistent build directory for ``structure``: ``$DSNN_CACHE_DIR`` (default
    ``~/.cache/dsnn``) / ``brian2_dendritic_<hash>``, the hash covering the structure, the
    Brian2 version and the source of the network module."""
    from . import network

    src = Path(network.__file__).read_bytes() + Path(__file__).read_bytes()
    digest = hashlib.sha256(repr((structure.key(), b2.__version__)).encode() + src).hexdigest()[:16]
    root = Path(os.environ.get("DSNN_CACHE_DIR", Path.home() / ".cache" / "dsnn"))
    return root / f"brian2_dendritic_{digest}"


class StandaloneSimulator:
    """A ``cpp_standalone`` build of the circuit served by a worker subprocess."""

    def __init__(
        self,
        structure: Structure,
        profile,
        build_dir: str | Path | None = None,
        progress: bool | None = None,
    ):
        self.structure = structure
        self.build_dir = str(build_dir or default_build_dir(structure))
        Path(self.build_dir).mkdir(parents=True, exist_ok=True)
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(child, structure, profile.raw, self.build_dir), daemon=True
        )
        self._proc.start()
        child.close()
        self._wait_for_build(progress)
        try:
            status, payload = self._conn.recv()
        except EOFError:
            status, payload = "error", f"worker exited with code {self._proc.exitcode}"
        if status != "ready":
            self.close()
            raise RuntimeError(f"standalone build failed: {payload}")
        self.build_s = float(payload)

    def _wait_for_build(self, progress: bool | None) -> None:
        """Show a timer while the worker builds (``progress=None``: only on a terminal)."""
        from tqdm.auto import tqdm

        with tqdm(
            desc="building the Brian2 network (C++; cached for later runs)",
            bar_format="{desc}: {elapsed}",
            disable=None if progress is None or progress else True,
        ) as bar:
            while not self._conn.poll(0.5) and self._proc.is_alive():
                bar.refresh()

    def run(self, values: dict) -> dict:
        self._conn.send(values)
        try:
            status, payload = self._conn.recv()
        except EOFError:
            status, payload = "error", f"worker exited with code {self._proc.exitcode}"
        if status != "ok":
            raise RuntimeError(f"standalone run failed: {payload}")
        return payload

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.terminate()
        shutil.rmtree(Path(self.build_dir) / f"results_{self._proc.pid}", ignore_errors=True)


_CACHE: dict[tuple, StandaloneSimulator] = {}


def get_standalone(
    structure: Structure, profile, progress: bool | None = None
) -> tuple[StandaloneSimulator, bool]:
    """A cached worker for ``structure`` (one live build at a time); returns ``(sim, fresh)``.

    The build does not depend on the profile's values (they are run data), so any profile
    with DPI neuron/synapse blocks reuses it. ``progress`` shows a timer during the build
    (None: only when stderr is a terminal).
    """
    key = structure.key()
    if key in _CACHE and _CACHE[key]._proc.is_alive():
        return _CACHE[key], False
    close_all()
    sim = StandaloneSimulator(structure, profile, progress=progress)
    _CACHE[key] = sim
    return sim, True


def close_all() -> None:
    """Stop every cached worker and remove its build directory."""
    for sim in list(_CACHE.values()):
        sim.close()
    _CACHE.clear()


atexit.register(close_all)
