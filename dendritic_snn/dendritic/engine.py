"""The in-process engine: the dendritic circuit as a compiled step loop (no Brian2, no gcc).

:class:`NumbaSimulator` has the interface of the Brian2 back ends of
:mod:`dendritic_snn.dendritic.simulator`: ``run(values) -> results`` with the run data of
:func:`~dendritic_snn.dendritic.network.run_values` in and the dictionary of
:func:`~dendritic_snn.dendritic.network.collect` out, so an
:class:`~dendritic_snn.dendritic.experiment.Experiment` runs on either unchanged.
:meth:`NumbaSimulator.run_batch` runs many chips (seeds, mismatch instances) of one
:class:`~dendritic_snn.dendritic.network.Structure` in one call. The equations and their
step order are those of the Brian2 circuit; see :mod:`dendritic_snn.dendritic.engine_numba`.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping

import numpy as np

from ..hardware.dpi import NEURON_UNITS, SYNAPSE_UNITS
from .network import PLASTIC, Structure, compartments

#: Per-chip constants passed to the kernel, in the kernel's column order.
CONSTS = ("c_B", "c_A", "c_D", "g_I", "alpha_T", "E_hi", "E_lo", "I_th", "I_ref", "tau_S",
          "tau_S_R", "sigma_S", "tau_trace", "c_B_R")  # fmt: skip
_CONST_SRC = {"c_B": ("P", "c_B"), "c_A": ("P", "c_A"), "c_D": ("I", "c_D"), "g_I": ("I", "g_I"),
              "alpha_T": ("R", "alpha_T"), "E_hi": ("R", "E_hi"), "E_lo": ("R", "E_lo"),
              "I_th": ("P", "I_th"), "I_ref": ("P", "I_ref"), "tau_S": ("P", "tau_S"),
              "tau_S_R": ("R", "tau_S"), "sigma_S": ("P", "sigma_S"),
              "tau_trace": ("in_p", "tau_trace"), "c_B_R": ("R", "c_B")}  # fmt: skip
_POPS = ("P", "R", "I")
_WEIGHTS = ("in_p", "p_r", "p_i", "i_p", "r_p")
#: State arrays of the kernel and the Brian2 variable each holds (per population).
_STATE_VARS = {"imem": "Imem", "iahp": "Iahp", "i_s": "I_S", "i_pred": "I_pred"}

#: Structure flags (:func:`_flags`) whose step loop this process has compiled or loaded.
_compiled: set[tuple[bool, bool, bool]] = set()
#: Structure flags -> pid of the forked process compiling their step loop
#: (:func:`compile_in_background`).
_background: dict[tuple[bool, bool, bool], int] = {}
#: Longest wait for a background compilation before compiling in this process instead (s).
BACKGROUND_TIMEOUT_S = 300.0


def _sizes(st: Structure) -> dict[str, int]:
    return {"IN": st.n_in, "P": st.n_p, "R": st.n_r, "I": st.n_r}


def _shape(st: Structure, proj: str) -> tuple[int, int]:
    src, tgt = {"in_p": ("IN", "P"), "p_r": ("P", "R"), "p_i": ("P", "I"), "i_p": ("I", "P"),
                "r_p": ("R", "P")}[proj]  # fmt: skip
    size = _sizes(st)
    return size[src], size[tgt]


def n_slots(st: Structure) -> int:
    """Compartment slots per neuron in the kernel: 3, or 4 with a signed readout (R's
    ``bai``)."""
    return max(len(c) for c in compartments(st).values())


@functools.lru_cache(maxsize=64)
def _syn_keys(st: Structure, pop: str) -> list[list[str]]:
    comps = list(compartments(st)[pop])
    comps += [comps[0]] * (n_slots(st) - len(comps))  # unused slots: a copy at rest
    return [[f"Iw0_{c}" if p == "Iw0" else f"{p}_syn_{c}" for p in SYNAPSE_UNITS] for c in comps]


_NEURON_KEYS = {pop: list(NEURON_UNITS) for pop in _POPS}


def _columns(v: dict, pop: str, keys: list[str], n: int) -> np.ndarray:
    """``(n, len(keys))`` array of the per-neuron values ``v[(pop, key)]`` (scalars broadcast)."""
    cols = [v[(pop, key)] for key in keys]
    try:
        return np.array(cols, float).T.reshape(n, len(keys))
    except ValueError:
        return np.column_stack([np.broadcast_to(np.asarray(c, float), (n,)) for c in cols])


def pack(st: Structure, values: dict) -> dict[str, np.ndarray]:
    """Kernel arrays of one chip and presentation from :func:`~.network.run_values` data."""
    v = values["vars"]
    sizes = _sizes(st)
    npar = np.vstack([_columns(v, pop, _NEURON_KEYS[pop], sizes[pop]) for pop in _POPS])
    spar = np.vstack([
        np.stack([_columns(v, pop, keys, sizes[pop]) for keys in _syn_keys(st, pop)], axis=1)
        for pop in _POPS
    ])  # fmt: skip
    cst = np.array([float(v.get(_CONST_SRC[c], 1.0)) for c in CONSTS])
    plast = np.array([[float(v[(proj, name)]) for name in ("lr", "theta", "w_max")]
                      for proj in PLASTIC])  # fmt: skip
    out = {"npar": npar, "spar": spar, "cst": cst, "plast": plast}
    for proj in _WEIGHTS:
        out[f"w_{proj}"] = np.array(v[(proj, "w")], float).reshape(_shape(st, proj))
    for proj in PLASTIC:
        mask = v.get((proj, "mask"))
        shape = _shape(st, proj)
        out[f"m_{proj}"] = (
            np.ones(shape) if mask is None else np.asarray(mask, float).reshape(shape)
        )
    out["w_th"] = np.array(v.get(("th", "w"), np.ones(st.n_r)), float).reshape(st.n_r)
    out["stim"] = np.asarray(values["stim"], np.uint8).reshape(st.n_steps, st.n_in)
    out["teach_hi"] = np.asarray(values["teach_hi"], np.uint8).reshape(st.n_steps, st.n_r)
    out["teach_lo"] = np.asarray(values["teach_lo"], np.uint8).reshape(st.n_steps, st.n_r)
    noise = values.get("noise")
    n = st.n_p + 2 * st.n_r
    if noise is None or not st.noise:
        noise = np.zeros((st.n_steps, n))
    out["noise"] = np.asarray(noise, float).reshape(st.n_steps, n)
    out.update(initial_state(st, v, npar, spar))
    return out


def initial_state(st: Structure, v: dict, npar: np.ndarray, spar: np.ndarray) -> dict:
    """Brian2's initial state (``Imem = Iahp = Io``, ``Isyn = Io_syn``, somata 0), where
    ``v`` may override any variable as ``(pop, name)``, e.g. ``("R", "I_S")``."""
    sizes = _sizes(st)
    state = {
        "imem": npar[:, 0].copy(),
        "iahp": npar[:, 0].copy(),
        "isyn": spar[:, :, 0].copy(),
        "i_s": np.zeros(len(npar)),
        "i_pred": np.zeros(len(npar)),
        "i_ahat": np.zeros(st.n_p),
    }
    off = 0
    for pop in _POPS:
        sl = slice(off, off + sizes[pop])
        for key, name in _STATE_VARS.items():
            if (pop, name) in v:
                state[key][sl] = v[(pop, name)]
        if (pop == "P") and ("P", "I_Ahat") in v:
            state["i_ahat"][:] = v[("P", "I_Ahat")]
        for c, comp in enumerate(compartments(st)[pop]):
            if (pop, f"Isyn_{comp}") in v:
                state["isyn"][sl, c] = v[(pop, f"Isyn_{comp}")]
        off += sizes[pop]
    return state


def final_state(st: Structure, state: dict) -> dict:
    """``{(pop, name): array}`` of one chip's state arrays (Brian2's variable names)."""
    sizes = _sizes(st)
    out: dict = {}
    off = 0
    for pop in _POPS:
        sl = slice(off, off + sizes[pop])
        for key, name in _STATE_VARS.items():
            out[(pop, name)] = state[key][sl].copy()
        for c, comp in enumerate(compartments(st)[pop]):
            out[(pop, f"Isyn_{comp}")] = state["isyn"][sl, c].copy()
        off += sizes[pop]
    out[("P", "I_Ahat")] = state["i_ahat"].copy()
    return out


def _rec_every(st: Structure) -> int:
    """Steps between two samples of the readout monitor (1 ms, as the Brian2 StateMonitor)."""
    return max(int(round(1e-3 / st.dt)), 1)


def run_packed(st: Structure, packs: list[dict]) -> list[dict]:
    """Run one presentation of every chip in ``packs`` (see :func:`pack`); collect-format out."""
    from .engine_numba import run_batch

    b = len(packs)
    if b == 1:  # a view with a batch axis of 1 (pack's arrays are fresh and contiguous)
        arr = {key: np.ascontiguousarray(val)[None] for key, val in packs[0].items()}
    else:
        arr = {key: np.stack([p[key] for p in packs]) for key in packs[0]}
    n = st.n_p + 2 * st.n_r
    every = _rec_every(st)
    n_rec = -(-st.n_steps // every)
    spk_k = np.empty((b, st.n_steps * n), np.int64)
    spk_j = np.empty((b, st.n_steps * n), np.int64)
    n_spk = np.zeros((b, 1), np.int64)
    nupd = {proj: np.zeros((b, *_shape(st, proj))) for proj in PLASTIC}
    rec_is = np.zeros((b, st.n_r, n_rec))
    rec_pred = np.zeros((b, st.n_r, n_rec))
    run_batch(
        arr["npar"], arr["spar"], arr["cst"], arr["plast"], st.n_p, st.n_r, st.dt,
        *_flags(st),
        arr["w_in_p"], arr["w_p_r"], arr["w_p_i"], arr["w_i_p"], arr["w_r_p"], arr["w_th"],
        arr["m_in_p"], arr["m_p_r"], arr["m_p_i"], arr["m_i_p"],
        arr["stim"], arr["teach_hi"], arr["teach_lo"], arr["noise"], every,
        arr["imem"], arr["iahp"], arr["isyn"], arr["i_s"], arr["i_pred"], arr["i_ahat"],
        spk_k, spk_j, n_spk, nupd["in_p"], nupd["p_r"], nupd["p_i"], nupd["i_p"], rec_is, rec_pred,
    )  # fmt: skip
    _compiled.add(_flags(st))
    offsets = {"P": (0, st.n_p), "R": (st.n_p, st.n_r), "I": (st.n_p + st.n_r, st.n_r)}
    results = []
    for c in range(b):
        k, j = spk_k[c, : n_spk[c, 0]], spk_j[c, : n_spk[c, 0]]
        spikes = {}
        for pop, (off, size) in offsets.items():
            sel = (j >= off) & (j < off + size)
            spikes[pop] = (j[sel] - off, k[sel] * st.dt)
        results.append({
            "w": {proj: arr[f"w_{proj}"][c].ravel().copy() for proj in PLASTIC},
            "n_upd": {proj: nupd[proj][c].ravel() for proj in PLASTIC},
            "spikes": spikes,
            "I_S_R": rec_is[c],
            "I_pred_R": rec_pred[c],
            "state": _LazyState(st, {k: arr[k][c] for k in _STATE_ARRAYS}),
        })  # fmt: skip
    return results


_STATE_ARRAYS = ("imem", "iahp", "isyn", "i_s", "i_pred", "i_ahat")


class _LazyState(Mapping):
    """The final state ``{(pop, name): array}`` of one chip, built on first access."""

    def __init__(self, st: Structure, arrays: dict) -> None:
        self._st, self._arrays, self._map = st, arrays, None

    def _get(self) -> dict:
        if self._map is None:
            self._map = final_state(self._st, self._arrays)
        return self._map

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def _flags(st: Structure) -> tuple[bool, bool, bool]:
    """The structure flags the step loop is compiled for (one machine-code variant each)."""
    return st.in_p_rule == "post", st.readout_rule == "dendrite", st.signed_readout


def compile_engine(structure: Structure) -> float:
    """Compile (or load from Numba's cache) the step loop of ``structure``'s variant.

    Waits first for a :func:`compile_in_background` of the same variant, whose machine code
    it then loads from the cache. Returns the seconds it took (0 if this process has the
    variant already).
    """
    key = _flags(structure)
    if key in _compiled:
        return 0.0
    start = time.perf_counter()
    _wait_for_background(key)
    st = dataclasses.replace(structure, n_in=2, n_p=1, n_r=1, n_steps=20, dt=1e-4, noise=False)
    run_packed(st, [pack(st, _dummy_values(st))])
    return time.perf_counter() - start


def compile_in_background(structure: Structure) -> bool:
    """Start compiling ``structure``'s step loop in a forked process; True if it started.

    The child compiles into Numba's on-disk cache and exits; :func:`compile_engine` waits for
    it and loads the machine code, so the caller's start-up (imports, building the chip)
    runs on the other core meanwhile. Does nothing (False) where that cannot help or is not
    safe: not Linux, a single core, not the main thread, the variant compiled or started
    already, or Numba's compiler lock held by another thread (it is held across the fork,
    so the child owns it).
    """
    key = _flags(structure)
    if (key in _compiled or key in _background or sys.platform != "linux"
            or (os.cpu_count() or 1) < 2
            or threading.current_thread() is not threading.main_thread()):  # fmt: skip
        return False
    from numba.core.compiler_lock import global_compiler_lock

    from . import engine_numba  # noqa: F401  (imported before the fork, not in the child)

    lock = getattr(global_compiler_lock, "_lock", None)
    if lock is None or not lock.acquire(blocking=False):
        return False
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                compile_engine(structure)
                code = 0
            finally:
                os._exit(code)
    finally:
        lock.release()
    _background[key] = pid
    return True


def _wait_for_background(key: tuple[bool, bool, bool]) -> None:
    """Wait for the background compilation of ``key`` (if any); stop it after the timeout."""
    pid = _background.pop(key, None)
    if pid is None:
        return
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    try:
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            time.sleep(0.01)
    except ChildProcessError:  # reaped elsewhere: it has finished
        pass


@atexit.register
def _stop_background() -> None:
    """At exit: stop background compilations nobody waited for (e.g. after a bad input)."""
    for pid in _background.values():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    _background.clear()


def _dummy_values(st: Structure) -> dict:
    from ..hardware.profiles import load_profile
    from .network import ModelParams, PlasticityParams, chip_values, model_values, run_values

    model = ModelParams()
    chip = chip_values(st, load_profile("dynapse_se"), None, model)
    consts = model_values(model, PlasticityParams(), True)
    weights = {p: np.zeros(int(np.prod(_shape(st, p)))) for p in _WEIGHTS}
    z = np.zeros((st.n_steps, st.n_r))
    return run_values(st, chip, consts, weights, {}, np.zeros((st.n_steps, st.n_in)), z, z)


class NumbaSimulator:
    """The dendritic circuit of ``structure`` on the compiled in-process engine.

    Same interface as :class:`~dendritic_snn.dendritic.simulator.RuntimeSimulator`;
    ``build_s`` is the time the first use spent compiling (or loading the cached machine
    code of) the step loop.
    """

    def __init__(self, structure: Structure) -> None:
        self.structure = structure
        self.build_s = compile_engine(structure)

    def run(self, values: dict) -> dict:
        """One presentation of one chip (``values`` from :func:`~.network.run_values`)."""
        return run_packed(self.structure, [pack(self.structure, values)])[0]

    def run_batch(self, batch: list[dict]) -> list[dict]:
        """One presentation of each chip in ``batch``, in one call of the step loop."""
        st = self.structure
        return run_packed(st, [pack(st, v) for v in batch])

    def close(self) -> None:
        pass
