"""MkDocs hooks: pages generated at build time from the repository.

* ``results.md``: the Markdown of every benchmark output in ``bench/results/*.md`` (each file's
  first line states the command that wrote it) is appended to the page, so a new benchmark file
  appears without editing the docs.
* ``reference/*.md``: one API-reference page per subpackage of ``dendritic_snn`` (plus one for
  the top-level modules), each listing its modules for mkdocstrings, so new modules appear
  without editing the docs. The pages are added to the "API reference" section of the nav.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.nav import Navigation, Section
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
PACKAGE = ROOT / "dendritic_snn"
REFERENCE_SECTION = "API reference"


# --- results page --------------------------------------------------------------------------


def _result_files() -> list[Path]:
    return sorted(RESULTS.glob("*.md")) if RESULTS.is_dir() else []


def _shift_headings(text: str) -> str:
    """Move the headings so that the file's top heading sits at level 3, under its file's
    level-2 heading (relative levels are kept)."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6}) ", text, flags=re.M)]
    if not levels:
        return text
    shift = 3 - min(levels)
    return re.sub(
        r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + shift) + " ", text, flags=re.M
    )


def results_markdown() -> str:
    """The generated part of the results page: one section per file in ``bench/results``."""
    files = _result_files()
    if not files:
        return "\n*No benchmark output in `bench/results/` when this site was built.*\n"
    parts = []
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        command, body = (lines[0], lines[1:]) if lines else ("", [])
        parts.append(
            f"\n## `{path.name}`\n\n{command}\n\n" + _shift_headings("\n".join(body)).strip() + "\n"
        )
    return "\n".join(parts)


# --- API reference -------------------------------------------------------------------------


def _modules(folder: Path, dotted: str) -> list[str]:
    names = []
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            continue
        names.append(f"{dotted}.{path.stem}")
    return names


def reference_pages() -> dict[str, tuple[str, str]]:
    """``{src_uri: (title, markdown)}`` for every subpackage and the top-level modules."""
    pages = {}
    top = [m for m in _modules(PACKAGE, "dendritic_snn") if not m.endswith(".__main__")]
    body = "\n\n".join(f"::: {m}" for m in top)
    pages["reference/dendritic_snn.md"] = (
        "dendritic_snn",
        f"# `dendritic_snn`\n\nTop-level modules.\n\n::: dendritic_snn\n\n{body}\n",
    )
    for sub in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        dotted = f"dendritic_snn.{sub.name}"
        mods = _modules(sub, dotted)
        body = "\n\n".join(f"::: {m}" for m in mods)
        pages[f"reference/{sub.name}.md"] = (
            sub.name,
            f"# `{dotted}`\n\n::: {dotted}\n\n{body}\n",
        )
    return pages


# --- hooks ---------------------------------------------------------------------------------


def on_files(files: Files, config) -> Files:
    for uri, (_, text) in reference_pages().items():
        if files.get_file_from_path(uri) is None:
            # Listed by ``on_nav``, which runs after MkDocs checks the nav for omitted pages.
            files.append(
                File.generated(config, uri, content=text, inclusion=InclusionLevel.NOT_IN_NAV)
            )
    return files


def on_nav(nav: Navigation, config, files: Files) -> Navigation:
    section = next(
        (s for s in nav.items if isinstance(s, Section) and s.title == REFERENCE_SECTION), None
    )
    if section is None:
        return nav
    listed = {c.file.src_uri for c in section.children if isinstance(c, Page)}
    for uri, (title, _) in reference_pages().items():
        if uri in listed:
            continue
        page = Page(title, files.get_file_from_path(uri), config)
        page.parent = section
        section.children.append(page)
        nav.pages.append(page)
    return nav


def on_page_markdown(markdown: str, page: Page, config, files: Files) -> str:
    if page.file.src_uri == "results.md":
        return markdown + "\n" + results_markdown()
    return markdown


def on_config(config):
    # ``mkdocs serve`` rebuilds when a benchmark writes a new result.
    if RESULTS.is_dir() and str(RESULTS) not in config.watch:
        config.watch.append(str(RESULTS))
    return config
