"""Both learners on both task families: the encodings and the cross-family runners."""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.data.encoding import image_spikes, pattern_vector, pool_images
from dendritic_snn.data.patterns import SpikePattern
from dendritic_snn.runners.api import run_task
from dendritic_snn.study.summary import summary_text


def test_pattern_vector_is_a_gaussian_window_per_bin():
    # one spike at the centre of bin 2 of 5 (bin width 40 ms), sigma = half a bin
    pat = SpikePattern([1], [0.1], n_channels=2, duration=0.2)
    x = pattern_vector(pat, n_bins=5, sigma_frac=0.5).reshape(2, 5)
    assert np.all(x[0] == 0)
    # exp(-(k * width)^2 / (2 (width/2)^2)) = exp(-2 k^2) for a bin k away
    np.testing.assert_allclose(x[1], np.exp(-2.0 * (np.arange(5) - 2) ** 2))
    # coincident spikes saturate at 1
    two = SpikePattern([0, 0], [0.1, 0.1001], n_channels=1, duration=0.2)
    assert pattern_vector(two, 5)[2] == 1.0


def test_pool_images_averages_blocks():
    img = np.zeros((1, 784))
    img[0, :28] = 1.0  # first row lit
    pooled = pool_images(img, 4)
    assert pooled.shape == (1, 49)
    np.testing.assert_allclose(pooled[0, :7], 0.25)  # one of four rows of each top block
    assert pooled[0, 7:].sum() == 0
    with pytest.raises(ValueError, match="must divide"):
        pool_images(img, 5)


def test_image_spikes_rate_code():
    rng = np.random.default_rng(0)
    x = np.array([0.0, 0.5, 1.0])
    counts = np.zeros(3)
    for _ in range(400):
        counts += image_spikes(x, max_rate=100.0, duration=0.2, rng=rng).counts()
    # Poisson means x * 100 Hz * 0.2 s = 0, 10, 20 per presentation
    np.testing.assert_allclose(counts / 400, [0, 10, 20], atol=0.6)


def test_rate_ep_learns_pattern_discrimination(tmp_path):
    res = run_task("pattern_discrimination", learner="rate_ep", seed=0, out=tmp_path,
                   progress=False)  # fmt: skip
    m = res["metrics"]
    assert res["profile"]["name"] == "ideal"  # the learner's own default profile
    assert m["encoding"]["inputs"] == 32 * 10 and m["test_presentations"] == 40
    assert m["accuracy"] >= 0.9, m["confusion"]
    assert (tmp_path / "encoding.png").is_file()


def test_eqspike_runs_pattern_discrimination_on_45nm(tmp_path):
    res = run_task("pattern_discrimination", learner="eqspike", seed=1, mismatch=0.0,
                   out=tmp_path, progress=False, overrides={"vector_epochs": 5})  # fmt: skip
    assert res["profile"]["name"] == "cmos45_spiking_ep"
    assert res["metrics"]["sizes"] == [320, 100, 2]
    assert res["energy"]["per_inference_J"] > 0 and res["energy"]["per_training_example_J"] > 0
    assert sum(map(sum, res["metrics"]["confusion"])) == 40


def test_dendritic_runs_on_images(tmp_path):
    from test_mnist_task import synthetic_digits

    data = synthetic_digits(tmp_path / "data", n_train=4, n_test=3)
    overrides = {"dataset": "mnist", "data_dir": str(data), "dendritic_pyramidal": 4,
                 "dendritic_duration": 0.1, "dendritic_calibrate": 0, "dendritic_w_in_init": 3.0,
                 "dendritic_backend": "numpy"}  # fmt: skip
    res = run_task("mnist", learner="dendritic", out=tmp_path / "run", progress=False,
                   overrides=overrides)  # fmt: skip
    m = res["metrics"]
    assert res["profile"]["name"] == "dynapse_se"
    assert m["sizes"] == [196, 4, 10] and m["n_train"] == 4 and m["n_test"] == 3
    assert m["weight_updates"] > 0  # the teacher drove plasticity
    assert res["energy"]["per_inference_J"] > 0
    arrays = np.load(tmp_path / "run" / "arrays.npz")
    assert not arrays["w_r_p"].any()  # dendritic_w_topdown 0: no top-down on images


def test_summary_ranks_learners_across_their_own_profiles():
    rows = [
        {"task": "t", "learner": ln, "profile": pr, "seed": s, "mismatch": 0.2, "set": "{}",
         "status": "done", "value": v + 0.01 * s, "metric": "accuracy", "goal": "max",
         "cell_id": f"{ln}{s}"}
        for ln, pr, v in (("dendritic", "dynapse_se", 0.6), ("eqspike", "cmos45", 0.9))
        for s in range(3)
    ]  # fmt: skip
    text = summary_text(rows, "x", [])
    section = text.split("## Best learner per task, each on its hardware")[1]
    assert "`eqspike on cmos45` 0.91" in section and "exceeds the spread" in section
