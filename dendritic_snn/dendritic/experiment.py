"""One chip running the dendritic network: presentations, weight bookkeeping, event counts.

:class:`Experiment` holds the chip (mismatched parameters), the connectivity masks and the
current weights, and turns a spike pattern (plus an optional teacher) into one presentation
on a simulator back end. Weights learned in one presentation are passed into the next.

Back ends (task option ``engine``, chosen by :func:`make_simulator`):

* ``numba`` (default): the compiled in-process engine
  (:class:`~dendritic_snn.dendritic.engine.NumbaSimulator`); no C++ compiler needed. Inside
  :func:`~dendritic_snn.dendritic.batch.run_batched` the chips of all concurrent runs share
  one call of the step loop per presentation.
* ``brian2``: the Brian2 reference model (:mod:`dendritic_snn.dendritic.simulator`) on the
  target named by the task option ``backend`` (``standalone``: ``cpp_standalone``, built
  once; ``numpy`` or ``cython``: runtime targets).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..data.patterns import SpikePattern, regular_train, step_index
from ..errors import DsnnError
from ..hardware.dpi import synapse_tau
from ..hardware.energy import EventCounts
from .network import (
    FIXED,
    PLASTIC,
    ModelParams,
    PlasticityParams,
    SomaNoiseAhead,
    Structure,
    chip_values,
    model_values,
    run_values,
)
from .scaling import scale_to_sums, subtract_to_sums

#: The soma noise of each presentation, the next one drawn ahead in a helper thread.
_NOISE = SomaNoiseAhead()

#: Values of the task option ``engine``.
ENGINES = ("numba", "brian2")


def make_simulator(structure: Structure, profile, cfg: dict, progress: bool | None = None):
    """``(simulator, build_s)`` for the task options ``engine`` and ``backend``.

    ``progress`` shows a timer during a Brian2 C++ build (None: only on a terminal).

    ``build_s`` is the compile time of this call (Brian2 build or Numba compilation; 0 when
    cached in this process).
    """
    engine = str(cfg.get("engine", "numba"))
    if engine == "numba":
        from . import batch
        from .engine import NumbaSimulator

        client = batch.client(structure)
        if client is not None:
            return client, 0.0
        sim = NumbaSimulator(structure)
        return sim, sim.build_s
    if engine != "brian2":
        raise DsnnError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    from .simulator import RuntimeSimulator, get_standalone

    backend = str(cfg.get("backend", "standalone"))
    if backend == "standalone":
        sim, fresh = get_standalone(structure, profile, progress)
        return sim, sim.build_s if fresh else 0.0
    if backend not in ("numpy", "cython"):
        raise DsnnError(f"backend must be standalone, numpy or cython, got {backend!r}")
    return RuntimeSimulator(structure, profile, target=backend), 0.0


def model_from_config(cfg: dict) -> tuple[ModelParams, PlasticityParams]:
    """Model and plasticity constants from a task config (missing keys keep the defaults)."""
    m = ModelParams()
    for key in ("tau_S", "alpha_B", "alpha_A", "alpha_D", "leak", "g_I", "alpha_T",
                "noise_sigma"):  # fmt: skip
        if key in cfg:
            setattr(m, key, float(cfg[key]))
    if "E_hi_nA" in cfg:
        m.E_hi = float(cfg["E_hi_nA"]) * 1e-9
    if "E_lo_nA" in cfg:
        m.E_lo = float(cfg["E_lo_nA"]) * 1e-9
    if cfg.get("tau_S_R") is not None:
        m.tau_S_R = float(cfg["tau_S_R"])
    for key in m.Iw0:
        if f"Iw0_{key}_nA" in cfg:
            m.Iw0[key] = float(cfg[f"Iw0_{key}_nA"]) * 1e-9
    if "phi_th_nA" in cfg:
        m.I_th = float(cfg["phi_th_nA"]) * 1e-9
    p = PlasticityParams()
    for proj in PLASTIC:
        for name in ("lr", "theta", "w_max"):
            key = f"{name}_{proj}"
            if key in cfg:
                getattr(p, name)[proj] = float(cfg[key])
    return m, p


def topdown_signs(mode: str, n_r: int, n_p: int, rng) -> np.ndarray:
    """Signs of the fixed top-down weights R -> P, shape ``(n_r, n_p)``.

    * ``positive``: all excitatory (every pyramidal neuron gets the same teaching signal);
    * ``balanced``: feedback alignment with fixed random signs, balanced so that every
      pyramidal neuron is excited by half of the readouts and inhibited by the others (for
      K = 2 each P neuron is pushed toward one class and away from the other); with a single
      readout, alternate P neurons get + and -;
    * ``random``: i.i.d. random signs.
    """
    s = np.ones((n_r, n_p))
    if mode == "positive":
        return s
    if mode == "random":
        return np.where(rng.random((n_r, n_p)) < 0.5, -1.0, 1.0)
    if mode != "balanced":
        raise ValueError(f"unknown topdown_sign {mode!r}")
    if n_r == 1:
        s[0, 1::2] = -1.0
        return s
    for j in range(n_p):
        s[rng.permutation(n_r)[: n_r // 2], j] = -1.0
    return s


@dataclass
class Presentation:
    """Outcome of one presentation."""

    counts_R: np.ndarray  # readout spike counts
    mean_IS_R: np.ndarray  # mean readout somatic current (A)
    updates: dict[str, int]  # non-zero Eq. 3 updates per plastic projection
    error_R: float  # mean |I_S - I_pred| of the readouts over the pattern (units of I_ref)
    events: EventCounts
    spikes: dict = field(default_factory=dict)  # pop -> (indices, times)


class Experiment:
    """A chip (seed, profile) with masks and weights, presenting patterns on ``sim``."""

    def __init__(self, sim, structure: Structure, profile, seed: int, cfg: dict, rng) -> None:
        self.sim, self.st, self.cfg = sim, structure, cfg
        self.seed = int(seed)
        # presentations so far (calibration included): presentation n gets the soma noise
        # seeded_rng(seed, "soma_noise", str(n)), the same on every back end and every run
        self.n_presented = 0
        self.model, self.plast = model_from_config(cfg)
        self.chip = chip_values(structure, profile, seed, self.model)
        st = structure
        size = {"IN": st.n_in, "P": st.n_p, "R": st.n_r, "I": st.n_r}
        self.shape = {p: (size[s], size[t]) for p, (s, t, _) in {**PLASTIC, **FIXED}.items()}
        sparsity = float(cfg.get("sparsity", 0.0))
        self.masks = {p: np.ones(np.prod(self.shape[p])) for p in PLASTIC}
        m = rng.random(self.shape["in_p"]) >= sparsity
        # every pyramidal neuron keeps at least one input
        for j in np.where(~m.any(axis=0))[0]:
            m[rng.integers(st.n_in), j] = True
        self.masks["in_p"] = m.ravel().astype(float)
        if st.signed_readout and cfg.get("w_pr_sum"):
            raise DsnnError(
                "w_pr_sum (synaptic scaling of the P -> R weight sums) needs "
                "non-negative readout weights: set w_pr_sum 0 with signed_readout"
            )
        # signed readout: initial P -> R weights U(-w, w), else U(0, w)
        w_pr_lo = -cfg["w_pr_init"] if st.signed_readout else 0.0
        self.weights = {
            "in_p": rng.uniform(0, cfg["w_in_init"], self.shape["in_p"]).ravel()
            * self.masks["in_p"],
            "p_r": rng.uniform(w_pr_lo, cfg["w_pr_init"], self.shape["p_r"]).ravel(),
            "p_i": rng.uniform(0, cfg["w_pr_init"], self.shape["p_i"]).ravel(),
            "i_p": np.zeros(np.prod(self.shape["i_p"])),
            "r_p": (
                rng.uniform(0.5, 1.0, self.shape["r_p"])
                * topdown_signs(cfg.get("topdown_sign", "positive"), *self.shape["r_p"], rng)
            ).ravel()
            * cfg["w_topdown"],
        }
        self.fixed_masks = {"r_p": np.ones(np.prod(self.shape["r_p"]))}
        tch = step_index(regular_train(cfg["teacher_rate"], 0.0, cfg["duration"]), st.dt)
        self._teacher_steps = tch[tch < st.n_steps]
        self.n_synapses = int(sum(m.sum() for m in self.masks.values()) + st.n_r * st.n_p)
        # gain of each readout for the synaptic scaling: the analytic synaptic gain of this
        # chip, replaced by the measured 1/f_r when calibrate_readouts runs
        self.readout_gain = readout_synaptic_gain(
            self.chip, chip_values(structure, profile, None, self.model)
        )
        # input traces of the spike-timing input -> P rule decay like the nominal synapse
        self.tau_trace = float(synapse_tau(profile.params["synapse"]))
        self.input_weight_sums = self._input_sums()
        #: weight of each readout's teacher synapse (1: nominal; see calibrate_teacher)
        self.teacher_gain = np.ones(st.n_r)

    def _input_sums(self) -> np.ndarray:
        return self.weights["in_p"].reshape(self.shape["in_p"]).sum(axis=0)

    def scale_input_weights(self, counts: np.ndarray) -> None:
        """Synaptic scaling of the input -> P weights (task option ``in_p_scaling``).

        After every learning presentation each pyramidal neuron's input weights are scaled
        so that their sum is :attr:`input_weight_sums` (set by :meth:`calibrate_hidden`)
        within ``[0, w_max]``, multiplicatively or subtractively (task option ``in_p_norm``;
        :mod:`~dendritic_snn.dendritic.scaling`): the total basal drive is held, so Eq. 3 can
        only move weight between the inputs (with the ``"post"`` rule, onto the inputs that
        coincide before the neuron's spikes). With ``in_p_rate_target`` = n* > 0 the held sum itself
        follows the neuron's spike count n in the presentation (``counts``),

        .. math:: S \\leftarrow S\\,\\mathrm{clip}\\left(\\sqrt{(n^* + 1/2)/(n + 1/2)},
                  1/1.1,\\ 1.1\\right),

        a slow homeostasis of the rate (concentrating the weights on coincident inputs makes
        the neuron fire more): at most 10 % per presentation, since a faster one oscillates
        through the top-down loop (silent and bursting presentations in turn). Both are
        homeostatic constraints, not in the paper.
        """
        if not self.cfg.get("in_p_scaling"):
            return
        target = float(self.cfg.get("in_p_rate_target", 0) or 0)
        if target > 0:
            step = np.sqrt((target + 0.5) / (np.asarray(counts, float) + 0.5))
            self.input_weight_sums = self.input_weight_sums * np.clip(step, 1 / 1.1, 1.1)
        if self.cfg.get("in_p_norm", "multiplicative") == "subtractive":
            w = self.weights["in_p"].reshape(self.shape["in_p"])
            self.weights["in_p"] = subtract_to_sums(
                w, self.input_weight_sums, self.plast.w_max["in_p"], self.masks["in_p"]
            ).ravel()
        else:
            self._scale_sums("in_p", self.input_weight_sums)

    def _scale_sums(self, proj: str, sums: np.ndarray, gain: np.ndarray | float = 1.0) -> None:
        """:func:`~.scaling.scale_to_sums` of the weights of ``proj``."""
        w = self.weights[proj].reshape(self.shape[proj])
        self.weights[proj] = scale_to_sums(w, sums, self.plast.w_max[proj], gain).ravel()

    def calibrate(self, patterns: list) -> dict[str, list[float]]:
        """The unsupervised calibrations the config asks for, on unlabelled ``patterns``.

        Hidden layer (:meth:`calibrate_hidden`) when ``calibrate_spikes > 0``, then readouts
        (:meth:`calibrate_readouts`) when ``calibrate_readout_spikes > 0`` and the synaptic
        scaling ``w_pr_sum`` is on; ``calibrate_iters`` search steps each. Returns the mean
        spike count at each step, ``{"P": [...], "R": [...]}`` (empty when skipped).
        """
        cfg, iters = self.cfg, int(self.cfg.get("calibrate_iters", 8))
        out: dict[str, list[float]] = {"P": [], "R": []}
        if cfg.get("calibrate_spikes", 0) > 0:
            out["P"] = self.calibrate_hidden(patterns, float(cfg["calibrate_spikes"]), iters)
        if cfg.get("calibrate_readout_spikes", 0) > 0 and cfg.get("w_pr_sum"):
            out["R"] = self.calibrate_readouts(patterns, float(cfg["calibrate_readout_spikes"]),
                                               iters)  # fmt: skip
        return out

    def calibrate_hidden(self, patterns: list, target: float, iters: int = 8) -> list[float]:
        """Per-neuron gain calibration of the pyramidal layer (done on chips by bias tuning).

        Presents the (clean) patterns without teacher or plasticity and searches, for each
        pyramidal neuron, the factor ``g`` on its initial input weights whose mean spike count
        per presentation is closest to ``target`` (:func:`bracket_gains`), so that every
        neuron sits in the sparse, coincidence-detecting regime despite mismatch.
        Unsupervised (no labels). Returns the mean count over the neurons at each step.
        """
        shape, w_max = self.shape["in_p"], self.plast.w_max["in_p"]
        w_init = self.weights["in_p"].reshape(shape).copy()

        def set_gain(gain):
            w = np.clip(w_init * gain[None, :], 0, w_max)
            self.weights["in_p"] = w.ravel() * self.masks["in_p"]

        def counts(gain):
            set_gain(gain)
            return self._mean_counts(patterns, "P")

        best, history = bracket_gains(counts, self.st.n_p, target, iters)
        set_gain(best)
        self.input_weight_sums = self._input_sums()
        return history

    def calibrate_teacher(
        self, pattern, target: int, rate_hz: float, iters: int = 8
    ) -> list[float]:
        """Teacher synapse gain of readout ``target`` (bias tuning of the teacher synapse).

        Presents ``pattern`` with the teacher, without plasticity, and searches the factor
        on the teacher synapse's weight (:attr:`teacher_gain`, nominal 1) at which the taught
        readout fires ``rate_hz`` (:func:`bracket_gains`). Mismatch of the teacher synapse and
        of the readout neuron otherwise spreads the taught rate over an order of magnitude
        between chips, down to a readout the teacher cannot make fire. Returns the taught
        readout's spike count at each step.
        """
        gain0 = self.teacher_gain.copy()

        def set_gain(gain):
            self.teacher_gain = gain0.copy()
            self.teacher_gain[target] *= gain[0]

        def counts(gain):
            set_gain(gain)
            return self._mean_counts([pattern], "R", target)[[target]]

        best, history = bracket_gains(counts, 1, rate_hz * self.st.duration, iters)
        set_gain(best)
        return history

    def calibrate_topdown(self, pattern, target: int, ratio: float, iters: int = 8) -> list[float]:
        """Per-neuron gain of the fixed top-down weights (bias tuning of the feedback path).

        Presents ``pattern`` with readout ``target``'s teacher, without plasticity, and
        searches for each pyramidal neuron the factor on its top-down weights R -> P whose
        spike count is ``ratio`` times its count without the teacher (:func:`bracket_gains`),
        so that the teacher raises every hidden neuron's activity by the same factor. The
        taught readout's rate varies ten-fold between chips (mismatch of the teacher synapse
        and the readout), and with it the top-down drive: too little and the pyramidal
        neurons do not learn, too much and they fire throughout the pattern and potentiate
        every input alike. Needs excitatory (positive) top-down weights. Returns the mean
        count over the neurons at each step.
        """
        w_init = self.weights["r_p"].reshape(self.shape["r_p"]).copy()
        if np.any(w_init < 0):
            raise DsnnError("calibrate_topdown needs topdown_sign: positive")
        base = self._mean_counts([pattern], "P")
        goal = ratio * max(float(base.mean()), 1.0)

        def counts(gain):
            self.weights["r_p"] = (w_init * gain[None, :]).ravel()
            return self._mean_counts([pattern], "P", target)

        best, history = bracket_gains(counts, self.st.n_p, goal, iters)
        self.weights["r_p"] = (w_init * best[None, :]).ravel()
        return history

    def calibrate_readouts(self, patterns: list, target: float, iters: int = 8) -> list[float]:
        """Per-neuron gain calibration of the readouts, for the synaptic scaling ``w_pr_sum``.

        With equal P -> R weights ``f_r w_pr_sum / n_p``, searches the factor ``f_r`` of
        each readout whose mean spike count over the (unlabelled) patterns is ``target``
        (:func:`bracket_gains`). A readout that needs a larger ``f_r`` is less excitable
        (mismatch of its synapse *and* its neuron), and :meth:`scale_readout_weights` then
        holds its weight sum at ``f_r w_pr_sum``, so that no readout wins for every pattern
        by being the more excitable circuit. Sets ``readout_gain = 1/f_r``, replacing the
        analytic synaptic gain (:func:`readout_synaptic_gain`), which ignores the neuron's own
        mismatch. Returns the mean count over the readouts at each step.
        """
        total, n_p = float(self.cfg["w_pr_sum"]), self.st.n_p
        w_init = self.weights["p_r"].copy()

        def counts(factor):
            w = np.full(self.shape["p_r"], total / n_p) * factor[None, :]
            self.weights["p_r"] = np.clip(w, 0, self.plast.w_max["p_r"]).ravel()
            return self._mean_counts(patterns, "R")

        best, history = bracket_gains(counts, self.st.n_r, target, iters)
        self.readout_gain = 1 / best
        self.weights["p_r"] = w_init
        self.scale_readout_weights()
        return history

    def calibrate_readout_bias(self, patterns: list, target: float, iters: int = 8,
                               raise_only: bool = False) -> list[float]:  # fmt: skip
        r"""Per-readout tuning of the basal weight bias after training (task option
        ``recalibrate_readout_spikes``; a homeostatic step, not in the paper).

        Presents the unlabelled ``patterns`` without teacher or plasticity and searches, for
        each readout :math:`r`, the factor :math:`g_r` on its basal DPI weight unit
        :math:`I_{w0}` (the bias behind all its P -> R weights, so every learned weight is
        scaled alike) at which its mean spike count per presentation is ``target``
        (:func:`bracket_gains`). With the ``dendrite`` rule the readouts learn to predict
        their taught somatic current with the dendrite, and without the teacher the soma then
        stays below threshold; mismatch of the readout neurons and synapses also makes some
        readouts more excitable than others. Equal mean activity over all patterns (no labels;
        balanced classes) makes every readout fire and leaves it to the learned weights which
        readout fires most for a pattern. With a signed readout the inhibitory basal unit
        (``Iw0_bai``) is scaled by the same factor. With ``raise_only`` the factor is
        :math:`\max(g_r, 1)`: a readout that already fires ``target`` spikes or more keeps
        its bias (the calibration makes no readout less excitable than it was). Returns the
        mean count over the readouts at each step.
        """
        keys = [("R", "Iw0_bas")] + ([("R", "Iw0_bai")] if self.st.signed_readout else [])
        iw0 = {key: np.asarray(self.chip[key], float).copy() for key in keys}

        def set_gain(gain):
            for key in keys:
                self.chip[key] = iw0[key] * gain

        def counts(gain):
            set_gain(gain)
            return self._mean_counts(patterns, "R")

        best, history = bracket_gains(counts, self.st.n_r, target, iters)
        set_gain(np.maximum(best, 1.0) if raise_only else best)
        return history

    def _mean_counts(self, patterns: list, pop: str, target: int | None = None) -> np.ndarray:
        """Mean spike count per presentation of each neuron of ``pop`` (no learning; with
        readout ``target``'s teacher, or none)."""
        n = {"P": self.st.n_p, "R": self.st.n_r}[pop]
        counts = np.zeros(n)
        for pat in patterns:
            p = self.present(pat, target, learn=False, keep_spikes=True)
            counts += np.bincount(p.spikes[pop][0], minlength=n)
        return counts / len(patterns)

    def scale_readout_weights(self) -> None:
        """Synaptic scaling of the P -> R weights (task option ``w_pr_sum``; 0/None = off).

        After every learning presentation each readout's incoming P -> R weights are scaled
        so that their sum times the readout's gain ``readout_gain`` is ``w_pr_sum`` (then
        clipped to ``[0, w_max]``; the gain is ``1/f_r`` of :meth:`calibrate_readouts` when that
        ran, the analytic :func:`readout_synaptic_gain` otherwise): a homeostatic constraint on
        the total drive of each readout (synaptic scaling), so that Eq. 3 redistributes the
        weight among the hidden neurons instead of letting one readout grow strong enough to
        win for every pattern. Not part of Cartiglia et al. 2020 (a stated departure).
        """
        target = self.cfg.get("w_pr_sum")
        if not target:
            return
        self._scale_sums("p_r", float(target), self.readout_gain)

    def stimulus(self, pattern: SpikePattern | None) -> np.ndarray:
        stim = np.zeros((self.st.n_steps, self.st.n_in), np.uint8)
        if pattern is not None and len(pattern):
            k = step_index(pattern.times, self.st.dt)
            ok = k < self.st.n_steps
            stim[k[ok], pattern.indices[ok]] = 1
        return stim

    def _check_finite(self, res: dict) -> None:
        """Stop with one line when the simulation diverged (NaN/inf in a readout or weight).

        The somata are integrated exactly (stable for any conductance), but the DPI circuits
        use forward Euler; should a mismatch draw make one of them unstable, a NaN would
        otherwise spread into the weights and read as chance accuracy.
        """
        bad = [name for name, arr in (("readout I_S", res["I_S_R"]),
                                      *((f"weights {p}", res["w"][p]) for p in PLASTIC))
               if not np.all(np.isfinite(np.asarray(arr, float)))]  # fmt: skip
        if bad:
            raise DsnnError(
                f"the simulation diverged (NaN/inf in {', '.join(bad)}) at presentation "
                f"{self.n_presented} of seed {self.seed}: the integration is unstable for this "
                "chip's mismatch draw; use a lower mismatch or another seed"
            )

    def present(
        self, pattern: SpikePattern | None, target: int | None, learn: bool,
        teach_nontarget: bool = False, keep_spikes: bool = False,
    ) -> Presentation:  # fmt: skip
        """One presentation of ``pattern`` (None: silence) on the simulator: with readout
        ``target``'s teacher (None: no teacher; ``teach_nontarget``: the others pulled
        toward ``E_lo``), with plasticity when ``learn``. Weights learned are kept."""
        vals, extra = self.prepare(pattern, target, learn, teach_nontarget, keep_spikes)
        return self.finish(self.sim.run(vals), extra)

    def present_without_learning(
        self, patterns: Iterable[SpikePattern], workers: int = 1
    ) -> Iterator[Presentation]:
        """:meth:`present` of each pattern in order, without teacher or plasticity, keeping
        the spikes; the same presentations as one by one.

        On the in-process engine up to ``workers`` step loops run at once in threads (the
        compiled loop releases the interpreter lock), so a test set uses several cores; the
        run data are still prepared, and the results taken, in order.
        """
        from concurrent.futures import ThreadPoolExecutor

        from .engine import NumbaSimulator

        if workers <= 1 or not isinstance(self.sim, NumbaSimulator):
            for pattern in patterns:
                yield self.present(pattern, None, learn=False, keep_spikes=True)
            return

        def oldest() -> Presentation:
            future, extra = running.popleft()
            return self.finish(future.result(), extra)

        running: deque = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="present") as pool:
            for pattern in patterns:
                vals, extra = self.prepare(pattern, None, learn=False, keep_spikes=True)
                running.append((pool.submit(self.sim.run, vals), extra))
                if len(running) == workers:
                    yield oldest()
            while running:
                yield oldest()

    def prepare(
        self, pattern: SpikePattern | None, target: int | None, learn: bool,
        teach_nontarget: bool = False, keep_spikes: bool = False,
    ) -> tuple[dict, dict]:  # fmt: skip
        """The run data of one presentation (:func:`~.network.run_values`) and what
        :meth:`finish` needs; split from :meth:`present` so that a caller can run the
        presentations of many chips in one batch.

        With the task option ``topdown_only_with_teacher`` the top-down R -> P weights are 0
        in presentations without a teacher: the self-predicting state of Sacramento et al.
        2018, in which the interneurons cancel the top-down input exactly unless a teacher
        nudges the readout, taken as ideal.
        """
        st = self.st
        hi = np.zeros((st.n_steps, st.n_r), np.uint8)
        lo = np.zeros((st.n_steps, st.n_r), np.uint8)
        if target is not None:
            hi[self._teacher_steps, target] = 1
            if teach_nontarget:
                others = [r for r in range(st.n_r) if r != target]
                lo[np.ix_(self._teacher_steps, others)] = 1
        stim = self.stimulus(pattern)
        consts = model_values(self.model, self.plast, learn)
        if st.in_p_rule == "post":
            consts[("in_p", "tau_trace")] = self.tau_trace
        masks = {**self.masks}
        noise = None
        if st.noise and self.model.noise_sigma > 0:
            noise = _NOISE.get(st, self.seed, self.n_presented)
        self.n_presented += 1
        weights = {**self.weights, "th": self.teacher_gain}
        if target is None and self.cfg.get("topdown_only_with_teacher"):
            weights["r_p"] = np.zeros_like(weights["r_p"])
        vals = run_values(st, self.chip, consts, weights, masks, stim, hi, lo, noise)
        extra = {"stim": stim, "hi": hi, "lo": lo, "learn": learn, "keep_spikes": keep_spikes}
        return vals, extra

    def finish(self, res: dict, extra: dict) -> Presentation:
        """Take the simulator's results of a presentation from :meth:`prepare`: keep the
        learned weights, apply the synaptic scalings, count events."""
        st = self.st
        stim, hi, lo, learn = extra["stim"], extra["hi"], extra["lo"], extra["learn"]
        self._check_finite(res)
        if learn:
            for proj in PLASTIC:
                self.weights[proj] = np.asarray(res["w"][proj], float)
        updates = {p: int(np.sum(res["n_upd"][p])) for p in PLASTIC}
        n_spk = {pop: len(res["spikes"][pop][0]) for pop in ("P", "R", "I")}
        per_neuron = {pop: np.bincount(res["spikes"][pop][0], minlength=n)
                      for pop, n in (("P", st.n_p), ("R", st.n_r), ("I", st.n_r))}  # fmt: skip
        if learn:
            self.scale_readout_weights()
            self.scale_input_weights(per_neuron["P"])
        n_in_spk = stim.sum(axis=0)
        syn = float(n_in_spk @ self.masks["in_p"].reshape(self.shape["in_p"]).sum(axis=1))
        syn += per_neuron["P"].sum() * (2 * st.n_r)  # P -> R and P -> I
        syn += per_neuron["R"].sum() * st.n_p + per_neuron["I"].sum() * st.n_p
        syn += float(hi.sum() + lo.sum())  # teacher synapses
        events = EventCounts(
            spikes=float(sum(n_spk.values())), synaptic_events=syn,
            weight_updates=float(sum(updates.values())), elapsed_s=st.duration,
            neurons=st.n_p + 2 * st.n_r, synapses=self.n_synapses,
        )  # fmt: skip
        I_S = np.asarray(res["I_S_R"], float)
        n_pat = int(round(self.cfg["duration"] / 1e-3))
        err = np.abs(I_S - np.asarray(res["I_pred_R"], float))[:, :n_pat]
        return Presentation(
            counts_R=per_neuron["R"],
            mean_IS_R=I_S.mean(axis=1) if I_S.size else np.zeros(st.n_r),
            updates=updates,
            error_R=float(err.mean() / self.model.I_ref) if err.size else 0.0,
            events=events,
            spikes=res["spikes"] if extra["keep_spikes"] else {},
        )


