"""β sweep of analog EqProp (Kiraz et al. 2023 case 1): tables of convergence and alignment.

Usage, from the repository root: ``python bench/analog_beta_sweep.py [--out DIR] [--seed N]``
(defaults of ``tasks/analog_eqprop.yaml``; about 30 s on 2 cores). The tables go to the
terminal and to ``bench/results/analog_beta_sweep[-ARGS].md``, from which the documentation's
results page is built.
"""

from __future__ import annotations

import argparse
import tempfile

from dendritic_snn import run_task

try:
    from bench._results import default_name, record
except ImportError:  # run as ``python bench/analog_beta_sweep.py``
    from _results import default_name, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="analog_beta_sweep-")
    with record(default_name("analog_beta_sweep", skip=("--out",))):
        _sweep(out, args.seed)


def _sweep(out: str, seed: int) -> None:
    print(f"### Analog EqProp, Kiraz et al. case 1, seed {seed}\n")
    res = run_task("analog_eqprop", seed=seed, out=out, progress=False)
    m = res["metrics"]
    betas = m["betas_S"]
    head = "| estimator | trials | " + " | ".join(f"β={b:g}" for b in betas) + " |"
    rule = "|" + "---|" * (len(betas) + 2)
    print(
        f"Converged fraction (final |V_out - 1 V| < {res['config']['converge_tol_V']} V after "
        f"{res['config']['steps']} updates, α = {res['config']['alpha']:g}; "
        f"median updates to converge in brackets)\n"
    )
    print(head)
    print(rule)
    for est, row in m["convergence_table"].items():
        cells = [
            f"{f:.2f} ({s:.0f})" if s is not None else f"{f:.2f} (-)"
            for f, s in zip(row["converged_fraction"], row["median_steps_to_tol"], strict=True)
        ]
        print(f"| {est} | {row['trials']} | " + " | ".join(cells) + " |")
    print("\nMedian cosine with the exact (adjoint) gradient at the initial conductances\n")
    print(head.replace("| trials ", ""))
    print("|" + "---|" * (len(betas) + 1))
    for est, row in m["alignment_median_cos"].items():
        print(f"| {est} | " + " | ".join(f"{x:.4f}" for x in row) + " |")
    e = res["energy"]
    print(
        f"\nTotal power (free phase, first init): {e['total_power_W']:.3g} W; energy per update "
        + ", ".join(f"{k} {v:.3g} J" for k, v in e["energy_per_update_J"].items())
        + f"; ngspice: {_spice_text(m['spice'])}"
    )


def _spice_text(spice: dict) -> str:
    if spice.get("status") == "ok":
        return f"max |ΔV| {spice['max_abs_dV_V']:.2g} V against the DC solver"
    return str(spice.get("status"))


if __name__ == "__main__":
    main()
