r"""Energy per inference / training example: counted chip events vs a GPU estimate.

Chip (:func:`dendritic_snn.hardware.energy.energy_report`): events counted by the engine on
probe examples (:func:`dendritic_snn.eqspike.engine.measure_events`) times the profile's
per-event energies, plus static power x elapsed chip time (``cmos45_spiking_ep`` books all its
measured power as static: 73.86 uW per neuron, 8.79 uW per synapse circuit).

GPU (assumption, stated): the same network run as rate-based EP in float32 on a GPU, counted
in FLOPs (a multiply-accumulate = 2 FLOPs) at :data:`GPU_J_PER_FLOP` = 20 pJ/FLOP — an
A100/V100-class board at its FP32 peak (19.5 TFLOP/s at 400 W, 15.7 TFLOP/s at 300 W:
about 20 pJ/FLOP); real kernels at batch sizes of tens run far below peak, so this favours
the GPU.

.. math::

    F_{inf} = 2\,[n_0 n_1 + T_{eval}\,(2 n_1 n_2)] + T_{eval}\,4 (n_1 + n_2),\qquad
    F_{train} = 2\,[P\,n_0 n_1 + (T_{free} + P\,T_{nudge})\,2 n_1 n_2]
               + 4\,(n_0 n_1 + n_1 n_2)

(:math:`P` nudged phases; the input projection once per phase; 4 FLOPs per neuron update;
the update is an outer product and an add per weight per phase pair).
"""

from __future__ import annotations

import numpy as np

from ..hardware.energy import energy_report
from .engine import EqSpike, measure_events

#: GPU energy per FLOP [J] (see module docstring).
GPU_J_PER_FLOP = 20e-12


def gpu_flops(cfg) -> dict[str, float]:
    """FLOPs per inference and per training example of the equivalent rate-EP network."""
    n0, n1, n2 = cfg.sizes
    phases = 2 if cfg.nudge == "symmetric" else 1
    inf = 2 * (n0 * n1 + cfg.n_eval * 2 * n1 * n2) + cfg.n_eval * 4 * (n1 + n2)
    steps = cfg.n_free + phases * cfg.n_nudge
    train = (
        2 * (phases * n0 * n1 + steps * 2 * n1 * n2)
        + steps * 4 * (n1 + n2)
        + 4 * (n0 * n1 + n1 * n2)
    )
    return {"inference": float(inf), "training": float(train)}


def eqspike_energy(
    net: EqSpike, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[dict, dict]:
    """``(energy section, extra metrics)`` for a trained ``net`` measured on probe examples.

    The energy section is :func:`energy_report` plus ``gpu_estimate`` (FLOPs, J per FLOP,
    joules) and ``ratio_gpu_over_chip`` for inference and training.
    """
    counts = measure_events(net, x, labels, rng)
    report = energy_report(counts["inference"], counts["training"], net.profile)
    flops = gpu_flops(net.config)
    gpu = {k: flops[k] * GPU_J_PER_FLOP for k in flops}
    report["gpu_estimate"] = {
        "J_per_flop": GPU_J_PER_FLOP,
        "flops": flops,
        "per_inference_J": gpu["inference"],
        "per_training_example_J": gpu["training"],
    }
    report["ratio_gpu_over_chip"] = {
        "inference": gpu["inference"] / report["per_inference_J"]
        if report["per_inference_J"]
        else None,
        "training": gpu["training"] / report["per_training_example_J"]
        if report["per_training_example_J"]
        else None,
    }
    extra = {
        "chip_mapping": net.chip.notes,
        "events_per_inference": vars(counts["inference"]),
        "events_per_training_example": vars(counts["training"]),
    }
    return report, extra
