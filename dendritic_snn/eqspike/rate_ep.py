r"""Rate-based Equilibrium Propagation (Scellier & Bengio 2017), batched with NumPy.

A layered Hopfield network: the input layer :math:`s_0 = x` is clamped, the hidden and output
layers :math:`s_1 \dots s_L` (the *state*) live in the box :math:`[0, 1]`, and
:math:`\rho(s) = \mathrm{clip}(s, 0, 1)` (hard sigmoid). ``weights[k]`` (shape
``(n_k, n_{k+1})``) couples layers ``k`` and ``k+1``; ``biases[k]`` belongs to layer ``k+1``.

Energy, cost and total energy (per example):

.. math::

    E(s) = \tfrac12 \sum_{k=1}^{L} \lVert\rho(s_k)\rVert^2
           - \sum_{k=0}^{L-1} \rho(s_k)^\top W_k\, \rho(s_{k+1})
           - \sum_{k=1}^{L} b_{k-1}^\top \rho(s_k),
    \qquad C(s) = \lVert s_L - y \rVert^2,
    \qquad F = E + \beta C .

Dynamics (both phases): projected gradient descent on the box,
:math:`s_k \leftarrow \mathrm{clip}(s_k - \epsilon\, \partial F/\partial s_k, 0, 1)` with

.. math::

    \frac{\partial E}{\partial s_k} = s_k - \underbrace{\big(W_{k-1}^\top s_{k-1}
        + W_k s_{k+1} + b_{k-1}\big)}_{\mathrm{net}_k},
    \qquad \frac{\partial C}{\partial s_L} = 2 (s_L - y),

(inside the closed box :math:`\rho(s) = s`, :math:`\rho' = 1`, as in the authors' Theano code).
The free phase (:math:`\beta = 0`) settles at :math:`s^0 = \mathrm{clip}(\mathrm{net}(s^0))`;
the nudged phase starts there and settles at :math:`s^\beta`.

EP gradient estimate of :math:`\partial C(s^0)/\partial\theta` (batch mean), and update:

.. math::

    \hat g_\theta = \frac{1}{\beta}\Big[\frac{\partial E}{\partial\theta}(s^\beta)
                    - \frac{\partial E}{\partial\theta}(s^0)\Big],
    \qquad \frac{\partial E}{\partial W_k} = -\rho(s_k)\rho(s_{k+1})^\top,
    \quad \frac{\partial E}{\partial b_{k}} = -\rho(s_{k+1}),
    \qquad \theta \leftarrow \theta - \alpha_k \hat g_\theta,

so :math:`\Delta W_k = \frac{\alpha_k}{\beta}[\rho(s^\beta_k)\rho(s^\beta_{k+1})^\top
- \rho(s^0_k)\rho(s^0_{k+1})^\top]`. The sign of :math:`\beta` may be drawn at random per
minibatch (Scellier & Bengio); the symmetric estimator (Laborieux et al. 2021)
:math:`\frac{1}{2\beta}[\partial_\theta E(s^{+\beta}) - \partial_\theta E(s^{-\beta})]` cancels the
:math:`O(\beta)` bias. Continual EP (Ernoult et al. 2020) applies the telescoping increments
:math:`-\frac{\alpha}{\beta}[\partial_\theta E(s^{t+1}) - \partial_\theta E(s^{t})]` at every
nudged step instead of once at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

Array = np.ndarray


@dataclass
class Params:
    """Weights ``W_k`` (n_k, n_{k+1}) and biases ``b_k`` (n_{k+1},) of a layered network."""

    weights: list[Array]
    biases: list[Array]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes, input first."""
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    def copy(self) -> Params:
        """A deep copy."""
        return Params([w.copy() for w in self.weights], [b.copy() for b in self.biases])


def rho(s: Array) -> Array:
    r"""Hard sigmoid :math:`\rho(s) = \mathrm{clip}(s, 0, 1)`."""
    return np.clip(s, 0.0, 1.0)


def init_params(sizes: Sequence[int], rng: np.random.Generator) -> Params:
    r"""Glorot-uniform weights :math:`U(\pm\sqrt{6/(n_k+n_{k+1})})`, zero biases (float64)."""
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = np.sqrt(6.0 / (n_in + n_out))
        weights.append(rng.uniform(-bound, bound, size=(n_in, n_out)))
        biases.append(np.zeros(n_out))
    return Params(weights, biases)


