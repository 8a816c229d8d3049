r"""Export trained dsnn networks to NIR (Neural Intermediate Representation, ``nir`` package).

NIR is declarative and continuous-time; every node below is the *documented approximation* of
a dsnn circuit, and everything needed to reproduce the original (DPI bias currents, profile
name and sha256, mismatch seed, engine step) goes into ``metadata``, which no backend needs in
order to execute the graph. Time constants are written in **seconds** (the rate-EP network has
no physical time; its unit is one relaxation step).

Graphs (inference path; feed-forward unless ``recurrent=True``):

* **rate EP** (``dsnn task mnist --learner rate_ep``):
  ``input -> affine1 -> if1 -> ... -> affineL -> ifL -> output`` with ``affine_k`` =
  :math:`(W_{k-1}^\top, b_{k-1})`. The rate unit :math:`\rho(s) = \mathrm{clip}(s, 0, 1)` has no
  NIR primitive (no ReLU/clip node); it is exported as ``IF(r=1, v_threshold=1, v_reset=0)``
  with the time unit one relaxation step, the rate-coded (ANN-to-SNN) equivalent: with
  reset-by-subtraction and at most one spike per step its spike rate is exactly
  :math:`\mathrm{clip}(\mathrm{net}, 0, 1)`; with NIR's reset to ``v_reset`` it is
  :math:`1/\lceil 1/\mathrm{net}\rceil`. ``recurrent=True`` adds the symmetric Hopfield
  feedback as ``Linear(W_k)`` nodes ``feedback_k: if_{k+1} -> if_k``.
* **EqSpike** (``--learner eqspike``, 45 nm IFC, :mod:`dendritic_snn.eqspike.engine`): the
  affine weights are the chip's effective ones :math:`W \odot g_{out}` (mismatch baked in), in
  engine current units (1 unit = :math:`C\Delta V_{nom}/T_{min}` amperes,
  ``metadata["current_unit_A"]``). The IFC integrates :math:`g_i (I - \ell_i)` per step
  :math:`T_{min}` and fires at :math:`\Delta V = V_{rise} - V_{fall}`. ``ifc_as="lif"``
  (default): ``LIF`` with :math:`\tau_i = T_{min}/(g_i\ell_i) = C_i \Delta V_i / I_{leak}`, i.e.
  the constant leak current replaced by the linear leak equal to it at threshold,
  :math:`R_i = \Delta V/\ell_i`, ``v_threshold`` :math:`= \Delta V`, ``v_leak = v_reset = 0``
  (volts). ``ifc_as="if"``: ``IF`` with :math:`R_i = g_i\Delta V/T_{min}` and the leak moved into
  the affine bias :math:`b - \ell` (exact below the clip). Not represented: the membrane clip
  to ``[0, VDD - V_fall]``, reset by subtraction (NIR resets to ``v_reset``), the learning
  circuits (traces, differentiators, comparators).
* **dendritic** (``dsnn task pattern_discrimination``, DPI circuits): ``input -> in_p -> P ->
  p_r -> R -> output``, P and R as ``CubaLIF`` in units of ``I_ref`` (1 nA):
  ``tau_syn`` = :func:`~dendritic_snn.hardware.dpi.synapse_tau` of the neuron's basal DPI
  synapse, ``tau_mem`` = :func:`~dendritic_snn.hardware.dpi.membrane_tau` of its DPI neuron,
  ``r`` = :math:`I_{th}/I_\tau` (DPI membrane gain, linear regime), ``v_threshold`` =
  :math:`I_{spkthr}/I_{ref}`, ``v_reset`` = :math:`I_{reset}/I_{ref}`, ``w_in = tau_syn``, so the
  affine weight is the per-spike jump of the synaptic current,
  :math:`c_B w_{ij} I_{w0,j} I_{th,j} / (I_{\tau,j} I_{ref})` (DPI linear regime; ``c_B`` is the
  basal-to-soma coupling; a signed readout's negative weights use its inhibitory basal
  synapse's :math:`I_{w0} I_{th}/I_\tau`, with the excitatory one's ``tau_syn``), and the bias
  :math:`I_{const}/(I_{ref}\tau_{syn})`. Not represented:
  the somatic low-pass ``tau_S`` between dendrite and DPI soma, the DPI positive feedback,
  adaptation and refractory period, the apical compartments, interneurons and teachers (their
  weights are in ``metadata["training_only"]``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DsnnError
from ..results import versions

Array = np.ndarray

INSTALL_HINT = "NIR export needs the 'nir' package: pip install 'dendritic_snn[nir]'"


def _nir():
    """The ``nir`` module, or a :class:`DsnnError` with the install hint."""
    try:
        import nir
    except ImportError:
        raise DsnnError(INSTALL_HINT) from None
    return nir


# ------------------------------------------------------------------------------ metadata
def _h5_safe(value: Any) -> Any:
    """Turn ``value`` into something ``nir.write`` (h5py) stores and reads back unchanged.

    ``None`` entries are dropped by the caller, dicts are kept nested, numeric sequences become
    arrays and anything else (strings in lists, mixed data) becomes a JSON string.
    """
    if isinstance(value, Mapping):
        return {str(k): _h5_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf" and arr.size:
            return arr
    return json.dumps(value, default=str)


def _meta(**entries: Any) -> dict:
    return _h5_safe({"producer": f"dendritic_snn {versions()['dendritic_snn']}", **entries})


# ------------------------------------------------------------------------------ graph core
def to_nir_graph(
    layers: Sequence[tuple[Array, Array]],
    neurons: Sequence[Any],
    neuron_names: Sequence[str] | None = None,
    affine_names: Sequence[str] | None = None,
    feedback: Sequence[tuple[int, int, Array]] = (),
    metadata: Mapping[str, Any] | None = None,
):
    """Build a layered NIR graph ``input -> (affine -> neuron) x L -> output``.

    Parameters
    ----------
    layers
        ``(weight, bias)`` per layer, weight of shape ``(n_out, n_in)`` (NIR's convention).
    neurons
        One NIR neuron node per layer (``nir.LIF``, ``nir.CubaLIF``, ``nir.IF``, ...), of size
        ``n_out`` of its layer.
    neuron_names, affine_names
        Node names; default ``<type>1..L`` and ``affine1..L``.
    feedback
        ``(src_layer, dst_layer, weight)`` recurrent projections (1-based layer indices,
        weight ``(n_dst, n_src)``), each a ``nir.Linear`` node ``feedback_<src>_<dst>`` with
        the edges ``neuron_src -> feedback -> neuron_dst`` (inputs of a node are summed).
    metadata
        Graph metadata (never needed to execute the graph).

    Returns
    -------
    nir.NIRGraph
        The type-checked graph.
    """
    nir = _nir()
    if len(layers) != len(neurons) or not layers:
        raise DsnnError("to_nir_graph: need one neuron node per layer (and at least one layer)")
    n_layers = len(layers)
    neuron_names = list(
        neuron_names or [f"{type(n).__name__.lower()}{k + 1}" for k, n in enumerate(neurons)]
    )
    affine_names = list(affine_names or [f"affine{k + 1}" for k in range(n_layers)])
    first = np.asarray(layers[0][0])
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([first.shape[1]])})}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for (weight, bias), neuron, a_name, n_name in zip(
        layers, neurons, affine_names, neuron_names, strict=True
    ):
        weight = np.asarray(weight, dtype=np.float64)
        bias = np.asarray(bias, dtype=np.float64).reshape(weight.shape[0])
        nodes[a_name] = nir.Affine(weight=weight, bias=bias)
        nodes[n_name] = neuron
        edges += [(prev, a_name), (a_name, n_name)]
        prev = n_name
    out_size = np.asarray(layers[-1][0]).shape[0]
    nodes["output"] = nir.Output(output_type={"output": np.array([out_size])})
    edges.append((prev, "output"))
    for src, dst, weight in feedback:
        name = f"feedback_{src}_{dst}"
        nodes[name] = nir.Linear(weight=np.asarray(weight, dtype=np.float64))
        edges += [(neuron_names[src - 1], name), (name, neuron_names[dst - 1])]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(metadata or {}))
    graph.validate_structure()
    return graph


def _full(n: int, value: float | Array) -> Array:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()


# ------------------------------------------------------------------------------ rate EP
def rate_ep_graph(
    weights: Sequence[Array],
    biases: Sequence[Array],
    recurrent: bool = False,
    metadata: Mapping[str, Any] | None = None,
):
    """NIR graph of a rate-EP network (``RateEP.params``; ``W_k`` of shape (n_k, n_{k+1})).

    Rate units become ``IF(r=1, v_threshold=1, v_reset=0)`` (module docstring); the affine
    layers are :math:`(W_k^\\top, b_k)`. ``recurrent`` adds the Hopfield feedback ``W_k``.
    """
    nir = _nir()
    layers = [(np.asarray(w).T, np.asarray(b)) for w, b in zip(weights, biases, strict=True)]
    neurons = []
    for w, _ in layers:
        n = w.shape[0]
        neurons.append(
            nir.IF(
                r=_full(n, 1.0),
                v_threshold=_full(n, 1.0),
                v_reset=_full(n, 0.0),
                metadata={"activation": "hard_sigmoid clip(net, 0, 1)"},
            )
        )
    feedback = (
        [(k + 1, k, np.asarray(weights[k])) for k in range(1, len(weights))] if recurrent else []
    )
    meta = {
        "model": "rate_ep",
        "neuron_mapping": "rate unit clip(net,0,1) -> IF(r=1, v_threshold=1, v_reset=0); "
        "time unit = one relaxation step",
        **(metadata or {}),
    }
    return to_nir_graph(layers, neurons, feedback=feedback, metadata=_h5_safe(meta))


# ------------------------------------------------------------------------------ EqSpike
def eqspike_graph(
    weights: Sequence[Array],
    biases: Sequence[Array],
    chip,
    profile,
    ifc_as: str = "lif",
    recurrent: bool = False,
    metadata: Mapping[str, Any] | None = None,
):
    """NIR graph of an EqSpike network on the 45 nm IFC (module docstring for the mapping).

    Parameters
    ----------
    weights, biases
        ``W0, W1`` (n_k, n_{k+1}) and ``b0, b1`` (engine units).
    chip
        :class:`~dendritic_snn.eqspike.eqspike.ChipParams` of the run (``map_profile``).
    profile
        The run's profile (``ifc_schmitt`` neuron block).
    ifc_as
        ``"lif"`` (leak as an equivalent conductance) or ``"if"`` (leak as a bias current).
    recurrent
        Add the output-to-hidden feedback ``W1 * g_out`` as a ``Linear`` node.
    metadata
        Extra graph metadata.
    """
    nir = _nir()
    if ifc_as not in ("lif", "if"):
        raise DsnnError(f"ifc_as must be 'lif' or 'if', got '{ifc_as}'")
    neuron = profile.params["neuron"]
    dv = float(neuron["V_rise"] - neuron["V_fall"])
    step = float(chip.step_s)
    eff = [
        np.asarray(w, np.float64) * (1.0 if chip.matched else np.asarray(g, np.float64))
        for w, g in zip(weights, chip.g_out, strict=True)
    ]
    layers, neurons = [], []
    for k, (w, b) in enumerate(zip(eff, biases, strict=True)):
        gain = np.asarray(chip.gain[k], np.float64)
        leak = np.maximum(np.asarray(chip.leak[k], np.float64), 1e-12)
        n = w.shape[1]
        bias = np.asarray(b, np.float64)
        if ifc_as == "lif":
            node = nir.LIF(
                tau=step / (gain * leak),
                r=dv / leak,
                v_leak=_full(n, 0.0),
                v_threshold=_full(n, dv),
                v_reset=_full(n, 0.0),
            )
        else:
            node = nir.IF(r=gain * dv / step, v_threshold=_full(n, dv), v_reset=_full(n, 0.0))
            bias = bias - np.asarray(chip.leak[k], np.float64)
        layers.append((w.T, bias))
        neurons.append(node)
    feedback = [(2, 1, eff[1])] if recurrent else []
    q_nom = float(neuron["C_mem"]) * dv
    meta = {
        "model": "eqspike",
        "neuron_mapping": f"IFC (ifc_schmitt) -> {ifc_as.upper()}; v in volts, tau in s, "
        "currents in engine units",
        "current_unit_A": q_nom / step,
        "step_s": step,
        "weights": "effective W * g_out (per-synapse output-gain mismatch included)",
        "chip_notes": dict(chip.notes),
        **(metadata or {}),
    }
    names = [f"{ifc_as}1", f"{ifc_as}2"]
    return to_nir_graph(
        layers, neurons, neuron_names=names, feedback=feedback, metadata=_h5_safe(meta)
    )


# ------------------------------------------------------------------------------ dendritic
_NEURON_KEYS = ("C", "Ut", "kn", "kp", "Itau", "Ith", "Ispkthr", "Ireset", "Iconst")


def dendritic_graph(
    weights: Mapping[str, Array],
    chip: Mapping[tuple[str, str], Array],
    model,
    sizes: Mapping[str, int],
    metadata: Mapping[str, Any] | None = None,
):
    """NIR graph ``input -> in_p -> P -> p_r -> R -> output`` of the dendritic network.

    Parameters
    ----------
    weights
        Flat ``connect(True)``-order weights (presynaptic index major) of ``in_p`` and ``p_r``
        (units of ``Iw0``); other projections are stored as training-only metadata.
    chip
        :func:`~dendritic_snn.dendritic.network.chip_values` of the run.
    model
        :class:`~dendritic_snn.dendritic.network.ModelParams` of the run.
    sizes
        ``{"IN": n_in, "P": n_p, "R": n_r}``.
    metadata
        Extra graph metadata.
    """
    from ..hardware.dpi import membrane_tau, synapse_tau

    nir = _nir()
    i_ref = float(model.I_ref)
    c_b = model.coupling(model.alpha_B)
    layers, neurons = [], []
    for proj, src, pop in (("in_p", "IN", "P"), ("p_r", "P", "R")):
        n_pre, n = sizes[src], sizes[pop]
        w = np.asarray(weights[proj], np.float64).reshape(n_pre, n)
        syn = {p: np.asarray(chip[(pop, f"{p}_syn_bas")], np.float64)
               for p in ("C", "Ut", "kn", "kp", "Itau", "Ith")}  # fmt: skip
        neu = {p: np.asarray(chip[(pop, p)], np.float64) for p in _NEURON_KEYS}
        iw0 = np.asarray(chip[(pop, "Iw0_bas")], np.float64)
        tau_syn = np.asarray(synapse_tau(syn), np.float64)
        jump = c_b * w * (iw0 * syn["Ith"] / syn["Itau"])[None, :] / i_ref
        if (pop, "Iw0_bai") in chip:  # signed readout: w < 0 through the inhibitory basal DPI
            unit_bai = (
                chip[(pop, "Iw0_bai")] * chip[(pop, "Ith_syn_bai")] / chip[(pop, "Itau_syn_bai")]
            )
            jump = np.where(
                w < 0, c_b * w * np.asarray(unit_bai, np.float64)[None, :] / i_ref, jump
            )
        layers.append((jump.T, neu["Iconst"] / (i_ref * tau_syn)))
        neurons.append(
            nir.CubaLIF(
                tau_syn=tau_syn,
                tau_mem=np.asarray(membrane_tau(neu), np.float64),
                r=neu["Ith"] / neu["Itau"],
                v_leak=_full(n, 0.0),
                v_threshold=neu["Ispkthr"] / i_ref,
                v_reset=neu["Ireset"] / i_ref,
                w_in=tau_syn.copy(),
            )
        )
    meta = {
        "model": "dendritic",
        "neuron_mapping": "DPI neuron + basal DPI synapse -> CubaLIF; currents in units of "
        "I_ref, tau in s; w_in = tau_syn so affine weights are per-spike current jumps",
        "I_ref_A": i_ref,
        "tau_S_s": float(model.tau_S),
        "c_B": float(c_b),
        **(metadata or {}),
    }
    return to_nir_graph(
        layers,
        neurons,
        neuron_names=["P", "R"],
        affine_names=["in_p", "p_r"],
        metadata=_h5_safe(meta),
    )


def load_nir(path: Path | str):
    """Read a NIR file (``nir.read``); :class:`DsnnError` if it is missing or unreadable."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise DsnnError(f"{path}: no such NIR file")
    try:
        return nir.read(str(path))
    except (OSError, KeyError, ValueError) as err:
        raise DsnnError(f"{path}: unreadable NIR file ({err})") from None
