r"""Batched, vectorised NumPy engine for EqSpike (:mod:`dendritic_snn.eqspike.eqspike`).

``batch_size`` examples run at once (float32); one engine step is one IFC minimum period
(:func:`~dendritic_snn.eqspike.eqspike.map_profile`). Per step, in this order:

1. currents :math:`I_h = x W_0 + (W_1 \odot g_{out}) S_o + b_0`,
   :math:`I_o = (W_1 \odot g_{out})^\top S_h + b_1 + \beta (y - r_o)` from the previous
   step's spikes;
2. neurons: :math:`v \leftarrow \mathrm{clip}(v + g(I - \ell), 0, v_{top})`, spike at
   :math:`v \ge 1`, subtract 1;
3. traces, differentiators (or, ``comparator="held"``, trace minus the reference that tracks
   the trace in the free phase and is held in the nudged phase), comparators (:math:`G`);
   input sigma-delta spikes; output rate :math:`r_o`;
4. nudged phase only: strobe counts :math:`\sigma S_j G_i` and :math:`\sigma S_i G_j`
   (charge if positive, discharge if negative), written at the end of the nudged phase(s);
   netted per synapse when up and down steps are equal (no mismatch, or a shared drive).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..hardware.energy import EventCounts
from ..hardware.profiles import Profile
from .eqspike import (
    ChipParams,
    EqSpikeConfig,
    calibrate_gain,
    derivative_update,
    glorot,
    lpf2_step,
    map_profile,
    ternary,
)

Array = np.ndarray
#: membrane ceiling in units of the hysteresis: (VDD - V_fall) / (V_rise - V_fall) = 3
V_TOP = 3.0


class _State:
    """Per-batch dynamic state (all float32 arrays, layer 0 = hidden, 1 = output)."""

    def __init__(self, batch: int, sizes: tuple[int, ...], phase0: Array) -> None:
        shapes = [(batch, n) for n in sizes[1:]]
        self.v = [np.zeros(s, np.float32) for s in shapes]
        self.s = [np.zeros(s, np.float32) for s in shapes]
        self.y1 = [np.zeros(s, np.float32) for s in shapes]
        self.y2 = [np.zeros(s, np.float32) for s in shapes]
        self.d = [np.zeros(s, np.float32) for s in shapes]
        self.g = [np.zeros(s, np.float32) for s in shapes]
        self.ref = [np.zeros(s, np.float32) for s in shapes]  # held-reference comparator
        self.r = np.zeros(shapes[-1], np.float32)
        self.u = phase0.astype(np.float32)  # input sigma-delta accumulators

    def copy(self) -> _State:
        new = object.__new__(_State)
        for key, value in self.__dict__.items():
            new.__dict__[key] = (
                [a.copy() for a in value] if isinstance(value, list) else value.copy()
            )
        return new


class EqSpike:
    """A trainable EqSpike chip model (batched engine).

    Parameters
    ----------
    config
        Hyperparameters.
    profile
        Hardware profile (``cmos45_spiking_ep``); its mismatch sigma applies.
    seed
        Chip seed (mismatch) and default initialisation seed.
    rng
        Generator for the Glorot initialisation (the rate-EP one); default from ``seed``.
    """

    def __init__(
        self,
        config: EqSpikeConfig,
        profile: Profile,
        seed: int = 0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.config = config
        self.profile = profile
        self.chip: ChipParams = map_profile(
            profile, config.sizes, config.w_max, seed, config.synapse_drive
        )
        self.gain_trim: list[Array] | None = None
        if config.gain_trim_bits:
            self.chip.gain, self.gain_trim = calibrate_gain(self.chip, config.gain_trim_bits)
        rng = rng if rng is not None else np.random.default_rng(seed)
        self.weights = [
            np.clip(a * w, -config.w_max, config.w_max).astype(np.float32)
            for a, w in zip(config.init_scale, glorot(config.sizes, rng), strict=True)
        ]
        self.biases = [np.zeros(n, np.float32) for n in config.sizes[1:]]
        self.events = {
            "spikes": 0.0,
            "synaptic_events": 0.0,
            "comparator_strobes": 0.0,
            "weight_updates": 0.0,
            "steps": 0.0,
        }
        self.examples = {"inference": 0, "training": 0}

    # ------------------------------------------------------------------------- dynamics
    def _w1(self) -> Array:
        w = self.weights[1]
        return w if self.chip.matched else w * self.chip.g_out[1]

    def _bottom(self, x: Array) -> Array:
        w0 = self.weights[0] if self.chip.matched else self.weights[0] * self.chip.g_out[0]
        return x @ w0 + self.biases[0]

    def _run(
        self,
        st: _State,
        x: Array,
        bottom: Array,
        n_steps: int,
        beta: float = 0.0,
        target: Array | None = None,
        learn: dict | None = None,
        polarity: float = 1.0,
        read: int = 0,
    ) -> Array | None:
        """Advance ``st`` by ``n_steps``; returns output spike counts of the last ``read`` steps
        plus 1e-3 x their integrated input (tie-break), if ``read``."""
        chip, cfg = self.chip, self.config
        w1 = self._w1()
        count = np.zeros_like(st.r) if read else None
        spikes = syn = 0.0
        held = cfg.comparator == "held"
        for t in range(n_steps):
            s_h, s_o = st.s
            currents = [bottom + s_o @ w1.T, s_h @ w1 + self.biases[1]]
            if beta:
                currents[1] += beta * (target - st.r)
            for k in range(2):
                v = st.v[k] + chip.gain[k] * (currents[k] - chip.leak[k])
                np.clip(v, 0.0, V_TOP, out=v)
                s = (v >= 1.0).astype(np.float32)
                st.v[k] = v - s
                st.s[k] = s
                y_prev = st.y2[k]
                pulse = chip.duty * chip.v_spike * s
                st.y1[k], st.y2[k] = lpf2_step(st.y1[k], y_prev, pulse, k, chip)
                if held:
                    st.d[k] = st.y2[k] - st.ref[k]
                    if not beta:  # free phase: the reference tracks the trace; held after
                        st.ref[k] += (st.y2[k] - st.ref[k]) / cfg.ref_tau
                else:
                    st.d[k] = derivative_update(st.d[k], y_prev, st.y2[k], k, chip)
                st.g[k] = ternary(st.d[k], chip.theta[k])
            st.u += x
            s_in = (st.u >= 1.0).astype(np.float32)
            st.u -= s_in
            st.r += (st.s[1] - st.r) / cfg.tau_nudge
            n_h, n_o = st.s[0].sum(), st.s[1].sum()
            spikes += n_h + n_o
            syn += n_h * cfg.sizes[2] + n_o * cfg.sizes[1]
            if learn is not None:
                self._strobe(learn, s_in, st, polarity)
            if read and t >= n_steps - read:
                count += st.s[1] + 1e-3 * currents[1]
        self.events["spikes"] += float(spikes)
        self.events["synaptic_events"] += float(syn + x.sum() * n_steps * cfg.sizes[1])
        self.events["steps"] += n_steps
        return count

    def _strobe(self, learn: dict, s_in: Array, st: _State, polarity: float) -> None:
        """Accumulate strobes of one nudged step (charge/discharge split when mismatched)."""
        g_h, g_o = st.g[0] * polarity, st.g[1] * polarity
        s_h, s_o = st.s
        learn["s_in"].append(s_in)
        learn["g_h"].append(g_h)
        both = self.config.strobes == "both"
        if self.chip.symmetric_steps:
            learn["net1"] += s_h.T @ g_o
            if both:
                learn["net1"] += g_h.T @ s_o
        else:
            for key, sel in (("up1", 1.0), ("down1", -1.0)):
                learn[key] += s_h.T @ (g_o == sel)
                if both:
                    learn[key] += (g_h == sel).T @ s_o
        learn["gb_h"].append(g_h.sum(axis=0))
        learn["gb_o"].append(g_o.sum(axis=0))
        n_gh, n_go = np.abs(g_h).sum(axis=1), np.abs(g_o).sum(axis=1)
        learn["n_updates"] += float(
            (s_in.sum(axis=1) * n_gh).sum()
            + (s_h.sum(axis=1) * n_go).sum()
            + (both * (s_o.sum(axis=1) * n_gh).sum())
        )
        n_h, n_o = self.config.sizes[1:]
        biases = self.config.bias_updates
        learn["n_strobes"] += float(
            s_in.sum() * n_h + s_h.sum() * n_o + both * s_o.sum() * n_h
            + biases * len(s_h) * (n_h + n_o)
        )  # fmt: skip
        if biases:
            learn["n_updates"] += float(n_gh.sum() + n_go.sum())

    def _apply(self, learn: dict, lr_scale: float) -> None:
        """Write the accumulated strobes to the weight capacitors (clipped at the rails)."""
        cfg, chip = self.config, self.chip
        s_in = np.concatenate(learn["s_in"])
        g_h = np.concatenate(learn["g_h"])
        gain = [lr_scale * a for a in cfg.update_gain]
        if chip.symmetric_steps:
            counts = [(s_in.T @ g_h, None), (learn["net1"], None)]
        else:
            counts = [
                (s_in.T @ (g_h > 0), s_in.T @ (g_h < 0)),
                (learn["up1"], learn["down1"]),
            ]
        for k, (a, b) in enumerate(counts):
            if b is None:
                delta = chip.step_up[k] * a
            else:
                delta = chip.step_up[k] * a - chip.step_down[k] * b
            w = self.weights[k] + gain[k] * delta
            self.weights[k] = np.clip(w, -cfg.w_max, cfg.w_max).astype(np.float32)
        if cfg.bias_updates:
            for k, key in enumerate(("gb_h", "gb_o")):
                net = np.sum(learn[key], axis=0)
                delta = chip.bias_up[k] * np.maximum(net, 0) - chip.bias_down[k] * np.maximum(
                    -net, 0
                )
                b = self.biases[k] + gain[k] * delta
                self.biases[k] = np.clip(b, -cfg.w_max, cfg.w_max).astype(np.float32)
        self.events["weight_updates"] += learn["n_updates"]
        self.events["comparator_strobes"] += learn["n_strobes"]

    # ------------------------------------------------------------------------- training
    def _new_learn(self) -> dict:
        n_h, n_o = self.config.sizes[1:]
        zeros = np.zeros((n_h, n_o), np.float32)
        return {
            "s_in": [],
            "g_h": [],
            "gb_h": [],
            "gb_o": [],
            "n_updates": 0.0,
            "n_strobes": 0.0,
            "net1": zeros.copy(),
            "up1": zeros.copy(),
            "down1": zeros.copy(),
        }

    def step(
        self, x: Array, labels: Array, rng: np.random.Generator, lr_scale: float = 1.0
    ) -> Array:
        """Free phase, nudged phase(s), weight write for one minibatch; returns the free-phase
        predictions (online training accuracy)."""
        cfg = self.config
        x = np.asarray(x, np.float32)
        target = np.zeros((len(x), cfg.sizes[-1]), np.float32)
        target[np.arange(len(x)), labels] = 1.0
        st = _State(len(x), cfg.sizes, rng.random(x.shape))
        bottom = self._bottom(x)
        counts = self._run(st, x, bottom, cfg.n_free, read=cfg.n_read)
        learn = self._new_learn()
        if cfg.nudge == "symmetric":
            phases = [(cfg.beta, 1.0), (-cfg.beta, -1.0)]
        elif cfg.nudge == "random":
            sign = float(rng.choice((-1.0, 1.0)))
            phases = [(sign * cfg.beta, sign)]
        else:
            phases = [(cfg.beta, 1.0)]
        for beta, polarity in phases:
            phase_state = st.copy() if len(phases) > 1 else st
            self._run(phase_state, x, bottom, cfg.n_nudge, beta, target, learn, polarity)
        self._apply(learn, lr_scale)
        self.examples["training"] += len(x)
        return np.argmax(counts, axis=1)

    def train_epoch(
        self,
        x: Array,
        labels: Array,
        rng: np.random.Generator,
        callback=None,
        lr_scale: float = 1.0,
    ) -> float:
        """One pass in a random order (from ``rng``); returns the online free-phase accuracy."""
        order = rng.permutation(len(x))
        correct = 0
        for start in range(0, len(x), self.config.batch_size):
            index = order[start : start + self.config.batch_size]
            predicted = self.step(x[index], labels[index], rng, lr_scale)
            correct += int(np.sum(predicted == labels[index]))
            if callback is not None:
                callback(len(index))
        return correct / max(len(x), 1)

    # ------------------------------------------------------------------------ inference
    def output(self, x: Array, batch: int = 500, seed: int = 0) -> Array:
        """Readout scores (output spike counts of the last ``n_read`` of ``n_eval`` free
        steps, tie-broken by integrated input)."""
        cfg = self.config
        rng = np.random.default_rng(seed)
        outs = []
        for start in range(0, len(x), batch):
            xb = np.asarray(x[start : start + batch], np.float32)
            st = _State(len(xb), cfg.sizes, rng.random(xb.shape))
            outs.append(self._run(st, xb, self._bottom(xb), cfg.n_eval, read=cfg.n_read))
            self.examples["inference"] += len(xb)
        return np.concatenate(outs) if outs else np.zeros((0, cfg.sizes[-1]))

    def predict(self, x: Array, batch: int = 500) -> Array:
        """Predicted labels."""
        return np.argmax(self.output(x, batch), axis=1)

    # ------------------------------------------------------------------- energy, checkpoints
    def state_dict(self) -> dict[str, Array]:
        """``W<k>``, ``b<k>`` (float32)."""
        out = {f"W{k}": w for k, w in enumerate(self.weights)}
        out.update({f"b{k}": b for k, b in enumerate(self.biases)})
        return out

    def load_state_dict(self, arrays) -> None:
        """Restore from :meth:`state_dict` output."""
        self.weights = [np.array(arrays[f"W{k}"], np.float32) for k in range(2)]
        self.biases = [np.array(arrays[f"b{k}"], np.float32) for k in range(2)]
        if tuple(w.shape for w in self.weights) != tuple(
            zip(self.config.sizes[:-1], self.config.sizes[1:], strict=True)
        ):
            raise ValueError("checkpoint sizes differ from the config")

    def describe(self) -> dict:
        """Configuration and the profile mapping as plain data."""
        out = {**asdict(self.config), "chip": dict(self.chip.notes)}
        if self.gain_trim is not None:
            gains = np.concatenate(self.chip.gain)
            out["chip"]["gain_after_trim"] = [float(gains.min()), float(gains.max())]
        return out


def measure_events(net: EqSpike, x: Array, labels: Array, rng: np.random.Generator) -> dict:
    """Per-example :class:`EventCounts` of inference and training on probe examples ``x``.

    Runs one inference pass and one training step (on a copy of the weights, restored after)
    and divides the counted events by the number of examples. ``neurons``/``synapses`` are
    the chip's circuit counts; elapsed time is steps x the step length, and the learning
    blocks (rate filter, derivative, comparators, bias) are powered for the whole of a
    training example (the trace must be settled at the nudge onset) and off in inference.
    """
    cfg = net.config
    n_neurons = sum(cfg.sizes[1:])
    n_syn = sum(a * b for a, b in zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True)) + n_neurons
    saved = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    out = {}
    for kind in ("inference", "training"):
        before = dict(net.events)
        if kind == "inference":
            net.output(x)
            steps = cfg.n_eval
        else:
            net.step(x, labels, rng)
            steps = cfg.n_free + cfg.n_nudge * (2 if cfg.nudge == "symmetric" else 1)
        diff = {k: (net.events[k] - before[k]) / len(x) for k in before}
        out[kind] = EventCounts(
            spikes=diff["spikes"],
            synaptic_events=diff["synaptic_events"],
            comparator_strobes=diff["comparator_strobes"],
            weight_updates=diff["weight_updates"],
            elapsed_s=steps * net.chip.step_s,
            learning_s=steps * net.chip.step_s if kind == "training" else 0.0,
            neurons=n_neurons,
            synapses=n_syn,
        )
    net.weights, net.biases = saved
    return out