def zero_states(sizes: Sequence[int], batch: int) -> list[Array]:
    """All-zero state of layers 1..L for ``batch`` examples."""
    return [np.zeros((batch, n)) for n in sizes[1:]]


def energy(params: Params, x: Array, states: Sequence[Array]) -> Array:
    """The Hopfield energy :math:`E(s)` of each example (shape (batch,))."""
    layers = [x, *(rho(s) for s in states)]
    e = 0.5 * sum(np.sum(s * s, axis=1) for s in layers[1:])
    for k, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
        e = e - np.sum((layers[k] @ w) * layers[k + 1], axis=1) - layers[k + 1] @ b
    return e


def cost(output: Array, target: Array) -> Array:
    r"""Squared error :math:`C = \lVert s_L - y\rVert^2` of each example (no factor 1/2)."""
    return np.sum((output - target) ** 2, axis=1)


def net_inputs(params: Params, x: Array, states: Sequence[Array], bottom: Array | None = None):
    r""":math:`\mathrm{net}_k = W_{k-1}^\top s_{k-1} + W_k s_{k+1} + b_{k-1}` for k = 1..L.

    ``bottom`` may carry the precomputed :math:`x W_0 + b_0` (constant while x and W_0 are).
    """
    layers = [x, *(rho(s) for s in states)]
    nets = []
    for k in range(1, len(layers)):
        if k == 1 and bottom is not None:
            net = bottom.copy()
        else:
            net = layers[k - 1] @ params.weights[k - 1] + params.biases[k - 1]
        if k < len(layers) - 1:
            net += layers[k + 1] @ params.weights[k].T
        nets.append(net)
    return nets


def relax(
    params: Params,
    x: Array,
    states: Sequence[Array],
    n_steps: int,
    eps: float,
    beta: float = 0.0,
    target: Array | None = None,
) -> list[Array]:
    r"""Run ``n_steps`` of :math:`s \leftarrow \mathrm{clip}(s - \epsilon\,\partial F/\partial s,
    0, 1)` (all layers at once) and return the new state; the inputs are not modified.

    Inside the box this is :math:`s_k \leftarrow \mathrm{clip}((1-\epsilon) s_k + \epsilon\,
    \mathrm{net}_k - 2\epsilon\beta\,[k = L]\,(s_L - y), 0, 1)`, evaluated in place.
    """
    states = [rho(s) for s in states]  # new arrays, inside the box: rho(s) = s from here on
    weights, n = params.weights, len(states)
    bottom = x @ weights[0] + params.biases[0]
    decay = 1.0 - eps - (2.0 * eps * beta if beta else 0.0)
    pull = 2.0 * eps * beta * target if beta else None
    for _ in range(n_steps):
        nets = []
        for k in range(n):
            net = bottom.copy() if k == 0 else states[k - 1] @ weights[k] + params.biases[k]
            if k < n - 1:
                net += states[k + 1] @ weights[k + 1].T
            nets.append(net)
        for k in range(n):
            new = nets[k]
            new *= eps
            new += (decay if k == n - 1 else 1.0 - eps) * states[k]
            if k == n - 1 and pull is not None:
                new += pull
            np.clip(new, 0.0, 1.0, out=new)
        states = nets
    return states


def fixed_point_residual(params: Params, x: Array, states: Sequence[Array]) -> float:
    r"""Largest :math:`|s - \mathrm{clip}(\mathrm{net}(s), 0, 1)|` (0 at a free fixed point)."""
    nets = net_inputs(params, x, states)
    return float(max(np.max(np.abs(s - rho(n))) for s, n in zip(states, nets, strict=True)))


def energy_param_grads(x: Array, states: Sequence[Array]) -> tuple[list[Array], list[Array]]:
    r"""Batch means of :math:`\partial E/\partial W_k = -\rho(s_k)\rho(s_{k+1})^\top` and
    :math:`\partial E/\partial b_k = -\rho(s_{k+1})`."""
    layers = [x, *(rho(s) for s in states)]
    n = len(x)
    g_w = [-(layers[k].T @ layers[k + 1]) / n for k in range(len(states))]
    g_b = [-layers[k + 1].mean(axis=0) for k in range(len(states))]
    return g_w, g_b


