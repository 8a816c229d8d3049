"""Synaptic scaling: hold the weight sum of each postsynaptic neuron (columns of ``w``).

Two normalisations of a weight matrix ``w[i, j]`` (presynaptic ``i``, postsynaptic ``j``)
to column sums :math:`S_j`, both clipped to :math:`[0, w_{max}]`:

* **multiplicative** (:func:`scale_to_sums`), :math:`w_{ij} \\leftarrow
  \\mathrm{clip}(w_{ij} S_j / \\sum_i w_{ij})`: keeps the ratios of the weights, so a weight
  that a multiplicative Hebbian rule has made large stays large (the weight concentrates on
  one or two inputs);
* **subtractive** (:func:`subtract_to_sums`), :math:`w_{ij} \\leftarrow
  \\mathrm{clip}(w_{ij} - c_j, 0, w_{max})` with :math:`c_j` such that the sum is
  :math:`S_j` (the Euclidean projection onto the capped simplex): every weight loses the same
  amount, so the inputs that the rule does not potentiate are pruned to 0 and at least
  :math:`S_j / w_{max}` inputs keep weight (Miller & MacKay 1994).
"""

from __future__ import annotations

import numpy as np

_BISECTIONS = 64  # halvings of the bracket of c_j: below the resolution of a double


def scale_to_sums(
    w: np.ndarray, sums: np.ndarray, w_max: float, gain: np.ndarray | float = 1.0
) -> np.ndarray:
    """Multiplicative scaling of each column so that its sum times ``gain`` is ``sums``, then
    clipped to ``[0, w_max]``; a column with no weight is left alone."""
    total = w.sum(axis=0) * gain
    factor = np.where(total > 0, sums / np.where(total > 0, total, 1.0), 1.0)
    return np.clip(w * factor[None, :], 0, w_max)


def subtract_to_sums(
    w: np.ndarray, sums: np.ndarray, w_max: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """Subtractive normalisation of each column to the sum ``sums`` within ``[0, w_max]``.

    Finds by bisection the shift :math:`c_j` with :math:`\\sum_i m_{ij}\\,
    \\mathrm{clip}(w_{ij} - c_j, 0, w_{max}) = S_j` (``m`` the 0/1 connection ``mask``; absent
    connections stay 0). A sum above :math:`w_{max}` times the number of connections gives
    every connection :math:`w_{max}`; a sum of 0 or less gives 0.
    """
    m = np.ones_like(w) if mask is None else np.asarray(mask, float).reshape(w.shape)
    sums = np.broadcast_to(np.asarray(sums, float), (w.shape[1],))

    def shifted(c: np.ndarray) -> np.ndarray:
        return np.clip(w - c[None, :], 0, w_max) * m

    lo = w.min(axis=0) - w_max  # every weight at w_max: the largest sum
    hi = w.max(axis=0)  # every weight at 0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        above = shifted(mid).sum(axis=0) > sums
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return shifted(hi)
