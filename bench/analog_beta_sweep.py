"""β sweep of analog EqProp (Kiraz et al. 2023 case 1): print the Markdown tables the README quotes.

Usage, from the repository root: ``python -m bench.analog_beta_sweep [--out DIR] [--seed N]``
(defaults of ``tasks/analog_eqprop.yaml``; about 30 s on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile

from dendritic_snn import run_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="analog_beta_sweep-")
    res = run_task("analog_eqprop", seed=args.seed, out=out, progress=False)
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
        + f"; ngspice: {m['spice']}; run dir {out}"
    )


if __name__ == "__main__":
    main()
