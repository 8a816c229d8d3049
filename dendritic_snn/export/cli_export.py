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
@click.option(
    "--recurrent", is_flag=True, help="rate_ep, eqspike: also export the feedback weights."
)
@click.option(
    "--ifc-as", type=click.Choice(["lif", "if"]), default="lif", show_default=True,
    help="eqspike: map the 45 nm IFC to LIF (leak conductance) or IF (leak as bias).",
)  # fmt: skip
def export(run_dir: Path, fmt: str, out: Path | None, recurrent: bool, ifc_as: str) -> None:
    """Export the trained model saved in RUN_DIR (model.json + model.npz).

    Supported learners: rate_ep, eqspike and dendritic, on any task. Needs the 'nir' extra.
    """
    from .saved import export_run

    out = out or run_dir / "network.nir"
    graph = export_run(run_dir, out, recurrent=recurrent, ifc_as=ifc_as)
    click.echo(f"{out}: NIR graph, {len(graph.nodes)} nodes, {len(graph.edges)} edges ({fmt})")
