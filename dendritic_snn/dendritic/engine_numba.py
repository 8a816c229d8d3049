"""Compiled step loop of the dendritic network: one presentation of a batch of chips.

:func:`run_batch` integrates the same equations as the Brian2 circuit of
:mod:`dendritic_snn.dendritic.network` (documented there and in
:mod:`dendritic_snn.hardware.dpi`) with the same step order as Brian2's default schedule, for
``B`` independent chips at once (leading batch axis). All neurons of a chip share one state
array, P first, then R, then I (the column order of the soma noise); every neuron has three
compartment slots (P: basal, apical exc., apical inh.; R: basal, teacher-hi, teacher-lo;
I: dendrite, two unused slots resting at their floor), four with a signed readout
(``signed``: R's fourth slot is its inhibitory basal current ``bai``, R's dendrite
``c_B (I_bas - I_bai)``, P -> R weights in ``[-w_max, w_max]``; the fourth slots of P and I
are unused).

Each time step ``k`` (``t = k dt``), as Brian2 orders it:

1. *start*: record ``I_S`` and ``I_pred`` of the readouts every ``rec_every`` steps; the
   interneuron target ``I_tgt = I_S^R`` (the summed variable, updated before the groups);
2. *groups*: forward Euler of every DPI circuit from the state at the start of the step,

   .. math:: \\tau (1 + I_{th,c}/(I_{mem} + I_o)) \\dot I_{mem} = \\dots,\\quad
             \\tau_s (1 + I_g/I_{syn}) \\dot I_{syn} = -I_{syn} - I_g + 2 I_o [I_{syn} \\le I_o],

   (``Imem`` frozen while refractory: ``k - k_spike < timestep(t_ref)``), and the exact
   step of the somata ``I_S += (D/G - I_S)(1 - e^{-G dt/\\tau_S}) + \\sigma I_{ref}
   \\sqrt{1 - e^{-2dt/\\tau_S}} z_k``, of ``I_pred`` and of ``I_Ahat``;
3. *thresholds*: ``Imem > Ispkthr`` and not refractory; input and teacher spikes of step k;
4. *before_synapses*: jump gains ``I_g/(I_{\\tau,c}(I_g/I_{syn} + 1))`` from the new ``Isyn``;
5. *synapses*: every presynaptic spike adds ``w Iw0 jump_gain`` to its target's current and
   applies Eq. 3 (pre rule) from the new somatic state; then the post rule of the input -> P
   projection at the P spikes (``dw = lr w x B_Theta(e)``, ``x`` the exact exponential
   input trace);
6. *resets*: ``Imem = Ireset``, ``Iahp += (Ica/Itau_ahp) Ith_ahp_c``.

Steps 4-6 only run at steps with a presynaptic spike (input, teacher or network): nothing
else reads the jump gains and errors. Step 2 runs as branch-free loops over contiguous
per-parameter arrays (somata; the ``Ia`` exponents, then libm's ``exp`` only where ``Ia``
counts; ``Imem``; ``Iahp``; the ``3 n`` (or ``4 n``) synapse slots, flat) that the compiler
vectorizes: the same IEEE operations in the same order per neuron (no fast-math, no FMA
contraction), so the doubles are those of a plain per-neuron loop. Loop invariants (time
constants, gain ratios) are evaluated once per call, in NumPy before the compiled loop
(:func:`chip_invariants`: a smaller function to compile), as the same expressions, and the
scratch arrays are allocated there too. The structure flags (post rule, dendrite error,
signed readout) are constants of the compiled loop, one variant per combination
(:func:`_kernel`), so Numba prunes the other rules' branches before it compiles. Divisions
follow NumPy's error model (a division by zero gives inf/NaN, which
:meth:`~dendritic_snn.dendritic.experiment.Experiment.finish` reports as a diverged run,
instead of raising inside the loop).

Parameter packing (rows per neuron, columns in the order of ``NEURON_UNITS`` and
``SYNAPSE_UNITS`` of :mod:`dendritic_snn.hardware.dpi`) is done by
:mod:`dendritic_snn.dendritic.engine`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# neuron parameter columns (NEURON_UNITS order)
_IO, _UT, _KN, _KP, _C, _ITAU, _ITH, _ISPK, _IRST, _ICONST, _ISHUNT, _TREF = range(12)
_ICA, _ITAU_AHP, _ITH_AHP, _C_AHP, _IATH, _IAGAIN, _IANORM = range(12, 19)
# synapse parameter columns (SYNAPSE_UNITS order)
_S_IO, _S_UT, _S_KN, _S_KP, _S_C, _S_ITAU, _S_ITH, _S_IW0 = range(8)
# per-chip constants (see engine.CONSTS)
(_CB, _CA, _CD, _GI, _ALPHA_T, _EHI, _ELO, _ITH_PHI, _IREF, _TAU_S, _TAU_S_R, _SIGMA,
 _TAU_TRACE, _CB_R) = range(14)  # fmt: skip
# plastic projections (rows of the plasticity table) and its columns
_IN_P, _P_R, _P_I, _I_P = range(4)
_LR, _THETA, _WMAX = range(3)
# rows of the loop invariants (chip_invariants): per neuron, per synapse slot
_TAU_AHP, _TAU_MEM_HI, _TAU_MEM_LO, _GAIN_HI, _GAIN_LO, _RELAX, _NOISE_GAIN = range(7)
_SIO, _SITH, _SITAU, _S_TAU_HI, _S_TAU_LO = range(5)


@njit(cache=True, nogil=True)
def _band(e, theta):
    """Eq. 3 with eta = 1: ``e - theta`` above the band, ``e + theta`` below, 0 inside."""
    if e > theta:
        return e - theta
    if e < -theta:
        return e + theta
    return 0.0


@njit(cache=True, nogil=True)
def _clip(value, lo, hi):
    """Brian2's C++ ``clip`` (lower bound checked first)."""
    if value < lo:
        return lo
    if value > hi:
        return hi
    return value


