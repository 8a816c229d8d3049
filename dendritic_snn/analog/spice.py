"""The same netlist for ngspice (optional): write it, run ``.op`` in batch mode, read back the
node voltages.

Element map (one circuit; node ``0`` is ground):

* ``VX<i> x<i> 0 DC x_i``: inputs and bias.
* ``R1_<i>_<k> x<i> h<k>`` and ``R2_<k>_<j> u<k> y<j>``: weights, :math:`R = 1/g`.
* ``DU<k> h<k> su<k>`` with ``VSU<k> su<k> 0 DC V_s`` and ``DD<k> sd<k> h<k>`` with
  ``VSD<k> sd<k> 0 DC -V_s``: the antiparallel diode pair.
* ``E<k> ue<k> 0 h<k> 0 A``, ``VS<k> ue<k> u<k> DC 0`` (senses :math:`I_{E,k}`) and
  ``F<k> h<k> 0 VS<k> 1/A``: the bidirectional amplifier; the CCCS draws :math:`I_{E,k}/A`
  out of ``h<k>``.
* ``IN<j> 0 y<j> DC I_j``: the nudging current into ``y<j>`` (nudged phase only).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .circuit import Circuit

KELVIN = 273.15
K_OVER_Q = 8.617333262e-5  # Boltzmann constant over electron charge, V/K


def thermal_voltage(temperature_c: float) -> float:
    """:math:`V_T = k T / q`, V."""
    return K_OVER_Q * (temperature_c + KELVIN)


def ngspice_path() -> str | None:
    """Path of the ``ngspice`` binary, or None if it is not installed."""
    return shutil.which("ngspice")


def netlist(
    c: Circuit,
    g: np.ndarray,
    i_inj: np.ndarray | None = None,
    ideality: float = 2.0,
    temperature_c: float = 27.0,
    precise: bool = True,
) -> str:
    """SPICE netlist of one circuit (``g`` of shape ``(n_g,)``) with a ``.op`` analysis.

    The diode model is ``D(IS=i_s N=ideality)``; the simulation temperature sets
    :math:`V_T`, so ``c.n_vt`` should equal ``ideality * thermal_voltage(temperature_c)``.
    ``precise`` tightens the Newton tolerances (reltol 1e-9, vntol 1e-12 V); without it
    ngspice keeps its defaults (reltol 1e-3, vntol 1 uV, abstol 1 pA), as in PySpice runs.
    """
    tol = "reltol=1e-9 abstol=1e-18 vntol=1e-12 gmin=1e-15" if precise else ""
    g1, g2 = c.split(np.asarray(g, dtype=float)[None])
    g1, g2 = g1[0], g2[0]
    a = c.gain
    lines = [
        "* dendritic_snn analog EqProp network",
        f".options temp={temperature_c:.6g} tnom={temperature_c:.6g} {tol}",
        f".model dmod D(IS={c.i_s:.12g} N={ideality:.12g})",
    ]
    lines += [f"VX{i} x{i} 0 DC {xi:.12g}" for i, xi in enumerate(c.x)]
    for i in range(c.n_x):
        for k in range(c.n_hidden):
            lines.append(f"R1_{i}_{k} x{i} h{k} {1.0 / g1[i, k]:.15g}")
    for k in range(c.n_hidden):
        lines += [
            f"DU{k} h{k} su{k} dmod",
            f"VSU{k} su{k} 0 DC {c.v_shift:.12g}",
            f"DD{k} sd{k} h{k} dmod",
            f"VSD{k} sd{k} 0 DC {-c.v_shift:.12g}",
            f"E{k} ue{k} 0 h{k} 0 {a:.12g}",
            f"VS{k} ue{k} u{k} DC 0",
            f"F{k} h{k} 0 VS{k} {1.0 / a:.15g}",
        ]
        for j in range(c.n_y):
            lines.append(f"R2_{k}_{j} u{k} y{j} {1.0 / g2[k, j]:.15g}")
    if i_inj is not None:
        lines += [f"IN{j} 0 y{j} DC {float(i):.15g}" for j, i in enumerate(i_inj)]
    lines += [".control", "set numdgt=15", "op", "print all", "quit", ".endc", ".end"]
    return "\n".join(lines) + "\n"


_LINE = re.compile(r"^\s*v?\(?([a-z0-9_]+)\)?\s*=\s*([-+0-9.e]+)\s*$", re.IGNORECASE)


def run_op(text: str, timeout_s: float = 30.0) -> dict[str, float]:
    """Run ngspice in batch mode on ``text``; return ``{node: voltage}`` (lower-case names).

    Raises
    ------
    RuntimeError
        If ngspice is missing or fails.
    """
    exe = ngspice_path()
    if exe is None:
        raise RuntimeError("ngspice is not installed (Debian: apt-get install ngspice)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.cir"
        path.write_text(text)
        proc = subprocess.run(
            [exe, "-n", str(path)], capture_output=True, text=True, timeout=timeout_s
        )
    if proc.returncode != 0:
        raise RuntimeError(f"ngspice failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    values = {}
    for line in proc.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            values[match.group(1).lower()] = float(match.group(2))
    return values


def spice_voltages(c: Circuit, g: np.ndarray, i_inj: np.ndarray | None = None, **kw) -> np.ndarray:
    """Node voltages ``[V_h, V_y]`` of one circuit from ngspice, shape ``(n_h + 2 n_o,)``."""
    values = run_op(netlist(c, g, i_inj, **kw))
    names = [f"h{k}" for k in range(c.n_hidden)] + [f"y{j}" for j in range(c.n_y)]
    missing = [n for n in names if n not in values]
    if missing:
        raise RuntimeError(f"ngspice output lacks nodes {missing}")
    return np.array([values[n] for n in names])
