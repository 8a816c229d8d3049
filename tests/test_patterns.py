"""Tests for the Cartiglia-2020 spatio-temporal spike pattern generator."""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.data.patterns import (
    SpikePattern,
    concatenate,
    drop_same_step,
    make_patterns,
    perturb,
    poisson_train,
    regular_train,
    step_index,
)


def test_exact_counts_identical_across_patterns():
    pats = make_patterns(5, seed=3)
    assert len(pats) == 5
    for p in pats:
        assert p.n_spikes == 128
        assert p.n_channels == 32
        np.testing.assert_array_equal(p.counts(), np.full(32, 4))
        np.testing.assert_allclose(p.rates(), 20.0)


def test_remainder_distributed_identically():
    pats = make_patterns(4, n_channels=32, n_spikes=100, seed=1)
    c0 = pats[0].counts()
    assert c0.sum() == 100
    assert set(np.unique(c0)) == {3, 4}
    assert np.count_nonzero(c0 == 4) == 100 % 32
    for p in pats[1:]:
        np.testing.assert_array_equal(p.counts(), c0)


def test_reproducible_and_seed_dependent():
    a = make_patterns(3, seed=7)
    b = make_patterns(3, seed=7)
    c = make_patterns(3, seed=8)
    for pa, pb, pc in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(pa.indices, pb.indices)
        np.testing.assert_array_equal(pa.times, pb.times)
        assert not np.array_equal(pa.times, pc.times)
    # pattern j does not depend on how many patterns were requested
    d = make_patterns(5, seed=7)
    for pa, pd in zip(a, d[:3], strict=True):
        np.testing.assert_array_equal(pa.times, pd.times)


def test_patterns_differ_in_timing_only():
    p, q = make_patterns(2, seed=0)
    np.testing.assert_array_equal(p.counts(), q.counts())
    for tp, tq in zip(p.trains(), q.trains(), strict=True):
        assert tp.size == tq.size
        assert not np.allclose(tp, tq)


def test_times_in_window_sorted_and_min_isi():
    min_isi = 5e-3
    for p in make_patterns(20, n_spikes=320, seed=11, min_isi=min_isi):
        assert p.times.min() >= 0.0
        assert p.times.max() < p.duration
        assert np.all(np.diff(p.times) >= 0)
        for t in p.trains():
            assert np.all(np.diff(t) >= min_isi - 1e-12)


def test_min_isi_infeasible_raises():
    with pytest.raises(ValueError):
        make_patterns(1, n_channels=1, n_spikes=10, duration=0.01, min_isi=2e-3)


def test_spike_pattern_validation_and_sorting():
    p = SpikePattern(np.array([1, 0, 2]), np.array([0.05, 0.01, 0.05]), 3, 0.1)
    np.testing.assert_array_equal(p.times, [0.01, 0.05, 0.05])
    np.testing.assert_array_equal(p.indices, [0, 1, 2])
    idx, t = p.shifted(1.0)
    np.testing.assert_allclose(t, [1.01, 1.05, 1.05])
    np.testing.assert_array_equal(idx, [0, 1, 2])
    with pytest.raises(ValueError):
        SpikePattern(np.array([0]), np.array([0.1]), 1, 0.1)  # t == duration
    with pytest.raises(ValueError):
        SpikePattern(np.array([3]), np.array([0.0]), 3, 0.1)


def _big_pattern(n: int, t0: float = 0.1) -> SpikePattern:
    """One spike per channel at t0, for measuring jitter and deletion."""
    return SpikePattern(np.arange(n), np.full(n, t0), n, 0.2)


def test_perturb_deletion_rate():
    n, p_del = 20000, 0.1
    q = perturb(_big_pattern(n), np.random.default_rng(0), jitter_sd=2e-3, deletion=p_del)
    deleted = n - q.n_spikes
    sd = np.sqrt(n * p_del * (1 - p_del))
    assert abs(deleted - n * p_del) < 5 * sd
    assert np.all(np.diff(q.indices[np.argsort(q.indices)]) > 0)  # no spike duplicated


def test_perturb_jitter_sd():
    n, sd = 20000, 2e-3
    base = _big_pattern(n)
    q = perturb(base, np.random.default_rng(1), jitter_sd=sd, deletion=0.0)
    assert q.n_spikes == n
    # one spike per channel: the jitter of channel i is its new time minus 0.1 s
    jit = q.times[np.argsort(q.indices, kind="stable")] - 0.1
    assert abs(jit.mean()) < 5 * sd / np.sqrt(n)
    assert abs(jit.std() / sd - 1.0) < 5 / np.sqrt(2 * n)


