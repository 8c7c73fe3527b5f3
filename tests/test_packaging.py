"""The packaging metadata, the changelog and the README agree with what the project tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import bulk_triggers

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://github.com/bulk-triggers/bulk-triggers"


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _matrix() -> list[tuple[str, str]]:
    """Return the (Python, Django) pairs of noxfile.py's MATRIX, read without importing nox."""
    source = (ROOT / "noxfile.py").read_text()
    block = re.search(r"^MATRIX = \[(.*?)\]$", source, re.M)
    assert block is not None
    return re.findall(r'\("([\d.]+)", "([\d.]+)"\)', block.group(1))


def test_classifiers_name_every_tested_django_and_python() -> None:
    """Each Django series of the matrix and each Python from 3.10 to 3.13 has its classifier."""
    classifiers = set(_project()["classifiers"])
    for _python, django in _matrix():
        assert f"Framework :: Django :: {django}" in classifiers
    pythons = {c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)}
    assert pythons == {"3.10", "3.11", "3.12", "3.13"}
    assert any(c.startswith("Development Status :: ") for c in classifiers)


def test_django_requirement_spans_the_matrix() -> None:
    """Django is required from the matrix's oldest series to below the one after its newest."""
    series = sorted((tuple(map(int, d.split("."))) for _p, d in _matrix()))
    (oldest_major, oldest_minor), (major, minor) = series[0], series[-1]
    assert _project()["dependencies"] == [
        f"Django>={oldest_major}.{oldest_minor},<{major}.{minor + 1}"
    ]


def test_version_is_single_sourced_and_released_in_the_changelog() -> None:
    """The version comes from bulk_triggers.__version__, the newest release in CHANGELOG.md."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "bulk_triggers.__version__"
    }
    releases = re.findall(
        r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text(), re.M
    )
    assert releases and releases[0] == bulk_triggers.__version__


def test_changelog_starts_with_an_unreleased_section() -> None:
    """The first section is Unreleased, with exactly the Added, Changed and Fixed headings."""
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    assert sections[1].startswith("[Unreleased]\n")
    headings = re.findall(r"^### (.*)$", sections[1], re.M)
    assert headings == ["Added", "Changed", "Fixed"]


def test_project_urls_share_one_base() -> None:
    """Source, changelog and issues point into the repository; documentation to the site."""
    from bulk_triggers.links import DOCS_URL

    urls = _project()["urls"]
    assert {"Source", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert urls.pop("Documentation") == DOCS_URL
    assert all(url.startswith(BASE_URL) for url in urls.values())


def test_readme_links_are_absolute() -> None:
    """Every link and image of the README works on the package index: absolute or an anchor."""
    targets = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "#"))]
    assert relative == []


def test_license_is_mit_and_shipped() -> None:
    """The MIT licence file exists and is the one the metadata ships."""
    project = _project()
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "bulk_triggers developers" in text
