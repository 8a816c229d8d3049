"""``dsnn task analog_eqprop``: analog EqProp in a diode resistive network (Kiraz et al. 2023).

1. Fig. 2 of the paper: error curves of case 1 (V0 = -2 V, V1 = 2 V, target 1 V) for
   α = 5e-4 and each β, from one random initial conductance set.
2. Robustness: over ``trials`` random initial conductance sets, the fraction that converges
   (final error below ``converge_tol_V``) per β and estimator, and the median number of updates
   it took.
3. Gradient alignment: cosine and relative error of each estimator against the exact
   (adjoint) gradient, per β.
4. Total power (resistors, diodes, amplifiers) and energy per update.
5. ngspice cross-check of node voltages when ngspice is installed.
"""

from __future__ import annotations

import numpy as np

from ..analog.circuit import Circuit, power_breakdown, solve_dc
from ..analog.eqprop import ESTIMATORS, nudge_current
from ..analog.spice import ngspice_path, spice_voltages, thermal_voltage
from ..analog.study import alignment_sweep, convergence_sweep, random_conductances
from ..errors import DsnnError
from ..hardware.energy import energy_report
from ..plots import save_figure, subplots
from .api import RunContext, TaskOutput


def build_circuit(cfg: dict) -> Circuit:
    """The case-1 circuit from the task config."""
    x = np.array([*map(float, cfg["inputs_V"]), float(cfg["bias_V"])])
    return Circuit(
        x=x,
        n_hidden=int(cfg["n_hidden"]),
        n_out=1,
        i_s=float(cfg["diode_is_A"]),
        n_vt=float(cfg["diode_ideality"]) * thermal_voltage(float(cfg["temperature_C"])),
        v_shift=float(cfg["shift_V"]),
        gain=float(cfg["amp_gain"]),
    )


def _spice_check(c: Circuit, g: np.ndarray, target: float, cfg: dict) -> dict:
    if not cfg["spice_compare"]:
        return {"status": "disabled"}
    if ngspice_path() is None:
        return {"status": "skipped: ngspice not installed (Debian: apt-get install ngspice)"}
    v0 = solve_dc(c, g)
    inj = nudge_current(c, v0, target, 1e-3)
    vb = solve_dc(c, g, inj)
    kw = {"ideality": float(cfg["diode_ideality"]), "temperature_c": float(cfg["temperature_C"])}
    worst = 0.0
    for b in range(g.shape[0]):
        worst = max(worst, float(np.abs(spice_voltages(c, g[b], **kw) - v0[b]).max()))
        worst = max(worst, float(np.abs(spice_voltages(c, g[b], inj[b], **kw) - vb[b]).max()))
    return {"status": "ok", "circuits": int(g.shape[0]), "max_abs_dV_V": worst}


def _plots(ctx: RunContext, betas, fig2, fig2_noisy, conv, align, tol) -> list[str]:

    names = []
    panels = [("exact voltages", fig2)]
    if fig2_noisy is not None:
        panels.append((f"read noise σ = {ctx.config['read_noise_V']:g} V", fig2_noisy))
    fig, axes = subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels, strict=True):
        for i, beta in enumerate(betas):
            ax.semilogy(np.maximum(curves[:, i], 1e-12), label=f"β = {beta:g} S")
        ax.axhline(tol, color="0.5", ls=":", lw=1)
        ax.set_xlabel("update")
        ax.set_ylabel("|V_out − target| (V)")
        ax.set_title(f"Case 1, α = {ctx.config['alpha']:g}, one-sided rule, {label}", fontsize=9)
        ax.legend(fontsize=7, ncol=2, frameon=False)
    names.append(save_figure(fig, ctx.out / "error_curves.png"))

    fig, ax = subplots(figsize=(6, 4))
    for est, res in conv.items():
        ax.semilogx(betas, res["converged"].mean(axis=1), marker="o", label=est)
    ax.set_xlabel("β (S)")
    ax.set_ylabel("fraction converged")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Random initial conductances: fraction that converges")
    ax.legend(frameon=False)
    names.append(save_figure(fig, ctx.out / "convergence_fraction.png"))

    fig, axes = subplots(1, 2, figsize=(10, 4))
    for key in sorted(k[:-4] for k in align if k.endswith("_cos")):
        axes[0].semilogx(betas, np.median(align[f"{key}_cos"], axis=1), marker="o", label=key)
        axes[1].loglog(betas, np.median(align[f"{key}_relerr"], axis=1), marker="o", label=key)
    axes[0].set_ylabel("median cosine with true gradient")
    axes[1].set_ylabel("median relative error")
    for ax in axes:
        ax.set_xlabel("β (S)")
        ax.legend(frameon=False, fontsize=8)
    names.append(save_figure(fig, ctx.out / "gradient_alignment.png"))
    return names


