"""Seeded spatio-temporal spike patterns with identical rates (Cartiglia et al. 2020).

Cartiglia, Haessig & Indiveri (AICAS 2020) train a dendritic-error network to tell apart
patterns of "128 spikes for a 200 ms pattern, distributed on 32 input neurons" that have
"identical mean firing rates, but different spike-timings". This module generates such
patterns.

Every pattern has exactly the same spike count on every channel:

.. math:: c_i = \\lfloor N / C \\rfloor + [i \\in R], \\qquad \\sum_i c_i = N,

where :math:`N` is ``n_spikes``, :math:`C` is ``n_channels``, and :math:`R` is a set of
:math:`N \\bmod C` channels. :math:`R` is drawn once and shared by all patterns. Patterns
therefore differ only in spike timing: per-channel counts and rates :math:`c_i / T` are the
same in every pattern.

Within a channel, the :math:`c` spike times are uniform on :math:`[0, T)` subject to a
minimum inter-spike interval :math:`\\Delta` (``min_isi``, a refractory-like constraint):

.. math:: t_{(j)} = u_{(j)} + j\\,\\Delta, \\qquad
   u_{(0)} \\le \\dots \\le u_{(c-1)} \\ \\text{sorted i.i.d.}\\ \\mathcal{U}[0, T - (c-1)\\Delta).

This is an exact sample from the uniform distribution on
:math:`\\{0 \\le t_0 < \\dots < t_{c-1} < T : t_{j+1} - t_j \\ge \\Delta\\}`. With
:math:`\\Delta \\ge dt`, no two spikes of one channel fall in the same simulation step.

Times are in seconds (plain floats). ``(indices, times)`` arrays from :func:`concatenate`
can be passed to ``brian2.SpikeGeneratorGroup(n, indices, times * second)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DsnnError

__all__ = [
    "SpikePattern",
    "concatenate",
    "drop_same_step",
    "make_patterns",
    "perturb",
    "poisson_train",
    "regular_train",
    "step_index",
]

#: Default simulation step (s) used for same-step duplicate removal.
DEFAULT_DT = 1e-4


def step_index(times: ArrayLike, dt: float) -> NDArray[np.int64]:
    """Simulation step into which Brian2's ``SpikeGeneratorGroup`` puts each spike time.

    Matches Brian2 2.9 (``SpikeGeneratorGroup.before_run``):

    .. math:: k = \\left\\lfloor \\frac{t + 10^{-3}\\,dt}{dt} \\right\\rfloor

    The small shift keeps a time that is an exact multiple of ``dt`` from being rounded into the
    previous bin.

    Parameters
    ----------
    times
        Spike times (s), non-negative.
    dt
        Simulation step (s).

    Returns
    -------
    numpy.ndarray
        Integer step indices.
    """
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    t = np.asarray(times, dtype=float)
    return np.floor((t + 1e-3 * dt) / dt).astype(np.int64)


def _sort_spikes(
    indices: NDArray[np.int64], times: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Sort by time, and by channel index for equal times."""
    order = np.lexsort((indices, times))
    return indices[order], times[order]