def readout_synaptic_gain(chip: dict, nominal: dict) -> np.ndarray:
    """Mismatched charge per P spike of each readout's basal DPI synapse, relative to nominal.

    A DPI synapse adds ``Iw Ith/Itau`` per spike and decays with ``C Ut/(kappa Itau)``, so its
    mean current per spike is proportional to ``Iw Ith C Ut/(kappa Itau^2)``; ``chip`` and
    ``nominal`` are :func:`~.network.chip_values` of the mismatched and the nominal chip.
    This is the drive a readout actually receives (what a homeostatic circuit senses).
    """

    def charge(v):
        kappa = (v["kn"] + v["kp"]) / 2
        return v["Iw0"] * v["Ith"] * v["C"] * v["Ut"] / (kappa * v["Itau"] ** 2)

    keys = ("Iw0", "Ith", "C", "Ut", "kn", "kp", "Itau")
    var = {k: ("Iw0_bas" if k == "Iw0" else f"{k}_syn_bas") for k in keys}
    actual = {k: np.asarray(chip[("R", var[k])], float) for k in keys}
    nom = {k: float(np.mean(nominal[("R", var[k])])) for k in keys}
    return charge(actual) / charge(nom)


def bracket_gains(
    counts: Callable[[np.ndarray], np.ndarray], n: int, target: float, iters: int
) -> tuple[np.ndarray, list[float]]:
    """Per-neuron gain search: the gains whose spike counts ``counts(gain)`` are nearest ``target``.

    The count rises steeply and monotonically with the gain, so the search brackets it: a
    neuron's gain doubles (halves) while its count stays below (above) the target, then the
    bracket is bisected geometrically; the best gain seen is kept (a damped fixed-point step
    ``((target + .5)/(count + .5))**p`` can oscillate between neurons far above and far below
    the target). Returns ``(best gains, mean count at each step)``.
    """
    gain, lo, hi = np.ones(n), np.zeros(n), np.full(n, np.inf)
    best, best_miss = np.ones(n), np.full(n, np.inf)
    history = []
    for _ in range(iters):
        c = np.asarray(counts(gain), float)
        history.append(float(c.mean()))
        miss = np.abs(c - target)
        better = miss < best_miss
        best[better], best_miss[better] = gain[better], miss[better]
        above = c > target
        hi[above] = np.minimum(hi[above], gain[above])
        lo[~above] = np.maximum(lo[~above], gain[~above])
        bracketed = (lo > 0) & np.isfinite(hi)
        gain = np.where(bracketed, np.sqrt(np.maximum(lo, 1e-12) * hi),
                        np.where(above, gain / 2, gain * 2))  # fmt: skip
    return best, history