def _make_run_chip(POST_RULE: bool, DENDRITE_ERROR: bool, SIGNED: bool):  # noqa: N803
    """The step loop of one chip for one set of structure flags (see :func:`run_batch`)."""

    @njit(cache=True, nogil=True, error_model="numpy")
    def _run_chip(
        npt, n_ref, ninv, spar, sinv, cst, plast, n_p, n_r, dt,
        w_in_p, w_p_r, w_p_i, w_i_p, w_r_p, w_th,
        m_in_p, m_p_r, m_p_i, m_i_p,
        stim, teach_hi, teach_lo, noise, rec_every,
        imem, iahp, i_s, i_pred, i_ahat,
        spk_k, spk_j, n_spk, nupd_in_p, nupd_p_r, nupd_p_i, nupd_i_p, rec_IS, rec_pred,
        isf, ev_ptr, ev_idx, teach, last, jg, s_new, ia_arg, ia_exp, ia_on, spiked, not_ref, i_tgt,
        x_in, x_last, err,
    ):  # fmt: skip
        n = n_p + 2 * n_r
        ns = spar.shape[1]  # compartment slots per neuron (4 with a signed readout: R's bai)
        n_in = stim.shape[1]
        n_steps = stim.shape[0]
        r0 = n_p
        i0 = n_p + n_r
        # ---- loop invariants (see chip_invariants): contiguous rows, so the loops below vectorize
        io_v, ith_v, itau_v = npt[_IO], npt[_ITH], npt[_ITAU]
        ispk_v, iconst_v, ishunt_v = npt[_ISPK], npt[_ICONST], npt[_ISHUNT]
        ith_ahp_v, iath_v = npt[_ITH_AHP], npt[_IATH]
        ianorm_v, iagain_v = npt[_IANORM], npt[_IAGAIN]
        irst_v, ica_v, itau_ahp_v = npt[_IRST], npt[_ICA], npt[_ITAU_AHP]
        tau_ahp, tau_mem_hi, tau_mem_lo = ninv[_TAU_AHP], ninv[_TAU_MEM_HI], ninv[_TAU_MEM_LO]
        gain_hi, gain_lo = ninv[_GAIN_HI], ninv[_GAIN_LO]
        relax, noise_gain = ninv[_RELAX], ninv[_NOISE_GAIN]
        sio_f, sith_f, sitau_f = sinv[_SIO], sinv[_SITH], sinv[_SITAU]
        s_tau_hi, s_tau_lo = sinv[_S_TAU_HI], sinv[_S_TAU_LO]
        n_syn = ns * n
        i_ref = cst[_IREF]
        c_b, c_a, c_d, c_b_r = cst[_CB], cst[_CA], cst[_CD], cst[_CB_R]
        alpha_t, e_hi, e_lo = cst[_ALPHA_T], cst[_EHI], cst[_ELO]
        g_i = cst[_GI]
        relax_i = 1.0 - math.exp(-(1.0 + g_i) * dt / cst[_TAU_S])
        tau_s_r = cst[_TAU_S_R]
        trace_decay_tau = cst[_TAU_TRACE]
        # input spikes of each step: ev_idx[ev_ptr[k]:ev_ptr[k + 1]] (ascending input index)
        for k in range(n_steps):
            cnt = 0
            for i in range(n_in):
                if stim[k, i] != 0:
                    cnt += 1
            ev_ptr[k + 1] = ev_ptr[k] + cnt
        for k in range(n_steps):
            m = ev_ptr[k]
            for i in range(n_in):
                if stim[k, i] != 0:
                    ev_idx[m] = i
                    m += 1
        for k in range(n_steps):
            for r in range(n_r):
                if teach_hi[k, r] != 0 or teach_lo[k, r] != 0:
                    teach[k] = True

        n_rec = rec_IS.shape[1]

        for k in range(n_steps):
            # ---- start: monitor, summed variable
            if k % rec_every == 0:
                m = k // rec_every
                if m < n_rec:
                    for r in range(n_r):
                        rec_IS[r, m] = i_s[r0 + r]
                        rec_pred[r, m] = i_pred[r0 + r]
            for r in range(n_r):
                i_tgt[r] = i_s[r0 + r]
            # ---- groups: Euler step of every neuron from its state at the start of the step
            # somata (from the old compartment currents), into s_new
            for j in range(n_p):
                bas, ape, api = isf[ns * j], isf[ns * j + 1], isf[ns * j + 2]
                drive = c_b * bas + c_a * (ape - api)
                new_s = i_s[j] + (drive - i_s[j]) * relax[j]
                s_new[j] = new_s + noise_gain[j] * noise[k, j]
                i_ahat[j] += ((ape - api) - i_ahat[j]) * relax[j]
                i_pred[j] += (c_b * bas - i_pred[j]) * relax[j]
            for j in range(r0, i0):
                g_hi = alpha_t * isf[ns * j + 1] / i_ref
                g_lo = alpha_t * isf[ns * j + 2] / i_ref
                bas = isf[ns * j] - isf[ns * j + 3] if SIGNED else isf[ns * j]
                drive = c_b_r * bas + g_hi * e_hi + g_lo * e_lo
                g = 1.0 + g_hi + g_lo
                new_s = i_s[j] + (drive / g - i_s[j]) * (1.0 - math.exp(-g * dt / tau_s_r))
                s_new[j] = new_s + noise_gain[j] * noise[k, j]
                i_pred[j] += (c_b_r * bas - i_pred[j]) * relax[j]
            for j in range(i0, n):
                drive = c_d * isf[ns * j] + g_i * i_tgt[j - i0]
                new_s = i_s[j] + (drive / (1.0 + g_i) - i_s[j]) * relax_i
                s_new[j] = new_s + noise_gain[j] * noise[k, j]
                i_pred[j] += (c_d * isf[ns * j] - i_pred[j]) * relax[j]
            # DPI neurons (Iin = I_S: the compartment currents enter through the soma only).
            # Ia = Iagain/(1 + exp(-(Imem - Iath)/Ianorm)) above Io; for an exponent > 45 it is
            # below Iagain e^-45 (~1e-30 A), under half an ulp of every sum it enters (all >= Io
            # = 0.5 pA, ulp 1e-28 A), so 0 gives the same doubles. The exponents vectorize, libm's
            # exp runs only where it counts (scalar), and Ia is formed in the Imem loop.
            for j in range(n):
                nr = (k - last[j]) >= n_ref[j]
                not_ref[j] = nr
                im = imem[j]
                arg = -(im - iath_v[j]) / ianorm_v[j]
                ia_arg[j] = arg
                ia_on[j] = nr and im > io_v[j] and arg < 45.0
            for j in range(n):
                if ia_on[j]:
                    ia_exp[j] = math.exp(ia_arg[j])
            # Imem (frozen while refractory), branch-free so that it vectorizes
            for j in range(n):
                io = io_v[j]
                im = imem[j]
                above = im > io
                ith_c = ith_v[j] if above else io
                itau_c = itau_v[j] if above else io
                ia_c = 2.0 * io
                if above:
                    ia_c = iagain_v[j] / (1.0 + ia_exp[j]) if ia_on[j] else 0.0
                iahp_c = iahp[j] if above else io
                ishunt_c = _clip(ishunt_v[j], io, im)
                iin_c = _clip(i_s[j] + iconst_v[j], io, 1.0)
                tau_mem = tau_mem_hi[j] if above else tau_mem_lo[j]
                gain = gain_hi[j] if above else gain_lo[j]
                d_im = (gain * (iin_c + ia_c - ishunt_c - iahp_c) - ith_c
                        - (1.0 + (ishunt_c + iahp_c - ia_c) / itau_c) * im) / (
                    tau_mem * (ith_c / (im + io) + 1.0))  # fmt: skip
                imem[j] = im + dt * d_im if not_ref[j] else im
            for j in range(n):
                ahp = iahp[j]
                io = io_v[j]
                ith_ahp_c = ith_ahp_v[j] if ahp > io else io
                flo = 2.0 * io if ahp <= io else 0.0
                iahp[j] = ahp + dt * (-ith_ahp_c - ahp + flo) / (
                    tau_ahp[j] * (ith_ahp_c / ahp + 1.0)
                )
            for m in range(n_syn):
                x = isf[m]
                sio = sio_f[m]
                above = x > sio
                igain = sith_f[m] if above else sio
                s_tau = s_tau_hi[m] if above else s_tau_lo[m]
                flo = 0.0 if above else 2.0 * sio
                isf[m] = x + dt * (-x - igain + flo) / (s_tau * (igain / x + 1.0))
            for j in range(n):
                i_s[j] = s_new[j]
            # ---- thresholds
            any_spike = False
            for j in range(n):
                spiked[j] = imem[j] > ispk_v[j] and not_ref[j]
                if spiked[j]:
                    last[j] = k
                    spk_k[n_spk[0]] = k
                    spk_j[n_spk[0]] = j
                    n_spk[0] += 1
                    any_spike = True
            e0, e1 = ev_ptr[k], ev_ptr[k + 1]
            if not (any_spike or teach[k] or e1 > e0):
                continue  # no presynaptic spike: nothing reads the jump gains or the errors
            # ---- before_synapses: jump gains from the updated currents
            for m in range(n_syn):
                x = isf[m]
                sio = sio_f[m]
                above = x > sio
                igain = sith_f[m] if above else sio
                itc = sitau_f[m] if above else sio
                jg[m] = igain / (itc * (igain / x + 1.0))
            # errors of the pre rules, from the updated somata
            # (P: phi(I_S) - phi(I_pred) with phi(x) = [x - I_th]_+, as in network._plastic_on_pre)
            th = cst[_ITH_PHI]
            for j in range(n_p):
                a = (i_s[j] - th) / i_ref if i_s[j] > th else 0.0
                b = (i_pred[j] - th) / i_ref if i_pred[j] > th else 0.0
                err[j] = a - b
            for j in range(r0, n):
                err[j] = (i_s[j] - i_pred[j]) / i_ref
            # ---- synapses, pre pathways
            lr, theta, wmax = plast[_IN_P, _LR], plast[_IN_P, _THETA], plast[_IN_P, _WMAX]
            for m in range(e0, e1):
                i = ev_idx[m]
                for j in range(n_p):
                    w = w_in_p[i, j]
                    isf[ns * j] += max(w, 0.0) * spar[j, 0, _S_IW0] * jg[ns * j]
                    if not POST_RULE:
                        mk = m_in_p[i, j]
                        e = err[j]
                        w_in_p[i, j] = _clip(w + mk * lr * _band(e, theta), 0.0, wmax)
                        if lr > 0 and abs(e) > theta:
                            nupd_in_p[i, j] += mk
                if POST_RULE:
                    x_in[i] = x_in[i] * math.exp(-((k - x_last[i]) * dt) / trace_decay_tau) + 1.0
                    x_last[i] = k
            if any_spike:
                # P -> R and P -> I: every jump of the step, then every update (with the
                # "dendrite" error the updates read the DPI currents after all of the step's jumps)
                for j in range(n_p):
                    if spiked[j]:
                        for r in range(n_r):
                            a, b = r0 + r, i0 + r
                            isf[ns * a] += max(w_p_r[j, r], 0.0) * spar[a, 0, _S_IW0] * jg[ns * a]
                            if SIGNED:
                                isf[ns * a + 3] += (max(-w_p_r[j, r], 0.0) * spar[a, 3, _S_IW0]
                                                    * jg[ns * a + 3])  # fmt: skip
                            isf[ns * b] += max(w_p_i[j, r], 0.0) * spar[b, 0, _S_IW0] * jg[ns * b]
                if DENDRITE_ERROR:
                    for r in range(n_r):
                        a, b = r0 + r, i0 + r
                        bas = isf[ns * a] - isf[ns * a + 3] if SIGNED else isf[ns * a]
                        err[a] = (i_s[a] - c_b_r * bas) / i_ref
                        err[b] = (i_s[b] - c_d * isf[ns * b]) / i_ref
                for j in range(n_p):
                    if not spiked[j]:
                        continue
                    for proj in range(2):
                        pr = _P_R if proj == 0 else _P_I
                        lr, theta, wmax = plast[pr, _LR], plast[pr, _THETA], plast[pr, _WMAX]
                        base = r0 if proj == 0 else i0
                        wm = w_p_r if proj == 0 else w_p_i
                        mm = m_p_r if proj == 0 else m_p_i
                        nu = nupd_p_r if proj == 0 else nupd_p_i
                        wmin = -wmax if (SIGNED and proj == 0) else 0.0
                        for r in range(n_r):
                            e = err[base + r]
                            wm[j, r] = _clip(wm[j, r] + mm[j, r] * lr * _band(e, theta), wmin, wmax)
                            if lr > 0 and abs(e) > theta:
                                nu[j, r] += mm[j, r]
                # I -> P (apical inhibitory, plastic)
                lr, theta, wmax = plast[_I_P, _LR], plast[_I_P, _THETA], plast[_I_P, _WMAX]
                for r in range(n_r):
                    if not spiked[i0 + r]:
                        continue
                    for j in range(n_p):
                        w = w_i_p[r, j]
                        isf[ns * j + 2] += max(w, 0.0) * spar[j, 2, _S_IW0] * jg[ns * j + 2]
                        e = i_ahat[j] / i_ref
                        w_i_p[r, j] = _clip(w + m_i_p[r, j] * lr * _band(e, theta), 0.0, wmax)
                        if lr > 0 and abs(e) > theta:
                            nupd_i_p[r, j] += m_i_p[r, j]
                # R -> P (fixed, signed)
                for r in range(n_r):
                    if not spiked[r0 + r]:
                        continue
                    for j in range(n_p):
                        w = w_r_p[r, j]
                        isf[ns * j + 1] += max(w, 0.0) * spar[j, 1, _S_IW0] * jg[ns * j + 1]
                        isf[ns * j + 2] += max(-w, 0.0) * spar[j, 2, _S_IW0] * jg[ns * j + 2]
            # teachers
            for r in range(n_r):
                t = r0 + r
                if teach_hi[k, r] != 0:
                    isf[ns * t + 1] += max(w_th[r], 0.0) * spar[t, 1, _S_IW0] * jg[ns * t + 1]
                if teach_lo[k, r] != 0:
                    isf[ns * t + 2] += spar[t, 2, _S_IW0] * jg[ns * t + 2]
            # ---- synapses, post pathway: input -> P rule at the P spikes
            if POST_RULE and any_spike:
                lr, theta, wmax = plast[_IN_P, _LR], plast[_IN_P, _THETA], plast[_IN_P, _WMAX]
                for j in range(n_p):
                    if not spiked[j]:
                        continue
                    e = (i_s[j] - i_pred[j]) / i_ref
                    band = _band(e, theta)
                    count = lr > 0 and abs(e) > theta
                    for i in range(n_in):
                        x = x_in[i] * math.exp(-((k - x_last[i]) * dt) / trace_decay_tau)
                        w = w_in_p[i, j]
                        mk = m_in_p[i, j]
                        w_in_p[i, j] = _clip(w + mk * lr * w * x * band, 0.0, wmax)
                        if count:
                            nupd_in_p[i, j] += mk
            # ---- resets
            if any_spike:
                for j in range(n):
                    if spiked[j]:
                        io = io_v[j]
                        imem[j] = irst_v[j]
                        ith_ahp_c = ith_ahp_v[j] if iahp[j] > io else io
                        iahp[j] += (ica_v[j] / itau_ahp_v[j]) * ith_ahp_c

    return _run_chip


