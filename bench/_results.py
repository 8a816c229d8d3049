"""Write a benchmark's Markdown output to ``bench/results/NAME.md`` as well as to the terminal.

Every file starts with one line stating the command that wrote it; the documentation's
results page is built from every file in ``bench/results/`` at build time.

    with record("analog_beta_sweep") as path:
        print("| table | ... |")      # goes to the terminal and to the file
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = RESULTS_DIR.parents[1]


class _Tee(io.TextIOBase):
    """A text stream that writes to the terminal and keeps a copy."""

    def __init__(self, terminal: io.TextIOBase) -> None:
        self.terminal = terminal
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.terminal.write(text)
        self.copy.write(text)
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as a user would type it from the repository root.

    ``OMP_NUM_THREADS`` is prefixed when set, because it changes float rounding and speed.
    """
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(REPO_ROOT)
    words = ["python", str(script), *argv[1:]]
    env = os.environ.get("OMP_NUM_THREADS")
    prefix = f"OMP_NUM_THREADS={env} " if env else ""
    return prefix + " ".join(shlex.quote(w) for w in words)


def default_name(stem: str, argv: Sequence[str] | None = None, skip: Sequence[str] = ()) -> str:
    """A file name from the script's stem and its arguments, e.g. ``mnist_rate_ep-seeds-3``.

    Options named in ``skip`` (with their values) are left out, e.g. data paths.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skipping = False
    for arg in args:
        if arg.startswith("--"):
            skipping = arg.split("=")[0] in skip
        if not skipping:
            kept.append(arg)
    slug = "-".join(a.lstrip("-") for a in kept)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "", slug)
    return f"{stem}-{slug}" if slug else stem


@contextlib.contextmanager
def record(name: str, results_dir: Path | None = None) -> Iterator[Path]:
    """Copy everything printed inside the block to ``results_dir/NAME.md``.

    The file's first line states the command; the last line the wall time of the block.
    It is written only when the block finishes without an exception.
    """
    path = (results_dir or RESULTS_DIR) / f"{name}.md"
    tee = _Tee(sys.stdout)
    start = time.perf_counter()
    with contextlib.redirect_stdout(tee):
        yield path
    wall = time.perf_counter() - start
    body = tee.copy.getvalue().strip("\n")
    write_atomic(
        path,
        f"Command: `{command_line()}`\n\n{body}\n\n"
        f"(wall time {wall:.0f} s; written {time.strftime('%Y-%m-%d', time.gmtime())})\n",
    )
    print(f"(written to {path})")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it (made with its folder), so
    that an interrupted benchmark never leaves half a results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