def classify(p: Presentation) -> int:
    """Readout with the most spikes; ties broken by the mean somatic current."""
    score = p.counts_R + 1e-3 * p.mean_IS_R / (np.abs(p.mean_IS_R).max() + 1e-30)
    return int(np.argmax(score))


def learning_trend(updates: list | np.ndarray, errors: list | np.ndarray | None = None) -> dict:
    """Stop-learning summary of a training run: the mean weight updates (outside the Eq. 3
    band) per presentation, and the mean readout error, over the first and the last third of
    the training presentations (a fall of both is stop-learning at work)."""
    u = np.asarray(updates, float)
    third = max(len(u) // 3, 1)
    out = {
        "weight_updates": int(u.sum()),
        "weight_updates_per_presentation_first_third": float(u[:third].mean()) if u.size else 0.0,
        "weight_updates_per_presentation_last_third": float(u[-third:].mean()) if u.size else 0.0,
    }
    if errors is not None and len(errors):
        e = np.asarray(errors, float)
        out["readout_error_first_third"] = float(e[:third].mean())
        out["readout_error_last_third"] = float(e[-third:].mean())
    return out


def calcium_trace(times: np.ndarray, t_end: float, tau: float = 0.2, dt: float = 1e-3):
    """The readout "calcium" trace: spikes low-pass filtered with ``tau`` (200 ms), in Hz.

    ``c(t) = sum_k exp(-(t - t_k)/tau) / tau`` for ``t_k <= t``; a constant rate ``r`` gives
    ``c -> r``. Returns ``(t, c)`` sampled every ``dt``.
    """
    t = np.arange(0.0, t_end, dt)
    counts = np.histogram(times, bins=np.append(t, t_end))[0].astype(float)
    c = np.zeros_like(t)
    decay = np.exp(-dt / tau)
    acc = 0.0
    for k, n in enumerate(counts):
        acc = acc * decay + n / tau
        c[k] = acc
    return t, c
