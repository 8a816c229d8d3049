r"""Energy per inference / training example: counted chip events vs a GPU running the same net.

Chip (:func:`dendritic_snn.hardware.energy.energy_report`): events counted by the engine on
probe examples (:func:`dendritic_snn.eqspike.engine.measure_events`) times the profile's
per-event energies, plus static power only while a block is powered (the neuron core during
every run, the learning blocks during training examples).

GPU: the same network run as rate-based EP in float32, step for step (``n_eval`` free steps
for an inference; ``n_free`` + ``n_nudge`` per nudged phase for a training example), at a
stated efficiency (:class:`GPUModel`). FLOPs (a multiply-accumulate = 2 FLOPs) of one example:

.. math::

    F_{inf} = 2\,[n_0 n_1 + T_{eval}\,2 n_1 n_2] + 4\,T_{eval}\,(n_1 + n_2),\qquad
    F_{train} = 2\,[(1 + P)\,n_0 n_1 + T\,2 n_1 n_2] + 4\,T\,(n_1 + n_2) + 4\,(n_0 n_1 + n_1 n_2)

(:math:`P` nudged phases, :math:`T = T_{free} + P\,T_{nudge}` steps; the input projection once
per phase; 4 FLOPs per neuron update; an outer product and an add per weight per update).
Memory traffic in bytes (float32) of one example in a minibatch of :math:`B`: the weights are
read once per step per minibatch (they do not stay in registers between the steps' kernel
launches, while the activations do not fit on-chip caches across a batch), the state is read
and written every step, and training writes every weight once:

.. math::

    M = \frac{4}{B}\,[P' n_0 n_1 + T' n_1 n_2] + 8\,T' (n_1 + n_2)
        + [\text{train}]\;\frac{8}{B}\,(n_0 n_1 + n_1 n_2)

(:math:`P'` = 1 or :math:`1 + P`, :math:`T'` = :math:`T_{eval}` or :math:`T`). Energy:
:math:`E = F\,e_{FLOP}/\eta + M\,e_{byte}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..hardware.energy import energy_report
from .engine import EqSpike, measure_events


@dataclass(frozen=True)
class GPUModel:
    """A GPU at a stated efficiency (defaults: an NVIDIA V100, the GPU of EqSpike's time).

    ``j_per_flop_peak``: board power / fp32 peak, 300 W / 15.7 TFLOP/s = 19 pJ/FLOP (V100
    SXM2 datasheet figures); ``efficiency``: achieved / peak FLOP rate for this workload
    (0.25, an assumption: minibatches of 50 rows through 500- and 10-wide layers, one
    kernel launch per step, leave most of the GPU idle); ``j_per_byte``:
    HBM2 DRAM access, ~3.9 pJ/bit = 31 pJ/byte (recalled from O'Connor et al., MICRO 2017;
    an assumption until checked); ``batch``: minibatch size over which a weight read is
    shared.
    """

    name: str = "V100 (300 W, 15.7 TFLOP/s fp32)"
    j_per_flop_peak: float = 300.0 / 15.7e12
    efficiency: float = 0.25
    j_per_byte: float = 31e-12
    batch: int = 50

    @property
    def j_per_flop(self) -> float:
        """Energy per FLOP at the stated efficiency [J]."""
        return self.j_per_flop_peak / self.efficiency


def gpu_counts(cfg, batch: int = 50) -> dict[str, dict[str, float]]:
    """FLOPs and bytes of memory traffic per inference and per training example."""
    n0, n1, n2 = cfg.sizes
    phases = 2 if cfg.nudge == "symmetric" else 1
    t_inf = cfg.n_eval
    t_train = cfg.n_free + phases * cfg.n_nudge
    flops_inf = 2 * (n0 * n1 + t_inf * 2 * n1 * n2) + 4 * t_inf * (n1 + n2)
    flops_train = (
        2 * ((1 + phases) * n0 * n1 + t_train * 2 * n1 * n2)
        + 4 * t_train * (n1 + n2)
        + 4 * (n0 * n1 + n1 * n2)
    )
    n_weights = n0 * n1 + n1 * n2
    bytes_inf = 4 / batch * (n0 * n1 + t_inf * n1 * n2) + 8 * t_inf * (n1 + n2)
    bytes_train = (
        4 / batch * ((1 + phases) * n0 * n1 + t_train * n1 * n2)
        + 8 * t_train * (n1 + n2)
        + 8 / batch * n_weights
    )
    return {
        "inference": {"flops": float(flops_inf), "bytes": float(bytes_inf)},
        "training": {"flops": float(flops_train), "bytes": float(bytes_train)},
    }


def gpu_flops(cfg) -> dict[str, float]:
    """FLOPs per inference and per training example of the equivalent rate-EP network."""
    counts = gpu_counts(cfg)
    return {k: v["flops"] for k, v in counts.items()}


def gpu_energy(cfg, gpu: GPUModel | None = None) -> dict:
    """GPU joules per inference / training example with their FLOP and memory parts."""
    gpu = gpu or GPUModel()
    out: dict = {"model": {**asdict(gpu), "j_per_flop": gpu.j_per_flop}}
    for kind, c in gpu_counts(cfg, gpu.batch).items():
        compute = c["flops"] * gpu.j_per_flop
        memory = c["bytes"] * gpu.j_per_byte
        out[kind] = {**c, "compute_J": compute, "memory_J": memory, "total_J": compute + memory}
    return out


def eqspike_energy(
    net: EqSpike,
    x: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    gpu: GPUModel | None = None,
) -> tuple[dict, dict]:
    """``(energy section, extra metrics)`` for a trained ``net`` measured on probe examples.

    The energy section is :func:`energy_report` plus ``gpu_estimate`` (:func:`gpu_energy`)
    and ``ratio_gpu_over_chip`` for inference and training.
    """
    counts = measure_events(net, x, labels, rng)
    report = energy_report(counts["inference"], counts["training"], net.profile)
    estimate = gpu_energy(net.config, gpu)
    report["gpu_estimate"] = {
        **estimate,
        "per_inference_J": estimate["inference"]["total_J"],
        "per_training_example_J": estimate["training"]["total_J"],
    }
    report["ratio_gpu_over_chip"] = {
        kind: estimate[kind]["total_J"] / report[f"per_{key}_J"] if report[f"per_{key}_J"] else None
        for kind, key in (("inference", "inference"), ("training", "training_example"))
    }
    extra = {
        "chip_mapping": net.chip.notes,
        "events_per_inference": vars(counts["inference"]),
        "events_per_training_example": vars(counts["training"]),
    }
    return report, extra