def run(ctx: RunContext) -> TaskOutput:
    """Run the study of the module docstring."""
    from tqdm.auto import tqdm

    cfg = ctx.config
    c = build_circuit(cfg)
    target = float(cfg["target_V"])
    alpha, steps, tol = float(cfg["alpha"]), int(cfg["steps"]), float(cfg["converge_tol_V"])
    betas = np.asarray(cfg["betas"], dtype=float)
    estimators = list(cfg["estimators"])
    if unknown := set(estimators) - set(ESTIMATORS):
        raise DsnnError(f"analog_eqprop: unknown estimators {sorted(unknown)}; use {ESTIMATORS}")
    if "kendall" not in estimators:
        raise DsnnError("analog_eqprop: estimators must include 'kendall' (the paper's rule)")
    if np.any(betas <= 0):
        raise DsnnError("analog_eqprop: every beta must be > 0")
    comp = bool(cfg["amplifier_compensation"])
    bounds = (float(cfg["g_min_S"]), float(cfg["g_max_S"]))
    g_init = random_conductances(
        ctx.rng("analog_init"), int(cfg["trials"]), c, cfg["g_init_min_S"], cfg["g_init_max_S"]
    )

    noise = float(cfg["read_noise_V"])
    runs = [(est, est, 0.0) for est in estimators]
    if noise > 0:
        runs += [(f"{e}+noise", e, noise) for e in estimators if e != "pcm"]
    conv: dict[str, dict] = {}
    with tqdm(total=steps * len(runs), desc="analog_eqprop", disable=not ctx.progress) as bar:
        for name, est, sigma in runs:
            n = int(cfg["pcm_trials"]) if est == "pcm" else len(g_init)
            bar.set_postfix_str(name)
            conv[name] = convergence_sweep(
                c,
                g_init[:n],
                target,
                alpha,
                betas,
                steps,
                est,
                tol,
                comp,
                bounds,
                bar.update,
                sigma,
                ctx.rng("read_noise", name),
            )
    fig2 = conv["kendall"]["error"][:, :, 0]
    fig2_noisy = conv["kendall+noise"]["error"][:, :, 0] if noise > 0 else None
    g_align = g_init[: int(cfg["alignment_trials"])]
    align = alignment_sweep(c, g_align, target, betas, estimators, comp)

    # Power at the first initial condition, free and nudged (β = the smallest converging one).
    g0 = g_init[:1]
    v0 = solve_dc(c, g0)
    p_free = power_breakdown(c, g0, v0)
    inj = nudge_current(c, v0, target, betas[0])
    p_nudged = power_breakdown(c, g0, solve_dc(c, g0, inj), inj)
    t_phase = float(cfg["phase_time_s"])
    phases = {"kendall": 2, "symmetric": 3, "pcm": 2 + 4 * c.n_g}
    power = {f"free_{k}_W": float(v[0]) for k, v in p_free.items()}
    power.update({f"nudged_{k}_W": float(v[0]) for k, v in p_nudged.items()})
    energy = energy_report(None, None, ctx.profile)
    energy["per_inference_J"] = float(p_free["sources"][0]) * t_phase
    energy["per_training_example_J"] = (
        float(p_free["sources"][0] + p_nudged["sources"][0]) * t_phase
    )
    energy["breakdown"]["power_W"] = power
    energy["total_power_W"] = float(p_free["total"][0])
    energy["energy_per_update_J"] = {
        est: float(p_free["sources"][0]) * t_phase * phases[est] for est in estimators
    }
    energy["assumption"] = f"each phase settles in phase_time_s = {t_phase:g} s (DC power x time)"

    spice = _spice_check(c, g_init[: int(cfg["spice_trials"])], target, cfg)
    if spice["status"] == "ok" and spice["max_abs_dV_V"] > 1e-4:
        raise DsnnError(f"analog_eqprop: ngspice disagrees by {spice['max_abs_dV_V']:.3g} V")

    table = {
        est: {
            "converged_fraction": res["converged"].mean(axis=1).tolist(),
            "median_steps_to_tol": [
                float(np.median(s[s >= 0])) if (s >= 0).any() else None for s in res["steps_to_tol"]
            ],
            "trials": int(res["converged"].shape[1]),
        }
        for est, res in conv.items()
    }
    ken = conv["kendall"]["converged"].mean(axis=1)
    metrics = {
        "betas_S": betas.tolist(),
        "final_error": {f"{b:g}": float(e) for b, e in zip(betas, fig2[-1], strict=True)},
        "converged_fraction": {est: row["converged_fraction"] for est, row in table.items()},
        "convergence_table": table,
        "converged_fraction_kendall_mean": float(ken.mean()),
        "alignment_median_cos": {
            k[:-4]: np.median(v, axis=1).tolist() for k, v in align.items() if k.endswith("_cos")
        },
        "alignment_median_relerr": {
            k[:-7]: np.median(v, axis=1).tolist() for k, v in align.items() if k.endswith("_relerr")
        },
        "learned": bool(ken.max() > 0.5),
        "spice": spice,
    }
    arrays = {"betas": betas, "fig2_error": fig2, "g_init": g_init}
    if fig2_noisy is not None:
        arrays["fig2_error_noisy"] = fig2_noisy
    for est, res in conv.items():
        est = est.replace("+", "_")
        arrays[f"{est}_converged"] = res["converged"]
        arrays[f"{est}_final_error"] = res["final_error"]
        arrays[f"{est}_steps_to_tol"] = res["steps_to_tol"]
    arrays.update({f"align_{k}": v for k, v in align.items()})

    best = int(np.argmax(ken))
    spice_txt = (
        f"ngspice agrees to {spice['max_abs_dV_V']:.1e} V"
        if spice["status"] == "ok"
        else f"ngspice check {spice['status']}"
    )
    summary = (
        f"analog_eqprop: {'LEARNED' if metrics['learned'] else 'did NOT learn'} case 1; "
        f"one-sided Kendall rule converged in {ken.min():.0%}-{ken.max():.0%} of "
        f"{len(g_init)} random inits across β (best β = {betas[best]:g} S); "
        + ", ".join(f"{est} {np.mean(row['converged_fraction']):.0%}" for est, row in table.items())
        + f" averaged over β; median cosine with true gradient at β = {betas[0]:g}: "
        + ", ".join(f"{k} {v[0]:.3f}" for k, v in metrics["alignment_median_cos"].items())
        + f"; total power {energy['total_power_W']:.3g} W; {spice_txt}"
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy,
        summary=summary,
        arrays=arrays,
        plots=_plots(ctx, betas, fig2, fig2_noisy, conv, align, tol),
        examples=int(sum(r["converged"].size for r in conv.values()) * steps),
    )
