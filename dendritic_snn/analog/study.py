"""β sweeps over many random initial conductances: convergence (Kiraz et al. 2023's robustness
question) and gradient alignment of each estimator with the true gradient."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .circuit import Circuit
from .eqprop import cosine, estimate_gradient, train, true_gradient


def random_conductances(rng: np.random.Generator, n: int, c: Circuit, low: float, high: float):
    """``n`` conductance vectors drawn uniformly in ``[low, high]`` S (Kiraz's initialisation
    is uniform in [1e-4, 1e-1] S), shape ``(n, n_g)``."""
    return rng.uniform(low, high, size=(n, c.n_g))


def first_below(error: np.ndarray, tol: float) -> np.ndarray:
    """Index of the first step whose error stays below ``tol`` to the end (-1 if never).

    ``error`` has shape ``(steps + 1, B)``."""
    above = error >= tol
    last_above = np.where(above.any(axis=0), error.shape[0] - 1 - np.argmax(above[::-1], 0), -1)
    out = last_above + 1
    return np.where(out >= error.shape[0], -1, out)


def convergence_sweep(
    c: Circuit,
    g0: np.ndarray,
    target,
    alpha: float,
    betas,
    steps: int,
    estimator: str,
    tol: float,
    compensate: bool = False,
    g_bounds: tuple[float, float] = (1e-6, 10.0),
    tick: Callable[[], None] | None = None,
    read_noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Train every initial condition in ``g0`` (shape ``(T, n_g)``) at every β, as one batch
    (``read_noise``, ``rng``: see :func:`.eqprop.estimate_gradient`).

    Returns
    -------
    dict
        ``converged`` (bool, ``(n_beta, T)``): final error below ``tol`` and no non-finite
        estimate; ``steps_to_tol`` (``(n_beta, T)``, -1 if never); ``final_error``
        (``(n_beta, T)``, V); ``error`` (``(steps + 1, n_beta, T)``, V).
    """
    betas = np.asarray(betas, dtype=float)
    n_b, n_t = len(betas), g0.shape[0]
    g = np.tile(g0, (n_b, 1))
    beta = np.repeat(betas, n_t)
    res = train(
        c, g, target, alpha, beta, steps, estimator, compensate, g_bounds, tick, read_noise, rng
    )
    err = res.error.reshape(steps + 1, n_b, n_t)
    final = err[-1]
    converged = (final < tol) & ~res.failed.reshape(n_b, n_t) & np.isfinite(final)
    return {
        "converged": converged,
        "steps_to_tol": first_below(err.reshape(steps + 1, -1), tol).reshape(n_b, n_t),
        "final_error": final,
        "error": err,
    }


def alignment_sweep(
    c: Circuit, g0: np.ndarray, target, betas, estimators, compensate: bool = False
) -> dict[str, np.ndarray]:
    """Cosine and relative error of each estimator against the adjoint gradient at ``g0``.

    Returns
    -------
    dict
        ``"<estimator>_cos"`` and ``"<estimator>_relerr"``, each ``(n_beta, T)``;
        ``kendall_comp_*`` is the A²-compensated one-sided rule.
    """
    exact = true_gradient(c, g0, target)
    out: dict[str, np.ndarray] = {}
    variants = [(e, e, compensate) for e in estimators] + [("kendall_comp", "kendall", True)]
    for name, est, comp in variants:
        cos, rel = [], []
        for beta in betas:
            grad, _ = estimate_gradient(c, g0, target, float(beta), est, comp)
            cos.append(cosine(grad, exact))
            rel.append(np.linalg.norm(grad - exact, axis=-1) / np.linalg.norm(exact, axis=-1))
        out[f"{name}_cos"], out[f"{name}_relerr"] = np.array(cos), np.array(rel)
    return out