def ep_gradient(
    x: Array, low: Sequence[Array], high: Sequence[Array], beta_span: float
) -> tuple[list[Array], list[Array]]:
    r"""EP estimate :math:`[\partial_\theta E(s^{high}) - \partial_\theta E(s^{low})]/\Delta\beta`.

    One-sided: ``low`` = free state, ``high`` = state nudged with :math:`\beta`,
    ``beta_span`` = :math:`\beta` (negative for a negative nudge). Symmetric: ``low`` =
    :math:`s^{-\beta}`, ``high`` = :math:`s^{+\beta}`, ``beta_span`` = :math:`2\beta`.
    """
    hw, hb = energy_param_grads(x, high)
    lw, lb = energy_param_grads(x, low)
    return (
        [(h - l) / beta_span for h, l in zip(hw, lw, strict=True)],
        [(h - l) / beta_span for h, l in zip(hb, lb, strict=True)],
    )


def apply_update(params: Params, grads: tuple[list[Array], list[Array]], lrs: Sequence[float]):
    r"""In place :math:`\theta_k \leftarrow \theta_k - \alpha_k \hat g_k` (per-layer rates)."""
    g_w, g_b = grads
    for k, lr in enumerate(lrs):
        params.weights[k] -= lr * g_w[k]
        params.biases[k] -= lr * g_b[k]


def one_hot(labels: Array, n_classes: int) -> Array:
    """Targets y (float64, shape (n, n_classes))."""
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


NUDGE_MODES = ("random", "positive", "symmetric")


@dataclass
class RateEPConfig:
    """Hyperparameters (defaults: the mnist5k setting of the research notes, §5b).

    ``nudge``: ``random`` (sign of beta drawn per minibatch), ``positive`` or ``symmetric``
    (+beta and -beta phases, both from the free state).
    """

    sizes: tuple[int, ...] = (784, 500, 10)
    beta: float = 0.2
    nudge: str = "random"
    eps: float = 0.5
    n_free: int = 20
    n_nudge: int = 8
    n_eval: int = 50
    lrs: tuple[float, ...] = (0.1, 0.05)
    batch_size: int = 20
    persistent: bool = True
    continual: bool = False

    def __post_init__(self) -> None:
        self.sizes = tuple(int(n) for n in self.sizes)
        self.lrs = tuple(float(a) for a in self.lrs)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"sizes {self.sizes}: need >= 2 layers of >= 1 unit")
        if len(self.lrs) != len(self.sizes) - 1:
            raise ValueError(
                f"lrs {self.lrs}: need one rate per weight layer ({len(self.sizes) - 1})"
            )
        if self.nudge not in NUDGE_MODES:
            raise ValueError(f"nudge '{self.nudge}': one of {', '.join(NUDGE_MODES)}")
        if self.beta <= 0 or self.eps <= 0 or self.batch_size < 1:
            raise ValueError("beta, eps and batch_size must be positive")
        if self.continual and self.nudge == "symmetric":
            raise ValueError("continual EP runs with a one-sided nudge (random or positive)")


