"""``dsnn export RUN_DIR``: write a run's trained network in an interchange format (NIR)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--format", "fmt", type=click.Choice(["nir"]), default="nir", show_default=True,
    help="Output format.",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False),
    help="Output file [default: RUN_DIR/network.nir].",
)  # fmt: skip
@click.option("--recurrent", is_flag=True, help="mnist: also export the feedback weights.")
@click.option(
    "--ifc-as", type=click.Choice(["lif", "if"]), default="lif", show_default=True,
    help="mnist/eqspike: map the 45 nm IFC to LIF (leak conductance) or IF (leak as bias).",
)  # fmt: skip
def export(run_dir: Path, fmt: str, out: Path | None, recurrent: bool, ifc_as: str) -> None:
    """Export the trained network of RUN_DIR (task detected from result.json).

    Supported: mnist runs (rate_ep, eqspike; weights from checkpoint.npz) and dendritic runs
    (pattern_discrimination; final weights from arrays.npz). Needs the 'nir' extra.
    """
    from .nir_export import _result, export_run

    out = out or run_dir / "network.nir"
    options = {}
    if _result(run_dir)["task"] == "mnist":
        options = {"recurrent": recurrent, "ifc_as": ifc_as}
    graph = export_run(run_dir, out, **options)
    click.echo(f"{out}: NIR graph, {len(graph.nodes)} nodes, {len(graph.edges)} edges ({fmt})")
