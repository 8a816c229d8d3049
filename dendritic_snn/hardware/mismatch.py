"""Device mismatch: seeded, independent, truncated relative variation of block parameters.

Each parameter ``p`` of each of ``n`` instances becomes

.. math:: p_i = p\\,(1 + \\sigma z_i), \\qquad z_i \\sim \\mathcal{N}(0, 1)
   \\text{ truncated to } [\\max(-k, (f_{min}-1)/\\sigma),\\ k]

with ``k`` the profile's ``truncate_sigmas`` and ``f_min`` a floor that keeps every value
positive (physical). This is the one seeding scheme of every chip in the package: the random
stream of one parameter is the named stream ``seeded_rng(seed, "mismatch", key)``
(:mod:`dendritic_snn.seeding`) with ``key = "[instance/]role.parameter"``, where ``seed`` is
the chip (run) seed and ``instance`` names one circuit of the chip (a population such as
``"P"``, or one synapse type of it, :func:`synapse_instance`), so

* the same seed gives the same chip, whatever else is sampled or in which order;
* different instances of one block on a chip are different circuits (independent draws);
* draws are independent across parameters and instances (teili reseeded before every
  parameter, which made them perfectly correlated: this module does not);
* a NumPy parameter array and a Brian2 group get identical values for the same key;
* ordered pairs of a block (``blocks.ORDERED``, e.g. Schmitt ``V_fall < V_rise``) stay
  ordered: in the rare joint tail where they would cross, the lower one is clipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..seeding import seeded_rng
from .blocks import ORDERED

if TYPE_CHECKING:
    from .profiles import Profile

#: Smallest allowed factor p_i / p: values stay strictly positive.
MIN_FACTOR = 0.05


def mismatch_factors(
    sigma: float,
    size: int | tuple[int, ...],
    seed: int,
    key: str,
    truncate_sigmas: float = 3.0,
) -> np.ndarray:
    """Multiplicative factors ``1 + sigma*z`` with ``z`` a truncated standard normal.

    Parameters
    ----------
    sigma
        Relative standard deviation, in [0, 1).
    size
        Number (or shape) of instances.
    seed
        Chip seed.
    key
        Name of the parameter (e.g. ``"neuron.Itau"``); different keys give independent draws.
    truncate_sigmas
        Truncation ``k`` in units of sigma.

    Returns
    -------
    numpy.ndarray
        Factors, all >= ``MIN_FACTOR``; exactly 1 when ``sigma`` is 0.
    """
    if not 0.0 <= sigma < 1.0:
        raise ValueError(f"mismatch sigma {sigma} outside [0, 1)")
    if sigma == 0.0:
        return np.ones(size)
    from scipy.stats import truncnorm  # about a second to import: only when drawing

    lower = max(-truncate_sigmas, (MIN_FACTOR - 1.0) / sigma)
    z = truncnorm.rvs(
        lower, truncate_sigmas, size=size, random_state=seeded_rng(seed, "mismatch", key)
    )
    return 1.0 + sigma * z


def synapse_instance(instance: str, syn_type: str) -> str:
    """Instance name of the synapse circuits of type ``syn_type`` of ``instance``."""
    return f"{instance}/syn_{syn_type}" if instance else f"syn_{syn_type}"


def sample_block(
    profile: Profile,
    role: str,
    n: int,
    seed: int,
    params: list[str] | None = None,
    instance: str = "",
) -> dict[str, np.ndarray]:
    """Per-instance values of a block's parameters on one mismatched chip.

    Parameters
    ----------
    profile
        The hardware profile (gives nominal values and sigmas).
    role
        Block role, e.g. ``"neuron"``.
    n
        Number of instances (neurons, synapses).
    seed
        Chip seed.
    params
        Subset of parameters (default: all of the block's).
    instance
        Name of this circuit on the chip (e.g. ``"P"``); blocks of one role with different
        instance names get independent values, the same name the same values.

    Returns
    -------
    dict
        ``{param: array of n SI values}``.
    """
    nominal = profile.params[role]
    names = list(nominal) if params is None else params
    prefix = f"{instance}/" if instance else ""
    values = {
        name: nominal[name]
        * mismatch_factors(
            profile.sigma(role, name), n, seed, f"{prefix}{role}.{name}", profile.truncate_sigmas
        )
        for name in names
    }
    for lower, upper in ORDERED.get(profile.models[role], []):
        if lower in values and upper in values:
            # a rare joint tail could invert an ordered pair: keep the circuit physical
            values[lower] = np.minimum(values[lower], values[upper] * (1 - 1e-3))
    return values
