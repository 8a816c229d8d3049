"""The learner interface: registry, task/learner matching, saved models, and a new learner
added in one file that runs on pattern_discrimination and mnist without editing any runner."""

from __future__ import annotations

import importlib.util
import json
import textwrap

import numpy as np
import pytest

from dendritic_snn import run_task
from dendritic_snn.errors import DsnnError
from dendritic_snn.learners import available, get_learner, load_model, register, unregister
from dendritic_snn.learners.base import Learner
from dendritic_snn.runners.api import task_learners
from dendritic_snn.runners.spec import list_task_specs, load_task_spec

#: one file: the whole of a new learner, as a user would write it
TOY = '''
import numpy as np

from dendritic_snn.learners import Learner, register


@register
class NearestCentroid(Learner):
    """Predicts the class whose mean training vector is nearest (Euclidean)."""

    name = "toy_centroid"
    input_kind = "vectors"

    def fit(self, data):
        x, y = np.asarray(data.x, float), np.asarray(data.y)
        self.centroids = np.stack([x[y == c].mean(axis=0) for c in range(self.setup.n_classes)])
        return {"fitted_on": len(x)}

    def predict(self, x):
        d = ((np.asarray(x, float)[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)

    def state_dict(self):
        return {"centroids": self.centroids}

    def load_state_dict(self, state):
        self.centroids = np.asarray(state["centroids"])


@register
class AlwaysOne(Learner):
    """Predicts class 1 for every spike pattern."""

    name = "toy_always_one"
    input_kind = "spikes"

    def fit(self, data):
        self.seen = [len(p.times) for p in data.x]  # the task gave spike patterns
        return {}

    def predict(self, x):
        return np.ones(len(x), int)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
'''