def test_perturb_stays_in_window_and_is_fresh():
    (p,) = make_patterns(1, seed=2)
    rng = np.random.default_rng(5)
    q1 = perturb(p, rng, jitter_sd=20e-3)
    q2 = perturb(p, rng, jitter_sd=20e-3)
    for q in (q1, q2):
        assert q.times.min() >= 0 and q.times.max() < p.duration
        assert q.n_channels == p.n_channels and q.duration == p.duration
    assert not (q1.n_spikes == q2.n_spikes and np.array_equal(q1.times, q2.times))
    same = perturb(p, 5, jitter_sd=0.0, deletion=0.0)
    np.testing.assert_array_equal(same.times, p.times)


def test_concatenate_no_same_step_duplicates():
    dt = 1e-4
    pats = make_patterns(2, seed=4)
    rng = np.random.default_rng(9)
    segs = []
    t = 0.0
    for _ in range(30):
        # back-to-back perturbed presentations with strong jitter and overlapping segments
        segs.append((perturb(pats[int(rng.integers(2))], rng, jitter_sd=5e-3), t))
        segs.append((None, t + 0.2))
        t += 0.15
    idx, times = concatenate(segs, dt=dt)
    assert np.all(np.diff(times) >= 0)
    steps = step_index(times, dt)
    pairs = set(zip(idx.tolist(), steps.tolist(), strict=True))
    assert len(pairs) == idx.size
    raw_idx, _ = concatenate(segs, dt=None)
    assert raw_idx.size >= idx.size
    # Brian2's own same-step test (sorted input): no consecutive equal (index, bin) pairs
    order = np.lexsort((times, idx))
    bad = (np.diff(steps[order]) == 0) & (np.diff(idx[order]) == 0)
    assert not bad.any()


def test_concatenate_shifts_and_keeps_first():
    p = SpikePattern(np.array([0, 0, 1]), np.array([0.0, 0.00005, 0.01]), 2, 0.1)
    idx, t = concatenate([(p, 1.0), (None, 5.0)], dt=1e-4)
    np.testing.assert_array_equal(idx, [0, 1])
    np.testing.assert_allclose(t, [1.0, 1.01])
    idx, t = concatenate([(p, 1.0)], dt=None)
    assert idx.size == 3
    idx, t = concatenate([])
    assert idx.size == 0 and t.size == 0


def test_step_index_matches_brian2_convention():
    dt = 1e-4
    # exact multiples of dt land in their own bin, not the previous one
    t = np.arange(1000) * dt
    np.testing.assert_array_equal(step_index(t, dt), np.arange(1000))
    idx, tt = drop_same_step([0, 0, 0], [3e-4, 3.5e-4, 2.9e-4], dt)
    np.testing.assert_allclose(tt, [2.9e-4, 3e-4])


def test_regular_train_count():
    t = regular_train(900.0, 0.0, 0.2)
    assert t.size == 180
    np.testing.assert_allclose(np.diff(t), 1 / 900.0)
    assert t[0] == 0.0 and t[-1] < 0.2
    t2 = regular_train(900.0, 1.0, 1.2)
    assert t2.size == 180 and t2[0] == 1.0
    assert regular_train(10.0, 0.0, 0.25).size == 3
    assert regular_train(10.0, 1.0, 1.0).size == 0


def test_poisson_train():
    rng = np.random.default_rng(0)
    t = poisson_train(900.0, 0.0, 10.0, rng)
    assert abs(t.size - 9000) < 5 * np.sqrt(9000)
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 10.0
    td = poisson_train(900.0, 0.0, 10.0, np.random.default_rng(0), dt=1e-4)
    steps = step_index(td, 1e-4)
    assert np.all(np.diff(steps) > 0)
    assert td.size < t.size


def test_concatenate_accepted_by_brian2_spike_generator():
    b2 = pytest.importorskip("brian2")
    old = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        p = SpikePattern(np.array([0, 0, 1]), np.array([0.0, 0.00005, 0.01]), 2, 0.1)
        raw = concatenate([(p, 1.0)], dt=None)
        clean = concatenate([(p, 1.0)], dt=1e-4)
        g_raw = b2.SpikeGeneratorGroup(2, raw[0], raw[1] * b2.second, dt=0.1 * b2.ms)
        with pytest.raises(Exception) as info:  # noqa: B017 (Brian2 wraps the ValueError)
            b2.Network(g_raw).run(0.1 * b2.ms)
        chain, err = [], info.value
        while err is not None:
            chain.append(str(err))
            err = err.__cause__ or err.__context__
        assert any("more than once" in msg for msg in chain)
        g_clean = b2.SpikeGeneratorGroup(2, clean[0], clean[1] * b2.second, dt=0.1 * b2.ms)
        b2.Network(g_clean).run(0.1 * b2.ms)
    finally:
        b2.prefs.codegen.target = old