class RateEP:
    """A trainable rate-EP network: parameters, persistent particles and the training loop.

    Parameters
    ----------
    config
        Hyperparameters.
    rng
        Generator for the Glorot initialisation (ignored when ``params`` is given).
    params
        Initial parameters (default: Glorot uniform from ``rng``).
    """

    def __init__(
        self,
        config: RateEPConfig,
        rng: np.random.Generator | None = None,
        params: Params | None = None,
    ) -> None:
        self.config = config
        if params is None:
            params = init_params(config.sizes, rng if rng is not None else np.random.default_rng())
        if params.sizes != config.sizes:
            raise ValueError(f"params sizes {params.sizes} != config sizes {config.sizes}")
        self.params = params
        self.particles: list[Array] | None = None

    # -- one minibatch ---------------------------------------------------------------------
    def step(
        self,
        x: Array,
        labels: Array,
        sign: float = 1.0,
        init: Sequence[Array] | None = None,
        lr_scale: float = 1.0,
    ) -> list[Array]:
        """Free phase, nudged phase(s) and the weight update for one minibatch.

        ``sign`` is the sign of beta for ``nudge="random"``; ``init`` the starting state
        (default zero); the learning rates are ``lr_scale * config.lrs``. Returns the free
        state (for the online accuracy and the persistent particles).
        """
        cfg = self.config
        lrs = [lr_scale * a for a in cfg.lrs]
        target = one_hot(labels, cfg.sizes[-1])
        start = init if init is not None else zero_states(cfg.sizes, len(x))
        free = relax(self.params, x, start, cfg.n_free, cfg.eps)
        beta = sign * cfg.beta if cfg.nudge == "random" else cfg.beta
        if cfg.nudge == "symmetric":
            plus = relax(self.params, x, free, cfg.n_nudge, cfg.eps, beta, target)
            minus = relax(self.params, x, free, cfg.n_nudge, cfg.eps, -beta, target)
            apply_update(self.params, ep_gradient(x, minus, plus, 2.0 * beta), lrs)
        elif cfg.continual:
            state = free
            for _ in range(cfg.n_nudge):
                new = relax(self.params, x, state, 1, cfg.eps, beta, target)
                apply_update(self.params, ep_gradient(x, state, new, beta), lrs)
                state = new
        else:
            nudged = relax(self.params, x, free, cfg.n_nudge, cfg.eps, beta, target)
            apply_update(self.params, ep_gradient(x, free, nudged, beta), lrs)
        return free

    # -- one epoch -------------------------------------------------------------------------
    def train_epoch(
        self,
        x: Array,
        labels: Array,
        rng: np.random.Generator,
        callback=None,
        lr_scale: float = 1.0,
    ) -> float:
        """One pass over ``(x, labels)`` in a random order (drawn from ``rng``, as are the
        signs of beta); returns the online training accuracy of the free phase.

        ``callback(n_done)`` is called after every minibatch (progress bars).
        """
        cfg = self.config
        n = len(x)
        if cfg.persistent and (self.particles is None or len(self.particles[0]) != n):
            self.particles = zero_states(cfg.sizes, n)
        order = rng.permutation(n)
        correct = 0
        for start in range(0, n, cfg.batch_size):
            index = np.sort(order[start : start + cfg.batch_size])
            sign = float(rng.choice((-1.0, 1.0)))
            init = [p[index] for p in self.particles] if cfg.persistent else None
            free = self.step(x[index], labels[index], sign, init, lr_scale)
            if cfg.persistent:
                for p, s in zip(self.particles, free, strict=True):
                    p[index] = s
            correct += int(np.sum(np.argmax(free[-1], axis=1) == labels[index]))
            if callback is not None:
                callback(len(index))
        return correct / n

    # -- inference -------------------------------------------------------------------------
    def output(self, x: Array, batch: int = 1000) -> Array:
        """Output layer after ``n_eval`` free steps from the zero state."""
        cfg = self.config
        outs = []
        for start in range(0, len(x), batch):
            xb = x[start : start + batch]
            states = relax(self.params, xb, zero_states(cfg.sizes, len(xb)), cfg.n_eval, cfg.eps)
            outs.append(states[-1])
        return np.concatenate(outs) if outs else np.zeros((0, cfg.sizes[-1]))

    def predict(self, x: Array, batch: int = 1000) -> Array:
        """Predicted labels: argmax of the free-phase output."""
        return np.argmax(self.output(x, batch), axis=1)

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Array]:
        """Arrays to checkpoint: ``W<k>``, ``b<k>`` and ``particles<k>`` (when allocated)."""
        out = {f"W{k}": w for k, w in enumerate(self.params.weights)}
        out.update({f"b{k}": b for k, b in enumerate(self.params.biases)})
        for k, p in enumerate(self.particles or []):
            out[f"particles{k}"] = p
        return out

    def load_state_dict(self, arrays) -> None:
        """Restore from :meth:`state_dict` output (e.g. an opened ``.npz``)."""
        n_layers = len(self.config.sizes) - 1
        params = Params(
            [np.array(arrays[f"W{k}"]) for k in range(n_layers)],
            [np.array(arrays[f"b{k}"]) for k in range(n_layers)],
        )
        if params.sizes != self.config.sizes:
            raise ValueError(f"checkpoint sizes {params.sizes} != config {self.config.sizes}")
        self.params = params
        keys = [f"particles{k}" for k in range(n_layers)]
        self.particles = [np.array(arrays[k]) for k in keys] if keys[0] in arrays else None

    def describe(self) -> dict:
        """The configuration as plain data."""
        return asdict(self.config)
