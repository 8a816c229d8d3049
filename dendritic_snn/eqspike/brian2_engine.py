r"""Brian2 reference engine for EqSpike (small networks, one example at a time).

The same discrete step map as :mod:`dendritic_snn.eqspike.engine` (module docstring there),
written as Brian2 objects on a clock of one engine step (``dt = 1 ms`` stands for one step):
neurons update membrane, traces, differentiator and comparator in a ``run_regularly`` block
in the ``groups`` slot, spikes are emitted by the threshold ``s > 0.5``; one ``Synapses``
object per weight layer carries the weight, delivers ``w`` to the post neuron on pre spikes
(and, for hidden<->output, to the pre neuron on post spikes: symmetric weights) and counts
the strobes ``polarity * G`` of the other side. Matched chips only (no mismatch), float64.
Both comparator readings (``config.comparator``: RC differentiator or held reference).
"""

from __future__ import annotations

import numpy as np

from .eqspike import ChipParams, EqSpikeConfig

_NEURON = """
v : 1
s : 1
y1 : 1
y2 : 1
d : 1
g : 1
ref : 1
track : 1 (shared)
I_in : 1
I_const : 1
r : 1
target : 1
beta : 1 (shared)
theta : 1 (shared)
"""

_STEP = """
nudge = beta * (target - r)
vn = clip(v + (I_const + I_in + nudge - {leak}), 0, 3)
s = int(vn >= 1)
v = vn - s
I_in = 0
pulse = {amp} * s
up1 = int(pulse > y1)
up2 = int(y1 > y2)
a1 = up1 * {ar} + (1 - up1) * {ad}
a2 = up2 * {ar} + (1 - up2) * {ad}
t1 = up1 * {kr} + (1 - up1) * {kd}
t2 = up2 * {kr} + (1 - up2) * {kd}
same = int(abs(t1 - t2) <= 1e-6 * t2)
coupling = same * a2 / t2 + (1 - same) * t1 * (a1 - a2) / (t1 - t2 + same)
y2n = pulse + a2 * (y2 - pulse) + coupling * (y1 - pulse)
y1 = pulse + a1 * (y1 - pulse)
{comparator}
y2 = y2n
g = int(d > theta) - int(d < -theta)
r = r + (s - r) / {tau_n}
"""


def run_brian2(
    config: EqSpikeConfig,
    chip: ChipParams,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    x: np.ndarray,
    label: int,
    u0: np.ndarray,
    beta: float,
    polarity: float = 1.0,
) -> dict:
    """One example: ``n_free`` free steps then ``n_nudge`` nudged steps (``beta``).

    Returns spike counts per neuron of each phase (``free_h``, ``free_o``, ``nudge_h``,
    ``nudge_o``) and the strobe counts of the nudged phase, ``net0`` (n0, n1) and ``net1``
    (n1, n2), as the batched engine accumulates them (``S_in^T G_h`` and
    ``S_h^T G_o + G_h^T S_o``).
    """
    import brian2 as b2

    if not chip.matched:
        raise ValueError("run_brian2: matched chips only")
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    b2.defaultclock.dt = 1 * b2.ms
    n0, n1, n2 = config.sizes
    fmt = {
        "leak": float(chip.leak[0][0]),
        "amp": chip.duty * chip.v_spike,
        "ar": float(chip.a_rise[0][0]),
        "ad": float(chip.a_decay[0][0]),
        "kr": float(chip.k_rise[0][0]),
        "kd": float(chip.k_decay[0][0]),
        "aD": float(chip.a_der[0][0]),
        "tD": float(chip.tau_der[0][0]),
        "tau_n": float(config.tau_nudge),
    }
    if config.comparator == "held":
        fmt["comparator"] = f"d = y2n - ref\nref = ref + track * (y2n - ref) / {config.ref_tau}"
    else:
        fmt["comparator"] = "d = {aD} * d + (1 - {aD}) * {tD} * (y2n - y2)".format(**fmt)
    groups = []
    for n, name in ((n1, "hidden"), (n2, "output")):
        group = b2.NeuronGroup(n, _NEURON, threshold="s > 0.5", reset="", name=name)
        group.run_regularly(_STEP.format(**fmt), when="groups", name=f"{name}_step")
        group.theta = float(chip.theta[0][0])
        group.track = 1.0  # held comparator: the reference tracks in the free phase
        groups.append(group)
    hidden, output = groups
    hidden.I_const = (np.asarray(x, float) @ weights[0] + biases[0]).astype(float)
    output.I_const = biases[1].astype(float)
    inputs = b2.NeuronGroup(
        n0, "u : 1\nxin : 1\nspk : 1", threshold="spk > 0.5", reset="", name="inputs"
    )
    inputs.run_regularly("u = u + xin\nspk = int(u >= 1)\nu = u - spk", when="groups", order=1)
    inputs.u, inputs.xin = u0, x
    syn1 = b2.Synapses(
        hidden,
        output,
        "w : 1\ncnt : 1\npol : 1 (shared)",
        on_pre="I_in_post += w\ncnt += pol * g_post",
        on_post="I_in_pre += w" + ("\ncnt += pol * g_pre" if config.strobes == "both" else ""),
        name="w1",
    )
    syn1.connect()
    syn1.w = weights[1].ravel()
    syn0 = b2.Synapses(
        inputs, hidden, "cnt : 1\npol : 1 (shared)", on_pre="cnt += pol * g_post", name="w0"
    )
    syn0.connect()
    mon = [b2.SpikeMonitor(hidden, record=False), b2.SpikeMonitor(output, record=False)]
    net = b2.Network(hidden, output, inputs, syn1, syn0, *mon)
    syn1.pol = 0.0
    syn0.pol = 0.0
    net.run(config.n_free * b2.ms, namespace={})
    free = [np.array(m.count) for m in mon]
    target = np.zeros(n2)
    target[label] = 1.0
    output.target = target
    output.beta = beta
    hidden.track = output.track = 0.0
    syn1.pol = polarity
    syn0.pol = polarity
    net.run(config.n_nudge * b2.ms, namespace={})
    total = [np.array(m.count) for m in mon]
    return {
        "free_h": free[0],
        "free_o": free[1],
        "nudge_h": total[0] - free[0],
        "nudge_o": total[1] - free[1],
        "net0": np.array(syn0.cnt).reshape(n0, n1),
        "net1": np.array(syn1.cnt).reshape(n1, n2),
    }
