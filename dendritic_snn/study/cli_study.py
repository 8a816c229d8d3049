"""``dsnn study``: run a comparative study (a grid of task runs) on Dask distributed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import DsnnError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


@click.command("study", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("spec", metavar="SPEC")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Study directory [default: studies/<name>]; shared by all workers.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on an existing Dask cluster (tcp://HOST:PORT) instead of an embedded one.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes of the embedded cluster [default: one per core].",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="seeds=[0,1,2] | mismatch=[0.1] | profiles=[...] | learners=[...] for every block; "
    "TASK.FIELD=V or FIELD=V for task-spec fields (repeatable).",
)
@click.option("--retry-failed", is_flag=True, help="Re-run the cells that failed before.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--list", "list_only", is_flag=True, help="List the cells of SPEC, then exit.")
def study(spec, out, scheduler, workers, sets, retry_failed, quiet, list_only) -> None:
    """Run study SPEC: every cell (task x learner x profile x mismatch x seed) once.

    SPEC is a built-in study name (tasks/studies/*.yaml, e.g. 'smoke') or a path to a YAML
    spec. Each cell writes a run directory DIR/cells/<cell-id>/ like 'dsnn task'; cells that
    already have a complete result.json are skipped, so an interrupted study resumes where it
    stopped. DIR gets study.csv, study.md, plots and summary.md. With --scheduler, DIR must be
    on a filesystem the workers share (same path).

    \b
    Examples:
      dsnn study smoke
      dsnn study smoke --workers 2 --set seeds=[0,1,2]
      dsnn study my_study.yaml --out /shared/st --scheduler tcp://10.0.0.5:8786
    """
    try:
        _study(spec, out, scheduler, workers, sets, retry_failed, quiet, list_only)
    except DsnnError as err:
        click.echo(f"dsnn: error: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("dsnn: interrupted; run the same command again to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _study(spec, out, scheduler, workers, sets, retry_failed, quiet, list_only) -> None:
    from ..runners.spec import parse_override
    from .api import build_grid, run_study
    from .spec import apply_study_overrides, load_study

    overrides = dict(parse_override(text) for text in sets)
    if list_only:
        study_spec = apply_study_overrides(load_study(spec), overrides)
        for cell in build_grid(study_spec):
            click.echo(cell.id)
        return
    report = run_study(
        spec,
        out,
        scheduler=scheduler,
        workers=workers,
        retry_failed=retry_failed,
        overrides=overrides,
        progress=not quiet,
        echo=click.echo,
    )
    click.echo(f"study: {report.line()}")
    for cell_id, error in report.failed.items():
        click.echo(f"  failed {cell_id}: {error}")
    click.echo(f"study directory: {report.out} ({', '.join(report.files)})")


if __name__ == "__main__":  # pragma: no cover
    study()
