"""``dsnn``: run learning experiments on simulated neuromorphic hardware.

Bad input (a broken profile, an unknown task, a flag or ``--set`` value of the wrong type or
out of range, an unwritable ``--out``) prints one line naming what is wrong and exits with
code 2; no run directory is left behind.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import click
import yaml

from .errors import DsnnError
from .hardware.blocks import BLOCK_MODELS
from .hardware.profiles import list_profiles, load_profile
from .hardware.units import format_quantity
from .runners.api import SEED_MAX

EXIT_BAD_INPUT = 2
#: OS errors that mean a path given by the user cannot be used: reported like bad input.
_PATH_ERRORS = {
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EEXIST,
    errno.ENAMETOOLONG,
}


def _one_line(message: str) -> str:
    """``message`` with line breaks and other unprintable characters escaped."""
    message = " ".join(message.strip().split("\n"))
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)


class _Group(click.Group):
    """Turn :class:`DsnnError` and click's usage errors into one line on stderr, exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:
            err.show()
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as err:
            click.echo(f"dsnn: error: {_one_line(err.format_message())}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.Abort:
            click.echo("dsnn: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DsnnError as err:
            click.echo(f"dsnn: error: {_one_line(str(err))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as err:
            if err.errno not in _PATH_ERRORS:
                raise
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"dsnn: error: {_one_line(where + err.strerror)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("dsnn: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dendritic_snn", prog_name="dsnn")
def main() -> None:
    """Simulate mixed-signal neuromorphic hardware and the on-chip learning rules proposed
    for it: one command runs a learning experiment on a hardware profile, with device
    mismatch and an energy estimate, and says whether it learned.

    \b
    Examples:
      dsnn profile list
      dsnn task pattern_discrimination
      dsnn task pattern_discrimination --profile ideal --seed 3 --out runs/ideal3
      dsnn task fi_curve --profile cmos45_spiking_ep
    """


# ------------------------------------------------------------------ profiles
@main.group()
def profile() -> None:
    """List, show and validate hardware profiles."""


@profile.command("list")
def profile_list() -> None:
    """List the built-in hardware profiles."""
    for name in list_profiles():
        prof = load_profile(name)
        click.echo(f"{name:<20} {prof.model.technology:<36} time unit {prof.time_unit}")


@profile.command("show")
@click.argument("name")
def profile_show(name: str) -> None:
    """Show a profile (built-in NAME or a path) with values in SI-prefixed units."""
    prof = load_profile(name)
    click.echo(f"{prof.name}  ({prof.source})")
    click.echo(f"  {prof.model.description}")
    click.echo(f"  technology: {prof.model.technology}")
    click.echo(f"  time scale: {prof.time_unit}, dt = {format_quantity(prof.dt, 'time')}")
    click.echo(f"  sha256: {prof.sha256}")
    for role, values in prof.params.items():
        click.echo(f"  {role} ({prof.models[role]}):")
        specs = BLOCK_MODELS[prof.models[role]]
        for key, value in values.items():
            sigma = prof.sigma(role, key)
            mm = f"  mismatch {sigma:.0%}" if sigma else ""
            click.echo(f"    {key:<12} {format_quantity(value, specs[key].dimension):>12}{mm}")
    click.echo("  energy:")
    for key, value in prof.energy.items():
        dim = "power" if key.startswith("static") else "energy"
        click.echo(f"    {key:<26} {format_quantity(value, dim)}")


@profile.command("validate")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def profile_validate(path: Path) -> None:
    """Check a profile file; exit 2 with one line naming file, field and reason if broken."""
    prof = load_profile(path)
    click.echo(f"{path}: ok ({prof.name}, sha256 {prof.sha256[:12]})")


# ------------------------------------------------------------------ tasks
def _parse_sets(values: tuple[str, ...]) -> dict:
    from .runners.spec import parse_override

    return dict(parse_override(v) for v in values)


@main.command(context_settings={"show_default": True})
@click.argument("name")
@click.option("--learner", help="Learning rule (the task's default if omitted).")
@click.option(
    "--profile",
    "profile_name",
    metavar="NAME|PATH.yaml",
    help="Hardware profile (the task's default if omitted).",
)
@click.option(
    "--mismatch",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    metavar="SIGMA",
    help="Relative device mismatch in [0, 1), overriding the profile's (e.g. 0.2 = 20 %).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, SEED_MAX),
    default=0,
    help=f"Seed for the chip, the data and learning, in [0, {SEED_MAX}].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run directory [default: runs/<task>-<timestamp>]; created only if the run succeeds.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change a task-spec field (repeatable); see 'dsnn task NAME --show-config'.",
)
@click.option(
    "--preset",
    metavar="NAME",
    help="A named set of field values of the task (e.g. 'paper'); --set fields win over it.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Training epochs (epoch-based tasks).")
@click.option("--dataset", help="Dataset tasks: mnist | mnist5k | fashion-mnist.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Directory of IDX files for the training split.",
)
@click.option(
    "--test-data-dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Directory of IDX files for the test split (e.g. the official MNIST test set).",
)
@click.option("--resume", is_flag=True, help="Continue from the run directory's checkpoint.")
@click.option(
    "--show-config",
    is_flag=True,
    help="Print the task's fields (default, type, unit, valid range), then exit.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every input and print the resolved config; run nothing, write nothing.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def task(
    name, learner, profile_name, mismatch, seed, out, sets, show_config, dry_run, quiet, **shorthand
):
    """Run task NAME and write a run directory (result.json, arrays.npz, PNG plots).

    Tasks: run 'dsnn tasks' for the list. --preset, --epochs, --dataset, --data-dir,
    --test-data-dir and --resume are shorthands for '--set' of the task-spec fields of the
    same name.
    """
    from .runners.api import run_task
    from .runners.spec import load_task_spec

    if show_config:
        _show_config(load_task_spec(name))
        return
    overrides = _parse_sets(sets)
    for key, value in shorthand.items():
        if value is not None and value is not False:
            overrides[key] = str(value) if isinstance(value, Path) else value
    result = run_task(
        name,
        learner=learner,
        profile=profile_name,
        mismatch=mismatch,
        seed=seed,
        out=out,
        overrides=overrides,
        progress=not quiet,
        dry_run=dry_run,
    )
    if dry_run:
        click.echo(yaml.safe_dump(result, sort_keys=False).rstrip())
        click.echo("dry run: inputs are valid; nothing was run or written")
        return
    click.echo(result["summary"])
    click.echo(f"run directory: {result['run_dir']}")


def _show_config(spec) -> None:
    """One row per config field: name, default, type and range, unit, meaning."""
    from .runners.spec import field_comments

    comments = field_comments(spec.task)
    click.echo(f"{spec.task}: {spec.description}")
    others = ", ".join(f"{k}: {v}" for k, v in spec.learner_profiles.items())
    click.echo(
        f"learners: {', '.join(spec.learners)} (default {spec.default_learner}); "
        f"default profile: {spec.default_profile}" + (f" ({others})" if others else "")
    )
    rows = [("field", "default", "type and valid range", "meaning")]
    for key, field in spec.fields.items():
        default = yaml.safe_dump(spec.config[key], default_flow_style=True).strip()
        default = default.removesuffix("\n...").removesuffix(" ...")
        rows.append((key, default, field.describe(), comments.get(key, "")))
    widths = [min(max(len(row[i]) for row in rows), 26) for i in range(3)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        click.echo("  ".join([*cells, row[3]]).rstrip())
    if spec.order:
        pairs = ", ".join(f"{a} < {b}" for a, b in spec.order)
        click.echo(f"constraints: {pairs}")


@main.command("tasks")
def tasks() -> None:
    """List the built-in tasks."""
    from .runners.spec import list_task_specs, load_task_spec

    for name in list_task_specs():
        spec = load_task_spec(name)
        click.echo(f"{name:<24} {spec.description}")


@main.command("learners")
def learners() -> None:
    """List the learners: input kind, default hardware profile and the tasks that run them."""
    from .learners import available, get_learner
    from .runners.api import task_learners
    from .runners.spec import list_task_specs

    runs = {task: task_learners(task) for task in list_task_specs()}
    click.echo(f"{'learner':<12} {'input':<8} {'default profile':<20} tasks (home task first)")
    for name in available():
        cls = get_learner(name)
        tasks_of = sorted((t for t in runs if name in runs[t]), key=lambda t: t != cls.home_task)
        profile = cls.default_profile or "(the task's)"
        click.echo(f"{name:<12} {cls.input_kind:<8} {profile:<20} {', '.join(tasks_of) or '-'}")


from .study.cli_study import study as _study  # noqa: E402

main.add_command(_study)

from .export.cli_export import export as _export  # noqa: E402

main.add_command(_export)


if __name__ == "__main__":  # pragma: no cover
    main()