@dataclass(frozen=True, eq=False)
class SpikePattern:
    """A finite spatio-temporal spike pattern on ``n_channels`` channels.

    Attributes
    ----------
    indices
        Channel of each spike (int64, in ``[0, n_channels)``).
    times
        Spike times (s, float64) relative to the pattern onset, in ``[0, duration)``, sorted
        by time (ties broken by channel index).
    n_channels
        Number of input channels.
    duration
        Pattern length :math:`T` (s).

    Notes
    -----
    The constructor copies and sorts the arrays and checks that they are valid.
    """

    indices: NDArray[np.int64]
    times: NDArray[np.float64]
    n_channels: int
    duration: float

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices, dtype=np.int64).ravel().copy()
        t = np.asarray(self.times, dtype=np.float64).ravel().copy()
        if idx.shape != t.shape:
            raise ValueError(f"indices {idx.shape} and times {t.shape} differ in length")
        if self.n_channels < 1 or self.duration <= 0:
            raise ValueError("n_channels must be >= 1 and duration > 0")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_channels):
            raise ValueError(f"channel indices outside [0, {self.n_channels})")
        if t.size and (not np.all(np.isfinite(t)) or t.min() < 0 or t.max() >= self.duration):
            raise ValueError(f"spike times outside [0, {self.duration})")
        idx, t = _sort_spikes(idx, t)
        idx.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "n_channels", int(self.n_channels))
        object.__setattr__(self, "duration", float(self.duration))

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def n_spikes(self) -> int:
        """Total number of spikes."""
        return len(self)

    def counts(self) -> NDArray[np.int64]:
        """Spike count per channel, shape ``(n_channels,)``."""
        return np.bincount(self.indices, minlength=self.n_channels).astype(np.int64)

    def rates(self) -> NDArray[np.float64]:
        """Mean rate per channel, :math:`r_i = c_i / T` (Hz)."""
        return self.counts() / self.duration

    def trains(self) -> list[NDArray[np.float64]]:
        """Sorted spike times of each channel (list of ``n_channels`` arrays)."""
        return [self.times[self.indices == i] for i in range(self.n_channels)]

    def shifted(self, onset: float) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Absolute ``(indices, times)`` of this pattern presented at ``onset``.

        Parameters
        ----------
        onset
            Presentation start (s); the returned times are :math:`t_j + \\text{onset}`.

        Returns
        -------
        tuple of numpy.ndarray
            Copies of the indices and the shifted times.
        """
        return self.indices.copy(), self.times + float(onset)


def make_patterns(
    k: int,
    n_channels: int = 32,
    n_spikes: int = 128,
    duration: float = 0.2,
    seed: int = 0,
    min_isi: float = 1e-3,
) -> list[SpikePattern]:
    """Generate ``k`` patterns with identical per-channel spike counts and different timings.

    Per-channel counts :math:`c_i = \\lfloor N/C \\rfloor + [i \\in R]` are the same in every
    pattern. :math:`R` holds :math:`N \\bmod C` channels, drawn once from the seeded
    generator. The times of each channel are an exact uniform sample on :math:`[0, T)` with
    minimum interval :math:`\\Delta`
    (:math:`t_{(j)} = u_{(j)} + j\\Delta`, :math:`u \\sim \\mathcal{U}[0, T - (c-1)\\Delta)`),
    drawn independently for every pattern and channel.

    Parameters
    ----------
    k
        Number of patterns.
    n_channels
        Number of input channels :math:`C` (32 in Cartiglia 2020).
    n_spikes
        Spikes per pattern :math:`N` (128 in Cartiglia 2020, i.e. 4 per channel, 20 Hz).
    duration
        Pattern length :math:`T` in s (0.2 in Cartiglia 2020).
    seed
        Seed of ``numpy.random.default_rng``. Draws are sequential, so pattern ``j`` is the
        same whatever ``k > j``.
    min_isi
        Minimum inter-spike interval :math:`\\Delta` within a channel (s). Use
        :math:`\\Delta \\ge dt` so that no two spikes of a channel share a simulation step.

    Returns
    -------
    list of SpikePattern
        ``k`` patterns of exactly ``n_spikes`` spikes.
    """
    if k < 1 or n_channels < 1 or n_spikes < 0:
        raise ValueError("need k >= 1, n_channels >= 1, n_spikes >= 0")
    if duration <= 0 or min_isi < 0:
        raise ValueError("need duration > 0 and min_isi >= 0")
    base, rem = divmod(n_spikes, n_channels)
    c_max = base + (rem > 0)
    if c_max > 1 and (c_max - 1) * min_isi >= duration:
        raise DsnnError(
            f"n_spikes={n_spikes} on {n_channels} channels: {c_max} spikes per channel with "
            f"min_isi={min_isi} s do not fit in duration={duration} s"
        )
    rng = np.random.default_rng(seed)
    counts = np.full(n_channels, base, dtype=np.int64)
    counts[rng.choice(n_channels, size=rem, replace=False)] += 1

    t_last = np.nextafter(duration, 0.0)
    patterns = []
    for _ in range(k):
        idx_parts, t_parts = [], []
        for ch, c in enumerate(counts):
            if c == 0:
                continue
            span = duration - (c - 1) * min_isi
            u = np.sort(rng.uniform(0.0, span, size=c))
            t = np.minimum(u + np.arange(c) * min_isi, t_last)
            idx_parts.append(np.full(c, ch, dtype=np.int64))
            t_parts.append(t)
        idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
        times = np.concatenate(t_parts) if t_parts else np.zeros(0)
        patterns.append(SpikePattern(idx, times, n_channels, duration))
    return patterns


def _reflect(t: NDArray[np.float64], duration: float) -> NDArray[np.float64]:
    """Fold times into ``[0, duration)`` by mirror reflection at 0 and ``duration``."""
    m = np.mod(t, 2.0 * duration)
    out = np.where(m < duration, m, 2.0 * duration - m)
    return np.minimum(out, np.nextafter(duration, 0.0))


def perturb(
    pattern: SpikePattern,
    rng: np.random.Generator | int | None,
    jitter_sd: float = 2e-3,
    deletion: float = 0.1,
) -> SpikePattern:
    """A noisy copy of a pattern: independent spike deletion and Gaussian time jitter.

    Each spike is kept with probability :math:`1 - p_{del}`. A kept spike gets the new time

    .. math::

       t' = \\mathcal{R}_T\\bigl(t + \\sigma\\,\\xi\\bigr), \\qquad \\xi \\sim \\mathcal{N}(0, 1),

    where :math:`\\mathcal{R}_T` reflects the time back into :math:`[0, T)` at both edges
    (periodically, for large jitter). Each call makes a fresh test presentation that was never
    seen in training.

    Parameters
    ----------
    pattern
        The clean pattern.
    rng
        ``numpy.random.Generator``, or a seed for ``default_rng``.
    jitter_sd
        Jitter standard deviation :math:`\\sigma` (s).
    deletion
        Deletion probability :math:`p_{del}` per spike, in ``[0, 1]``.

    Returns
    -------
    SpikePattern
        The perturbed pattern, with the same ``n_channels`` and ``duration``.

    Notes
    -----
    Jitter can bring two spikes of a channel closer than the generator's ``min_isi``, or into
    the same simulation step. :func:`concatenate` and :func:`drop_same_step` remove same-step
    duplicates before the spikes go to Brian2.
    """
    if jitter_sd < 0 or not 0.0 <= deletion <= 1.0:
        raise ValueError("need jitter_sd >= 0 and deletion in [0, 1]")
    gen = np.random.default_rng(rng)
    n = len(pattern)
    keep = gen.random(n) >= deletion
    jitter = gen.normal(0.0, 1.0, size=n) * jitter_sd
    t = _reflect(pattern.times + jitter, pattern.duration)[keep]
    return SpikePattern(pattern.indices[keep], t, pattern.n_channels, pattern.duration)


def drop_same_step(
    indices: ArrayLike, times: ArrayLike, dt: float = DEFAULT_DT
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Keep only the earliest spike of each ``(channel, step)`` pair, sorted by time.

    Brian2's ``SpikeGeneratorGroup`` raises an error if a neuron spikes twice in one step,
    where the step is :func:`step_index`. This function keeps the first spike of each such
    group, which merges the duplicates into one spike.

    Parameters
    ----------
    indices, times
        Spike channels and times (s), in any order.
    dt
        Simulation step (s).

    Returns
    -------
    tuple of numpy.ndarray
        ``(indices, times)`` with no same-step duplicates, sorted by time then by index.
    """
    idx = np.asarray(indices, dtype=np.int64).ravel()
    t = np.asarray(times, dtype=np.float64).ravel()
    if idx.shape != t.shape:
        raise ValueError("indices and times differ in length")
    if t.size == 0:
        return idx.copy(), t.copy()
    steps = step_index(t, dt)
    order = np.lexsort((t, steps, idx))
    idx_s, steps_s = idx[order], steps[order]
    first = np.ones(idx_s.size, dtype=bool)
    first[1:] = (idx_s[1:] != idx_s[:-1]) | (steps_s[1:] != steps_s[:-1])
    return _sort_spikes(idx_s[first], t[order][first])


