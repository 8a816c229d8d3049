"""Training the memcapacitive network: circuit-nonlinearity-aware vs naive (ideal, then mapped).

Weights are in units of the device range (``w = w_max (C+ - C-)/(C_max - C_min)``), one
``(n_pre + 1, n_post)`` array per layer with the bias row last. With nominal devices a layer's
pre-activation at the end of its window is

.. math:: u = \\kappa\\, a\\, W, \\qquad \\kappa = V_{read}(C_{max} - C_{min})/C_{mem}

where ``a`` are the pulse counts of the inputs (bias line: ``T``). Three forward modes share
this and one backward pass (NumPy, minibatch Adam, softmax cross-entropy on ``y_out / tau``):

``aware``
    The circuit itself (nominal): weights clipped to ``w_max`` and quantised to the device
    states, integer pulse counts, the play-operator (hysteretic) transfer of the trajectory
    ``u(t)`` (:mod:`.network`). Backward: straight-through estimators for quantisation,
    rounding and the play operator (``dp/du = 1``), and the derivative of the smooth
    surrogate :func:`~dendritic_snn.hardware.memcap.smooth_transfer` at the play state ``p``.
``surrogate``
    The smooth surrogate end to end (float weights, real-valued rates ``a = T y / V_sat``, no
    hysteresis): the backward pass is its exact gradient (checked by finite differences).
``ideal``
    The "naive" software network: float weights, rectified-linear hidden units with the
    circuit's gain and no threshold, saturation or hysteresis (``y = g max(u, 0)``), linear
    outputs (``y_out = u``). After training, :func:`map_naive` scales each layer into the
    device range and the circuit quantises it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import log_softmax, softmax

from ..data.datasets import random_shift
from ..hardware import memcap
from .network import cumulative_pulses, input_counts, kappa, output_counts, play, with_bias

FArray = NDArray[np.float64]
Mode = Literal["aware", "surrogate", "ideal"]
MODES = ("aware", "surrogate", "ideal")


@dataclass(frozen=True)
class MemcapConfig:
    """Hyperparameters (defaults are the ``memcap_*`` fields of ``tasks/mnist.yaml``).

    ``tau`` [V]: softmax temperature of the output voltages; ``beta`` [1/V]: sharpness of the
    surrogate; ``init_scale``: initial pre-activation spread in units of 0.5 V.
    """

    hidden: int = 100
    window: int = 16
    epochs: int = 20
    batch_size: int = 32
    lr: float = 5e-3
    tau: float = 0.1
    beta: float = 5.0
    init_scale: float = 1.0
    w_max: float = 1.0
    augment_shift: int = 0


@dataclass
class Cache:
    """Per-layer inputs with bias ``a``, weights used ``w``, surrogate points ``s``, outputs
    ``y``; and ``logits``."""

    a: list[FArray] = field(default_factory=list)
    w: list[FArray] = field(default_factory=list)
    s: list[FArray] = field(default_factory=list)
    y: list[FArray] = field(default_factory=list)
    logits: FArray | None = None


def quantise(w: FArray, levels: int, w_max: float = 1.0) -> FArray:
    """Weights the circuit realises: ``sign(w) round(min(|w|, w_max)/step) step`` with
    ``step = w_max / (levels - 1)`` (same rounding as :func:`memcap.weight_to_capacitance`)."""
    step = w_max / (levels - 1)
    return np.sign(w) * np.round(np.minimum(np.abs(w), w_max) / step) * step


def init_weights(
    sizes: tuple[int, ...], profile, window: int, rng: np.random.Generator, scale: float = 1.0
) -> list[FArray]:
    """Gaussian weights with std ``0.5 V scale / (kappa T sqrt(0.1 n_pre))`` (pre-activations
    of about ``0.5 scale`` V for inputs of mean square rate 0.1), zero biases."""
    k = kappa(profile.params["synapse"], profile.params["neuron"])
    weights = []
    for n_pre, n_post in zip(sizes[:-1], sizes[1:], strict=True):
        std = 0.5 * scale / (k * window * np.sqrt(0.1 * n_pre))
        w = np.zeros((n_pre + 1, n_post))
        w[:-1] = rng.normal(0.0, std, (n_pre, n_post))
        weights.append(w)
    return weights


def forward(weights: list[FArray], x: FArray, mode: Mode, profile, cfg: MemcapConfig) -> Cache:
    """Forward pass of one of :data:`MODES` on images ``x`` ``(B, 784)`` (module notes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    syn, neuron = profile.params["synapse"], profile.params["neuron"]
    k, t_win, v_sat = kappa(syn, neuron), cfg.window, float(neuron["V_saturation"])
    levels = memcap.n_levels(syn)
    aware = mode == "aware"
    a = input_counts(x, t_win) if aware else t_win * np.clip(x, 0.0, 1.0)
    cache = Cache()
    last = len(weights) - 1
    for i, w_latent in enumerate(weights):
        ab = with_bias(a, t_win)
        w = quantise(w_latent, levels, cfg.w_max) if aware else w_latent
        if aware:
            y, s = play(k * cumulative_pulses(ab, t_win) @ w, neuron)
        else:
            s = k * ab @ w
            if mode == "surrogate":
                y = memcap.smooth_transfer(s, neuron, cfg.beta)
            else:
                y = s if i == last else neuron["gain"] * np.maximum(s, 0.0)
        cache.a.append(ab)
        cache.w.append(w)
        cache.s.append(s)
        cache.y.append(y)
        if i < last:
            a = output_counts(y, v_sat, t_win) if aware else t_win * y / v_sat
    cache.logits = cache.y[-1] / cfg.tau
    return cache


def loss(cache: Cache, labels: NDArray[np.int64]) -> float:
    """Mean softmax cross-entropy of ``cache.logits``."""
    return float(-np.mean(log_softmax(cache.logits, axis=1)[np.arange(len(labels)), labels]))


def backward(
    cache: Cache, labels: NDArray[np.int64], mode: Mode, profile, cfg: MemcapConfig
) -> list[FArray]:
    """Gradients of :func:`loss` w.r.t. the (latent) weights.

    .. math:: \\delta_y^{L} = (\\mathrm{softmax} - \\mathrm{onehot})/(B\\tau), \\quad
       \\delta_u = \\delta_y\\,\\phi'(s), \\quad \\nabla W = \\kappa\\,a^\\top\\delta_u, \\quad
       \\delta_y^{l-1} = \\frac{T}{V_{sat}}\\,\\kappa\\,\\delta_u W_{:-1}^\\top

    with ``phi'`` the surrogate's derivative (``aware``, ``surrogate``) or the ideal one.
    """
    syn, neuron = profile.params["synapse"], profile.params["neuron"]
    k, v_sat = kappa(syn, neuron), float(neuron["V_saturation"])
    n = len(labels)
    delta = softmax(cache.logits, axis=1)
    delta[np.arange(n), labels] -= 1.0
    delta /= n * cfg.tau
    grads: list[FArray] = [np.empty(0)] * len(cache.w)
    for i in reversed(range(len(cache.w))):
        s = cache.s[i]
        if mode == "ideal":
            slope = 1.0 if i == len(cache.w) - 1 else neuron["gain"] * (s > 0.0)
        else:
            slope = memcap.smooth_transfer_grad(s, neuron, cfg.beta)
        du = delta * slope
        grads[i] = k * cache.a[i].T @ du
        if i:
            delta = (cfg.window / v_sat) * k * du @ cache.w[i][:-1].T
    return grads


def map_naive(weights: list[FArray], w_max: float = 1.0) -> list[FArray]:
    """Naive mapping: each layer scaled by ``min(1, w_max / max|W|)`` to fit the device range
    (the circuit then quantises); threshold, saturation and hysteresis are ignored."""
    return [w * min(1.0, w_max / max(float(np.max(np.abs(w))), 1e-12)) for w in weights]


@dataclass
class _Adam:
    lr: float
    m: list[FArray]
    v: list[FArray]
    t: int = 0

    def step(self, weights: list[FArray], grads: list[FArray]) -> None:
        self.t += 1
        b1, b2 = 0.9, 0.999
        for w, g, m, v in zip(weights, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            w -= self.lr * (m / (1 - b1**self.t)) / (np.sqrt(v / (1 - b2**self.t)) + 1e-8)


def train(
    x: FArray,
    y: NDArray[np.int64],
    mode: Mode,
    profile,
    cfg: MemcapConfig,
    rng: np.random.Generator,
    weights: list[FArray] | None = None,
    on_epoch: Callable[[int, list[FArray]], None] | None = None,
) -> tuple[list[FArray], dict[str, list[float]]]:
    """Minibatch Adam on :func:`loss` in ``mode``.

    ``aware`` keeps the latent weights in ``[-w_max, w_max]`` after each step (clipped STE).
    ``weights`` default to :func:`init_weights` drawn from ``rng``; pass the same initial
    weights to compare modes. Returns the weights and per-epoch ``loss`` / ``train_accuracy``
    (of the training forward pass). ``on_epoch(epoch, weights)`` runs after each epoch.
    """
    if weights is None:
        sizes = (x.shape[1], cfg.hidden, int(y.max()) + 1)
        weights = init_weights(sizes, profile, cfg.window, rng, cfg.init_scale)
    weights = [w.copy() for w in weights]
    opt = _Adam(cfg.lr, [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights])
    history: dict[str, list[float]] = {"loss": [], "train_accuracy": []}
    for epoch in range(1, cfg.epochs + 1):
        xe = random_shift(x, cfg.augment_shift, rng) if cfg.augment_shift > 0 else x
        order = rng.permutation(len(xe))
        total, correct = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            cache = forward(weights, xe[idx], mode, profile, cfg)
            total += loss(cache, y[idx]) * len(idx)
            correct += int(np.sum(np.argmax(cache.logits, axis=1) == y[idx]))
            opt.step(weights, backward(cache, y[idx], mode, profile, cfg))
            if mode == "aware":
                for w in weights:
                    np.clip(w, -cfg.w_max, cfg.w_max, out=w)
        history["loss"].append(total / len(order))
        history["train_accuracy"].append(correct / len(order))
        if on_epoch is not None:
            on_epoch(epoch, weights)
    return weights, history
