"""The documentation: README limits, no history in user docs, the generated pages."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A commit-hash-like token: 7-40 hex characters with at least one digit and one letter.
HASH = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def _user_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("path", _user_docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_session_history_or_commit_hashes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\bsession\b", text, re.I), f"{path.name} mentions a session"
    assert not HASH.findall(text), f"{path.name} holds commit hashes {HASH.findall(text)}"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    local = [link for link in links if "://" not in link]
    assert local, "README links to no documentation page"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_hash_pattern_finds_hashes_only() -> None:
    assert HASH.findall("fixed in 65a19e2 and 4c76421") == ["65a19e2", "4c76421"]
    assert not HASH.findall("1000000 decade effaced 0.875")


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    install = next(line for line in ci if "pip install" in line and not line.startswith("#"))
    pytest_line = next(line for line in ci if line.startswith("pytest"))
    extras = re.search(r"\.\[([a-z0-9,]+)\]", install).group(1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"pip install '.[{extras}]' && {pytest_line}" in readme
    assert "mkdocs build --strict" in "\n".join(ci)


def _hooks():
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("hooks", ROOT / "docs/_hooks/generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_has_every_bench_file(tmp_path: Path, monkeypatch) -> None:
    hooks = _hooks()
    (tmp_path / "b_second.md").write_text("Command: `python bench/b.py`\n\n# B\n\n| x |\n")
    (tmp_path / "a_first.md").write_text("Command: `python bench/a.py`\n\n### A\n#### a\n")
    monkeypatch.setattr(hooks, "RESULTS", tmp_path)
    page = hooks.results_markdown()
    assert page.index("## `a_first.md`") < page.index("## `b_second.md`")
    assert "Command: `python bench/a.py`" in page
    # headings sit below each file's level-2 heading
    assert "\n### A\n#### a" in page and "\n### B" in page
    (tmp_path / "a_first.md").unlink()
    (tmp_path / "b_second.md").unlink()
    assert "No benchmark output" in hooks.results_markdown()


def test_reference_pages_cover_every_subpackage() -> None:
    hooks = _hooks()
    pages = hooks.reference_pages()
    package = ROOT / "dendritic_snn"
    subpackages = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert {f"reference/{name}.md" for name in subpackages} <= set(pages)
    text = pages["reference/hardware.md"][1]
    assert "::: dendritic_snn.hardware.dpi" in text


def test_bench_result_names_and_command(monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("results", ROOT / "bench/_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--seeds", "3", "--test-data-dir", "/data/mnist", "--set", "nudge=symmetric"]
    name = module.default_name("mnist_rate_ep", argv, skip=("--test-data-dir",))
    assert name == "mnist_rate_ep-seeds-3-set-nudgesymmetric"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    line = module.command_line([str(ROOT / "bench/mnist_rate_ep.py"), "--seeds", "3"])
    assert shlex.split(line) == ["OMP_NUM_THREADS=1", "python", "bench/mnist_rate_ep.py",
                                 "--seeds", "3"]  # fmt: skip
