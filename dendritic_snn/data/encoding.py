r"""How each learner receives the other task family's data, so studies compare like with like.

The dendritic network is driven by spike trains on input channels; EqSpike and rate EP clamp an
input vector :math:`x \in [0, 1]^n` (EqSpike turns it into rate-coded spike trains on chip).
Crossing the task families needs two encodings:

Spatio-temporal pattern -> vector (EqSpike / rate EP on the pattern tasks)
    Time bins with a Gaussian window: channel :math:`c`, bin :math:`b` (centre
    :math:`t_b = (b + 1/2)\,T/B`) gets

    .. math:: x_{c,b} = \min\Big(1,\ \sum_{k:\,i_k = c}
              \exp\big(-(t_k - t_b)^2 / 2\sigma^2\big)\Big),
              \qquad \sigma = \text{sigma\_frac}\cdot T/B ,

    flattened channel-major to :math:`C \cdot B` inputs. With :math:`\sigma` of half a bin a
    spike counts mostly in its own bin and a little in its neighbours, so a 2 ms jitter moves
    :math:`x` smoothly instead of flipping a spike between bins. The timing information the
    dendritic network reads from coincidences is thus given to the vector learners as
    *where in time* each spike falls, at the resolution :math:`T/B`.

Image -> spike trains (the dendritic learner on MNIST-style images)
    Average pooling over ``pool`` x ``pool`` pixel blocks (784 -> 49 channels for ``pool=4``,
    keeping the network small enough for Brian2), then one Poisson train per channel with
    rate :math:`r_c = x_c\, r_{max}` for the presentation length :math:`T`: a rate code, the
    same one EqSpike's input neurons use on chip (there as regular sigma-delta trains).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .patterns import SpikePattern

__all__ = ["image_spikes", "pattern_vector", "pool_images"]


def pattern_vector(pattern: SpikePattern, n_bins: int, sigma_frac: float = 0.5) -> NDArray:
    """Gaussian-window time-bin code of ``pattern``, shape ``(n_channels * n_bins,)``.

    Parameters
    ----------
    pattern
        The spike pattern (times in ``[0, duration)``).
    n_bins
        Time bins :math:`B` per channel.
    sigma_frac
        Window width :math:`\\sigma` in units of the bin width (> 0).
    """
    if n_bins < 1 or sigma_frac <= 0:
        raise ValueError("n_bins must be >= 1 and sigma_frac > 0")
    width = pattern.duration / n_bins
    centres = (np.arange(n_bins) + 0.5) * width
    sigma = sigma_frac * width
    x = np.zeros((pattern.n_channels, n_bins))
    if len(pattern):
        weights = np.exp(-((pattern.times[:, None] - centres[None, :]) ** 2) / (2 * sigma**2))
        np.add.at(x, pattern.indices, weights)
    return np.minimum(x, 1.0).ravel()


def pool_images(x: NDArray, pool: int, side: int = 28) -> NDArray:
    """Average-pool flattened ``side`` x ``side`` images over ``pool`` x ``pool`` blocks."""
    if pool < 1 or side % pool:
        raise ValueError(f"pool {pool} must divide the image side {side}")
    n = side // pool
    blocks = np.asarray(x, float).reshape(-1, n, pool, n, pool)
    return blocks.mean(axis=(2, 4)).reshape(len(blocks), n * n)


def image_spikes(
    x: NDArray, max_rate: float, duration: float, rng: np.random.Generator
) -> SpikePattern:
    """Poisson rate code of one (pooled) image: channel ``c`` fires at ``x[c] * max_rate`` Hz.

    Spike counts are Poisson with mean :math:`x_c r_{max} T`, times uniform on
    :math:`[0, T)` (a homogeneous Poisson process conditioned on its count).
    """
    x = np.clip(np.asarray(x, float), 0.0, 1.0)
    counts = rng.poisson(x * max_rate * duration)
    indices = np.repeat(np.arange(len(x)), counts)
    times = rng.uniform(0.0, duration, size=len(indices))
    return SpikePattern(indices, times, len(x), duration)
