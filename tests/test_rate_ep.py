"""Rate EqProp: energy, fixed point, and the EP update against the true loss gradient."""

import numpy as np
import pytest

from dendritic_snn.eqspike.rate_ep import (
    Params,
    RateEP,
    RateEPConfig,
    cost,
    energy,
    ep_gradient,
    fixed_point_residual,
    init_params,
    net_inputs,
    one_hot,
    relax,
    zero_states,
)

SIZES = (5, 4, 3)
STEPS = 400  # enough to settle the tiny network to ~1e-12


def tiny(seed: int = 0):
    """A 5-4-3 network whose free fixed point lies inside the box (no clipped unit)."""
    rng = np.random.default_rng(seed)
    params = Params(
        [rng.uniform(-0.2, 0.2, (5, 4)), rng.uniform(-0.2, 0.2, (4, 3))],
        [rng.uniform(0.3, 0.6, 4), rng.uniform(0.4, 0.6, 3)],
    )
    x = rng.uniform(0.0, 0.6, (3, 5))
    y = one_hot(np.array([0, 1, 2]), 3)
    return params, x, y


def free_state(params, x):
    return relax(params, x, zero_states(SIZES, len(x)), STEPS, 0.5)


def loss(params, x, y) -> float:
    return float(np.mean(cost(free_state(params, x)[-1], y)))


def fd_gradient(params, x, y, h=1e-6):
    """Central finite differences of the mean cost at the free fixed point."""
    out_w, out_b = [], []
    for group, out in ((params.weights, out_w), (params.biases, out_b)):
        for k, arr in enumerate(group):
            g = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                plus, minus = params.copy(), params.copy()
                (plus.weights if group is params.weights else plus.biases)[k][idx] += h
                (minus.weights if group is params.weights else minus.biases)[k][idx] -= h
                g[idx] = (loss(plus, x, y) - loss(minus, x, y)) / (2 * h)
            out.append(g)
    return flat(out_w, out_b)


def flat(g_w, g_b):
    return np.concatenate([a.ravel() for a in (*g_w, *g_b)])


def ep_estimate(params, x, y, beta, symmetric=False):
    free = free_state(params, x)
    plus = relax(params, x, free, STEPS, 0.5, beta, y)
    if symmetric:
        minus = relax(params, x, free, STEPS, 0.5, -beta, y)
        return flat(*ep_gradient(x, minus, plus, 2 * beta))
    return flat(*ep_gradient(x, free, plus, beta))


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_energy_matches_hand_computation():
    params, x, _ = tiny()
    states = [np.full((3, 4), 0.5), np.full((3, 3), 0.25)]
    h, o = states
    expected = (
        0.5 * (np.sum(h**2, 1) + np.sum(o**2, 1))
        - np.einsum("bi,ij,bj->b", x, params.weights[0], h)
        - np.einsum("bi,ij,bj->b", h, params.weights[1], o)
        - h @ params.biases[0]
        - o @ params.biases[1]
    )
    np.testing.assert_allclose(energy(params, x, states), expected)


def test_state_gradient_is_energy_derivative():
    """s - net(s) is dE/ds (finite differences of the energy, interior state)."""
    params, x, _ = tiny()
    rng = np.random.default_rng(1)
    states = [rng.uniform(0.2, 0.8, (3, 4)), rng.uniform(0.2, 0.8, (3, 3))]
    nets = net_inputs(params, x, states)
    for layer in range(2):
        for j in range(states[layer].shape[1]):
            up = [s.copy() for s in states]
            down = [s.copy() for s in states]
            up[layer][:, j] += 1e-6
            down[layer][:, j] -= 1e-6
            fd = (energy(params, x, up) - energy(params, x, down)) / 2e-6
            np.testing.assert_allclose(fd, states[layer][:, j] - nets[layer][:, j], atol=1e-6)


def test_free_phase_reaches_fixed_point_and_lowers_energy():
    params, x, _ = tiny()
    start = zero_states(SIZES, 3)
    early = relax(params, x, start, 3, 0.5)
    late = relax(params, x, start, STEPS, 0.5)
    assert fixed_point_residual(params, x, late) < 1e-10
    assert fixed_point_residual(params, x, early) > 1e-4
    assert np.all(energy(params, x, late) <= energy(params, x, early) + 1e-12)
    inside = np.concatenate([s.ravel() for s in late])
    assert np.all((inside > 0) & (inside < 1))  # the gradient test below needs no clipping


def test_nudge_pulls_output_towards_target():
    params, x, y = tiny()
    free = free_state(params, x)
    nudged = relax(params, x, free, STEPS, 0.5, 0.5, y)
    assert np.all(cost(nudged[-1], y) < cost(free[-1], y))


def test_ep_update_aligns_with_true_gradient():
    params, x, y = tiny()
    true = fd_gradient(params, x, y)
    estimate = ep_estimate(params, x, y, beta=1e-3)
    assert cosine(estimate, true) > 0.999
    np.testing.assert_allclose(estimate, true, atol=5e-3 * np.abs(true).max())


def test_random_sign_estimator_is_also_a_gradient():
    params, x, y = tiny(2)
    true = fd_gradient(params, x, y)
    assert cosine(ep_estimate(params, x, y, beta=-0.05), true) > 0.99