@pytest.fixture
def toy_learners(tmp_path):
    path = tmp_path / "toy_learner.py"
    path.write_text(textwrap.dedent(TOY))
    spec = importlib.util.spec_from_file_location("toy_learner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # registering is importing
    yield module
    unregister("toy_centroid")
    unregister("toy_always_one")


def test_toy_learner_runs_on_both_task_families(tmp_path, toy_learners):
    from test_mnist_task import synthetic_digits

    assert "toy_centroid" in task_learners("pattern_discrimination")
    assert "toy_centroid" in task_learners("mnist")
    res = run_task("pattern_discrimination", learner="toy_centroid", seed=0,
                   out=tmp_path / "pd", progress=False)  # fmt: skip
    m = res["metrics"]
    assert m["fitted_on"] == 24 and m["test_presentations"] == 40  # 12 epochs x 2 patterns
    assert m["encoding"]["inputs"] == 320  # the task turned patterns into time-bin vectors
    assert m["accuracy"] >= 0.9  # two patterns, jittered: the centroid separates them

    data = synthetic_digits(tmp_path / "data", n_train=200, n_test=100)
    overrides = {"dataset": "mnist", "data_dir": str(data)}
    res = run_task("mnist", learner="toy_centroid", seed=0, out=tmp_path / "mnist",
                   progress=False, overrides=overrides)  # fmt: skip
    assert res["metrics"]["fitted_on"] == 200 and res["metrics"]["n_test"] == 100
    assert res["metrics"]["accuracy"] > 0.8  # chance 0.1
    predicted = np.load(tmp_path / "mnist" / "arrays.npz")["test_predicted"]
    assert len(set(predicted.tolist())) == 10
    # the trained model is saved and reloads to the same predictions
    learner, meta = load_model(tmp_path / "mnist")
    assert meta["learner"] == "toy_centroid" and meta["n_inputs"] == 784
    x = np.random.default_rng(0).random((5, 784))
    saved = np.load(tmp_path / "mnist" / "model.npz")["centroids"]
    assert saved.shape == (10, 784)
    np.testing.assert_array_equal(learner.centroids, saved)
    assert learner.predict(x).shape == (5,)


def test_constant_learner_gives_per_class_one_and_zero(tmp_path, toy_learners):
    """A spike learner predicting class 1: the task used its predictions (recall 0 and 1)."""
    res = run_task("pattern_discrimination", learner="toy_always_one", seed=0,
                   out=tmp_path / "pd", progress=False)  # fmt: skip
    m = res["metrics"]
    assert m["per_class"] == [0.0, 1.0]
    assert m["accuracy"] == 0.5 and m["confusion"] == [[0, 20], [0, 20]]
    assert "did not learn" in res["summary"]


def test_spec_learner_lists_match_the_registry():
    """Every learner a spec lists is registered and fits the task's data."""
    for task in list_task_specs():
        spec = load_task_spec(task)
        assert set(spec.learners) <= set(task_learners(task)), task
        assert spec.default_learner in task_learners(task)
    assert set(task_learners("pattern_discrimination")) >= {"dendritic", "rate_ep", "eqspike"}
    assert "memcap" in task_learners("mnist")


def test_registry_refuses_bad_learners():
    assert set(available(["spikes"])) >= {"dendritic"}
    assert "dendritic" not in available(["vectors"])
    with pytest.raises(DsnnError, match="unknown learner 'nope'"):
        get_learner("nope")

    class NoName(Learner):
        pass

    with pytest.raises(DsnnError, match="set the class attribute 'name'"):
        register(NoName)

    class BadKind(Learner):
        name = "bad_kind"
        input_kind = "audio"

    with pytest.raises(DsnnError, match="input_kind 'audio'"):
        register(BadKind)

    class Clash(Learner):
        name = "rate_ep"

    with pytest.raises(DsnnError, match="already registered"):
        register(Clash)
    assert get_learner("rate_ep").__name__ == "RateEPLearner"


def test_task_refuses_a_learner_whose_input_does_not_fit(tmp_path):
    class ImagesOnly(Learner):
        name = "toy_images"
        input_kind = "images"

    register(ImagesOnly)
    try:
        assert "toy_images" in task_learners("mnist")
        with pytest.raises(DsnnError, match="--learner toy_images: task 'pattern_discrimination'"):
            run_task("pattern_discrimination", learner="toy_images", out=tmp_path / "x",
                     progress=False)  # fmt: skip
    finally:
        unregister("toy_images")
    with pytest.raises(DsnnError, match="task 'stdp_window' runs with eqspike"):
        run_task("stdp_window", learner="rate_ep", out=tmp_path / "z", progress=False)
    with pytest.raises(DsnnError, match="needs a memcapacitor profile"):
        run_task("mnist", learner="memcap", profile="ideal", out=tmp_path / "y", progress=False)


def test_saved_rate_ep_model_reloads_to_the_same_predictions(tmp_path):
    res = run_task("pattern_discrimination", learner="rate_ep", seed=2, out=tmp_path,
                   progress=False, overrides={"vector_epochs": 3})  # fmt: skip
    learner, meta = load_model(tmp_path)
    from dendritic_snn.learners.store import model_profile

    assert model_profile(meta).sha256 == res["profile"]["sha256"]  # the run's own profile
    assert meta["encoding"]["kind"] == "gaussian_time_bins"
    codes = np.load(tmp_path / "arrays.npz")["codes"]
    # the clean patterns are classified as their own class by the reloaded model
    np.testing.assert_array_equal(learner.predict(codes), [0, 1])
    assert json.loads((tmp_path / "model.json").read_text())["config"]["epochs"] == 3


def test_same_seed_same_trained_model(tmp_path):
    """eqspike on its mismatched 45 nm chip: the same seed gives the same chip and the same
    trained weights; another seed another chip."""
    runs = {}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        run_task("pattern_discrimination", learner="eqspike", seed=seed, out=tmp_path / name,
                 progress=False, overrides={"vector_epochs": 1, "train_epochs": 2,
                                            "test_per_class": 2})  # fmt: skip
        runs[name] = np.load(tmp_path / name / "model.npz")
    for key in ("W0", "W1", "chip.gain.0", "chip.g_out.1"):
        np.testing.assert_array_equal(runs["a"][key], runs["b"][key])
    assert not np.allclose(runs["a"]["chip.gain.0"], runs["c"]["chip.gain.0"], rtol=1e-6, atol=0)


def test_registry_loads_once_across_threads():
    """Concurrent first lookups in a fresh interpreter (batched runs use threads) all see
    every built-in learner."""
    import subprocess
    import sys

    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from dendritic_snn.learners import registry\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    seen = list(pool.map(lambda _: tuple(registry.available()), range(16)))\n"
        "print(min(len(s) for s in seen))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 4