def chip_invariants(
    npar: np.ndarray, spar: np.ndarray, cst: np.ndarray, dt: float, n_p: int, n_r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Loop invariants of one chip: the expressions the step would evaluate, once.

    Returns ``npt`` (``npar`` transposed: one contiguous row per parameter), ``n_ref``
    (refractory period in steps), ``ninv`` (rows ``_TAU_AHP`` ... ``_NOISE_GAIN`` per neuron:
    ``C_ahp Ut/(kappa Itau_ahp)``, ``C Ut/(kappa Itau)`` and ``C Ut/(kappa Io)`` (``Imem``
    above / at or below ``Io``), ``Ith/Itau``, ``Io/Io``, the somata's ``1 - e^{-dt/tau_S}``
    and noise gain ``sigma I_ref sqrt(1 - e^{-2 dt/tau_S})``) and ``sinv`` (rows ``_SIO`` ...
    ``_S_TAU_LO`` per synapse slot ``ns j + c``: ``Io``, ``Ith``, ``Itau``, ``C Ut/(kappa
    Itau)``, ``C Ut/(kappa Io)``), with kappa the mean of ``kn`` and ``kp``. Element-wise IEEE
    operations in the order of a per-neuron loop (and libm's ``exp``, as in the kernel), so the
    doubles do not depend on where they are computed.
    """
    n = npar.shape[0]
    kappa = (npar[:, _KN] + npar[:, _KP]) / 2
    io = npar[:, _IO]
    c_ut = npar[:, _C] * npar[:, _UT]
    tau_s = np.full(n, cst[_TAU_S])
    tau_s[n_p : n_p + n_r] = cst[_TAU_S_R]
    sig_ref = cst[_SIGMA] * cst[_IREF]
    ninv = np.empty((7, n))
    ninv[_TAU_AHP] = npar[:, _C_AHP] * npar[:, _UT] / (kappa * npar[:, _ITAU_AHP])
    ninv[_TAU_MEM_HI] = c_ut / (kappa * npar[:, _ITAU])
    ninv[_TAU_MEM_LO] = c_ut / (kappa * io)
    ninv[_GAIN_HI] = npar[:, _ITH] / npar[:, _ITAU]
    ninv[_GAIN_LO] = io / io
    ninv[_RELAX] = [1.0 - math.exp(-dt / t) for t in tau_s]
    ninv[_NOISE_GAIN] = [sig_ref * math.sqrt(1.0 - math.exp(-2.0 * dt / t)) for t in tau_s]
    flat = spar.reshape(-1, spar.shape[2])
    num = flat[:, _S_C] * flat[:, _S_UT] / ((flat[:, _S_KN] + flat[:, _S_KP]) / 2)
    sinv = np.empty((5, len(flat)))
    sinv[_SIO], sinv[_SITH], sinv[_SITAU] = flat[:, _S_IO], flat[:, _S_ITH], flat[:, _S_ITAU]
    sinv[_S_TAU_HI] = num / flat[:, _S_ITAU]
    sinv[_S_TAU_LO] = num / flat[:, _S_IO]
    n_ref = ((npar[:, _TREF] + 1e-3 * dt) / dt).astype(np.int64)
    return np.ascontiguousarray(npar.T), n_ref, ninv, sinv


def run_batch(
    npar, spar, cst, plast, n_p, n_r, dt, post_rule, dendrite_error, signed,
    w_in_p, w_p_r, w_p_i, w_i_p, w_r_p, w_th,
    m_in_p, m_p_r, m_p_i, m_i_p,
    stim, teach_hi, teach_lo, noise, rec_every,
    imem, iahp, isyn, i_s, i_pred, i_ahat,
    spk_k, spk_j, n_spk, nupd_in_p, nupd_p_r, nupd_p_i, nupd_i_p, rec_IS, rec_pred,
):  # fmt: skip
    """One presentation of ``B`` chips; every array has the batch as its leading axis.

    The chips are independent: each is one call of the compiled step loop (a Python
    loop over the chips costs ~0.1 ms per presentation and halves the compile time of a
    compiled batch loop).

    Weights (``w_*``) are updated in place (with the plasticity table ``plast[b]``: rows
    in_p, p_r, p_i, i_p; columns lr, theta, w_max); chip ``b``'s spikes are
    ``(spk_k[b, :n], spk_j[b, :n])`` (step, neuron) with ``n = n_spk[b, 0]``, in Brian2's
    order; ``nupd_*`` count the Eq. 3 updates outside the band per
    synapse; ``rec_IS``/``rec_pred`` hold the readouts' ``I_S`` and ``I_pred`` every
    ``rec_every`` steps. The state (``imem``, ``iahp``, ``isyn[b, neuron, slot]``, ``i_s``,
    ``i_pred``, ``i_ahat``) enters as the initial state and leaves as the final one.
    """
    run_chip = _kernel(bool(post_rule), bool(dendrite_error), bool(signed))
    n_steps, n_in = stim.shape[1:]
    n = imem.shape[1]
    for b in range(npar.shape[0]):
        npt, n_ref, ninv, sinv = chip_invariants(npar[b], spar[b], cst[b], dt, n_p, n_r)
        isf = isyn[b].reshape(-1)  # a view: the state isyn[b, j, c] at index ns j + c
        run_chip(
            npt, n_ref, ninv, spar[b], sinv, cst[b], plast[b], n_p, n_r, dt,
            w_in_p[b], w_p_r[b], w_p_i[b], w_i_p[b], w_r_p[b], w_th[b],
            m_in_p[b], m_p_r[b], m_p_i[b], m_i_p[b],
            stim[b], teach_hi[b], teach_lo[b], noise[b], rec_every,
            imem[b], iahp[b], i_s[b], i_pred[b], i_ahat[b],
            spk_k[b], spk_j[b], n_spk[b], nupd_in_p[b], nupd_p_r[b], nupd_p_i[b], nupd_i_p[b],
            rec_IS[b], rec_pred[b],
            isf, np.zeros(n_steps + 1, np.int64), np.empty(n_steps * n_in, np.int64),
            np.zeros(n_steps, np.bool_), np.full(n, -(10**9), np.int64), np.empty(isf.size),
            np.empty(n), np.empty(n), np.zeros(n), np.empty(n, np.bool_), np.empty(n, np.bool_),
            np.empty(n, np.bool_), np.empty(n_r), np.zeros(n_in), np.zeros(n_in, np.int64),
            np.empty(n),
        )  # fmt: skip


_KERNELS: dict = {}


def _kernel(post_rule: bool, dendrite_error: bool, signed: bool):
    """The compiled step loop for these structure flags (compiled, or loaded, on first use)."""
    key = (post_rule, dendrite_error, signed)
    if key not in _KERNELS:
        _KERNELS[key] = _make_run_chip(*key)
    return _KERNELS[key]