def test_symmetric_nudging_is_more_accurate_than_one_sided():
    params, x, y = tiny(3)
    true = fd_gradient(params, x, y)
    for beta in (0.02, 0.05):  # small enough that no unit clips
        one_sided = np.linalg.norm(ep_estimate(params, x, y, beta) - true)
        symmetric = np.linalg.norm(ep_estimate(params, x, y, beta, symmetric=True) - true)
        assert symmetric < 0.3 * one_sided, (beta, symmetric, one_sided)


@pytest.mark.parametrize("nudge", ["random", "positive", "symmetric"])
def test_training_step_lowers_loss(nudge):
    params, x, y = tiny(4)
    cfg = RateEPConfig(
        sizes=SIZES,
        beta=0.05,
        nudge=nudge,
        n_free=STEPS,
        n_nudge=STEPS,
        lrs=(0.2, 0.2),
        batch_size=3,
        persistent=False,
    )
    net = RateEP(cfg, params=params.copy())
    before = loss(net.params, x, y)
    for _ in range(5):
        net.step(x, np.argmax(y, 1), sign=-1.0)
    assert loss(net.params, x, y) < before


def test_continual_ep_matches_standard_ep_for_small_rates():
    """C-EP's per-step updates telescope to the standard EP update when rates are small."""
    params, x, y = tiny(5)
    labels = np.argmax(y, 1)
    kw = dict(
        sizes=SIZES,
        beta=0.1,
        nudge="positive",
        n_free=STEPS,
        n_nudge=50,
        lrs=(1e-4, 1e-4),
        batch_size=3,
        persistent=False,
    )
    std = RateEP(RateEPConfig(**kw), params=params.copy())
    cep = RateEP(RateEPConfig(**kw, continual=True), params=params.copy())
    std.step(x, labels)
    cep.step(x, labels)
    d_std = flat([w - w0 for w, w0 in zip(std.params.weights, params.weights, strict=True)], [])
    d_cep = flat([w - w0 for w, w0 in zip(cep.params.weights, params.weights, strict=True)], [])
    np.testing.assert_allclose(d_cep, d_std, rtol=1e-2, atol=1e-3 * np.abs(d_std).max())


def test_seeded_training_is_reproducible_and_checkpoint_roundtrips():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (40, 6))
    labels = (x[:, 0] > x[:, 1]).astype(int)
    cfg = RateEPConfig(sizes=(6, 8, 2), lrs=(0.1, 0.05), batch_size=10)

    def train(epochs, net=None, seed_rng=None):
        net = net or RateEP(cfg, np.random.default_rng(1))
        seed_rng = seed_rng or np.random.default_rng(2)
        for _ in range(epochs):
            net.train_epoch(x, labels, seed_rng)
        return net, seed_rng

    a, _ = train(3)
    b, _ = train(3)
    for wa, wb in zip(a.params.weights, b.params.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    # two epochs, checkpoint (arrays + rng state), restore, one more == three straight
    first, r = train(2)
    saved, rng_state = first.state_dict(), r.bit_generator.state
    restored = RateEP(cfg, np.random.default_rng(99))
    restored.load_state_dict({k: v.copy() for k, v in saved.items()})
    r2 = np.random.default_rng()
    r2.bit_generator.state = rng_state
    c, _ = train(1, restored, r2)
    for wa, wc in zip(a.params.weights, c.params.weights, strict=True):
        np.testing.assert_array_equal(wa, wc)


def test_glorot_init_and_config_validation():
    params = init_params((784, 500, 10), np.random.default_rng(0))
    assert params.sizes == (784, 500, 10)
    assert np.abs(params.weights[0]).max() <= np.sqrt(6 / 1284)
    with pytest.raises(ValueError, match="one rate per weight layer"):
        RateEPConfig(sizes=(784, 500, 500, 10), lrs=(0.1, 0.05))
    with pytest.raises(ValueError, match="nudge"):
        RateEPConfig(nudge="sideways")


def test_ep_matches_gradient_in_a_deeper_network():
    """Two hidden layers (4-3-3-2): same check against finite differences."""
    rng = np.random.default_rng(7)
    sizes = (4, 3, 3, 2)
    params = Params(
        [rng.uniform(-0.2, 0.2, (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
        [rng.uniform(0.3, 0.6, b) for b in sizes[1:]],
    )
    x = rng.uniform(0.0, 0.6, (2, 4))
    y = one_hot(np.array([0, 1]), 2)

    def settle(p):
        return relax(p, x, zero_states(sizes, 2), STEPS, 0.5)

    def mean_cost(p):
        return float(np.mean(cost(settle(p)[-1], y)))

    true = []
    for k in range(3):
        g = np.zeros_like(params.weights[k])
        for idx in np.ndindex(g.shape):
            plus, minus = params.copy(), params.copy()
            plus.weights[k][idx] += 1e-6
            minus.weights[k][idx] -= 1e-6
            g[idx] = (mean_cost(plus) - mean_cost(minus)) / 2e-6
        true.append(g)
    free = settle(params)
    nudged = relax(params, x, free, STEPS, 0.5, 1e-3, y)
    estimate, _ = ep_gradient(x, free, nudged, 1e-3)
    assert fixed_point_residual(params, x, free) < 1e-10
    assert cosine(flat(estimate, []), flat(true, [])) > 0.999