def concatenate(
    segments: Iterable[tuple[SpikePattern | None, float]], dt: float | None = DEFAULT_DT
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Build a long input spike train from ``(pattern, onset)`` pieces.

    The result is the union of :math:`\\{(i_j, t_j + \\text{onset})\\}` over all segments.
    When ``dt`` is given, same-step duplicates are removed with :func:`drop_same_step`.

    Parameters
    ----------
    segments
        ``(pattern, onset)`` pairs, onset in s and non-negative. A ``None`` pattern stands for
        a silent segment and adds nothing. Segments may overlap. All patterns must have the
        same ``n_channels``.
    dt
        Simulation step (s) for duplicate removal, or ``None`` to keep every spike.

    Returns
    -------
    tuple of numpy.ndarray
        ``(indices, times)`` sorted by time, ready for
        ``SpikeGeneratorGroup(n_channels, indices, times * second)``.
    """
    idx_parts: list[NDArray[np.int64]] = []
    t_parts: list[NDArray[np.float64]] = []
    n_channels: int | None = None
    for pattern, onset in segments:
        if pattern is None:
            continue
        if onset < 0:
            raise ValueError(f"negative onset {onset}")
        if n_channels is None:
            n_channels = pattern.n_channels
        elif pattern.n_channels != n_channels:
            raise ValueError("patterns with different n_channels cannot be concatenated")
        i, t = pattern.shifted(onset)
        idx_parts.append(i)
        t_parts.append(t)
    idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
    times = np.concatenate(t_parts) if t_parts else np.zeros(0)
    if dt is None:
        return _sort_spikes(idx, times)
    return drop_same_step(idx, times, dt)


def regular_train(rate: float, start: float, stop: float) -> NDArray[np.float64]:
    """Regular spike times :math:`t_k = t_0 + k/r` with :math:`t_0 \\le t_k < t_1`.

    This is for a teacher signal; Cartiglia 2020 uses 900 Hz. The count is
    :math:`\\lceil (t_1 - t_0)\\,r \\rceil`, with a small tolerance so that, e.g., 900 Hz over
    0.2 s gives exactly 180 spikes.

    Parameters
    ----------
    rate
        Rate :math:`r` (Hz), positive.
    start, stop
        Window :math:`[t_0, t_1)` (s).

    Returns
    -------
    numpy.ndarray
        Sorted spike times (s). For a one-neuron ``SpikeGeneratorGroup`` use indices
        ``np.zeros(len(times), int)``. If ``1/rate < dt``, two spikes share a simulation step.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    x = (stop - start) * rate
    if x <= 0:
        return np.zeros(0)
    n = int(np.ceil(x - 1e-9 * max(1.0, x)))
    return start + np.arange(n) / rate


def poisson_train(
    rate: float,
    start: float,
    stop: float,
    rng: np.random.Generator | int | None,
    dt: float | None = None,
) -> NDArray[np.float64]:
    """Homogeneous Poisson spike times on :math:`[t_0, t_1)`.

    The count is :math:`n \\sim \\mathrm{Poisson}(r (t_1 - t_0))` and the times are i.i.d.
    :math:`\\mathcal{U}[t_0, t_1)`, sorted.

    Parameters
    ----------
    rate
        Rate :math:`r` (Hz), non-negative.
    start, stop
        Window (s).
    rng
        ``numpy.random.Generator``, or a seed for ``default_rng``.
    dt
        If given, keep only the first spike of each simulation step (:func:`drop_same_step`).
        At 900 Hz and 0.1 ms this removes about 4.4 % of the spikes.

    Returns
    -------
    numpy.ndarray
        Sorted spike times (s).
    """
    if rate < 0:
        raise ValueError(f"rate must be non-negative, got {rate}")
    gen = np.random.default_rng(rng)
    span = max(stop - start, 0.0)
    n = gen.poisson(rate * span)
    t = np.sort(gen.uniform(start, start + span, size=n)) if n else np.zeros(0)
    t = t[t < stop]
    if dt is not None:
        _, t = drop_same_step(np.zeros(t.size, np.int64), t, dt)
    return t
